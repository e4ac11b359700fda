"""Django admin for administrators: people, units, and per-record grants (guardian)."""

from django.contrib import admin
from guardian.admin import GuardedModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from registry.models import BusinessUnit, DataSource, RegisterImport, UseCase


class GuardedHistoryAdmin(GuardedModelAdmin, SimpleHistoryAdmin):
    """Object permissions ("grant this person access to this record") and history."""


@admin.register(BusinessUnit)
class BusinessUnitAdmin(GuardedHistoryAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]
    filter_horizontal = ["members"]


@admin.register(UseCase)
class UseCaseAdmin(GuardedHistoryAdmin):
    list_display = ["reference", "title", "business_unit", "owner", "lifecycle", "risk_tier"]
    list_filter = ["business_unit", "lifecycle", "risk_tier", "needs_reassessment"]
    search_fields = ["reference", "title"]
    readonly_fields = [
        "reference",
        "lifecycle",
        "risk_tier",
        "needs_reassessment",
        "reassessment_reasons",
        "kill_switch_engaged",
    ]

    def has_add_permission(self, request):
        return False  # registered in the portal, which numbers and checks them

    def has_delete_permission(self, request, obj=None):
        return False  # use cases are retired, never deleted: their history must stay whole


@admin.register(DataSource)
class DataSourceAdmin(GuardedHistoryAdmin):
    list_display = ["reference", "name", "business_unit", "classification", "personal_data"]
    list_filter = ["classification", "personal_data", "business_unit"]
    search_fields = ["reference", "name"]
    readonly_fields = ["reference"]

    def has_add_permission(self, request):
        return False  # registered in the portal, which numbers and checks them

    def has_delete_permission(self, request, obj=None):
        return False  # use cases link to it and its history must stay whole


@admin.register(RegisterImport)
class RegisterImportAdmin(admin.ModelAdmin):
    list_display = ["filename", "created_by", "created_at", "status", "row_count", "error_count"]
    readonly_fields = [f.name for f in RegisterImport._meta.fields]
