"""Django admin for administrators: people, units, and per-record grants (guardian)."""

from django.contrib import admin
from guardian.admin import GuardedModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from registry.models import (
    AIModel,
    BusinessUnit,
    DataPolicyException,
    DataSource,
    Deployment,
    GateCheck,
    ModelApproval,
    ModelCard,
    ModelVersion,
    RegisterImport,
    UseCase,
)


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


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """Browse only: these records are written by the portal's services, which check the rules
    (approval, the go-live gate, the data policy) and record who and why."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AIModel)
class AIModelAdmin(ReadOnlyHistoryAdmin):
    list_display = ["reference", "name", "provider", "hosting_pattern", "approval_status"]
    list_filter = ["approval_status", "hosting_pattern", "risk_tier"]
    search_fields = ["reference", "name", "provider"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyHistoryAdmin):
    list_display = ["model", "version", "stage", "created_at"]
    list_filter = ["stage"]
    search_fields = ["model__name", "version"]
    list_select_related = ["model"]


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyHistoryAdmin):
    list_display = ["use_case", "model_version", "environment", "traffic_share", "active"]
    list_filter = ["environment", "active"]
    list_select_related = ["use_case", "model_version__model"]


@admin.register(ModelApproval)
class ModelApprovalAdmin(ReadOnlyHistoryAdmin):
    list_display = ["use_case", "model", "approved_by", "approved_at"]
    list_select_related = ["use_case", "model", "approved_by"]


@admin.register(ModelCard)
class ModelCardAdmin(ReadOnlyHistoryAdmin):
    list_display = ["model_version", "updated_at"]
    list_select_related = ["model_version__model"]


@admin.register(DataPolicyException)
class DataPolicyExceptionAdmin(ReadOnlyHistoryAdmin):
    list_display = ["use_case", "data_source", "model", "approved_by", "expires_on"]
    list_select_related = ["use_case", "data_source", "model", "approved_by"]


@admin.register(GateCheck)
class GateCheckAdmin(admin.ModelAdmin):
    list_display = ["use_case", "source", "passed", "asked_by", "asked_at"]
    list_filter = ["source", "passed"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the gate's log is evidence
