"""Django admin: routing rules are edited here; assessments and sign-offs are only read.

Assessments change through the portal's services (which check the workflow, keep the
revision and write history); the admin shows them for administrators and grants access.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from assessments.models import Assessment, AssessmentTemplate, RoutingRule, SignOff


@admin.register(RoutingRule)
class RoutingRuleAdmin(SimpleHistoryAdmin):
    list_display = ["name", "stage", "role", "group", "kinds", "tiers", "levels", "active", "order"]
    list_filter = ["stage", "active", "role"]
    list_editable = ["active", "order"]
    search_fields = ["name", "reason"]


class ReadOnlyAdmin(SimpleHistoryAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AssessmentTemplate)
class AssessmentTemplateAdmin(ReadOnlyAdmin):
    list_display = ["title", "key", "version", "kind", "active", "builtin"]
    list_filter = ["kind", "active", "builtin"]


@admin.register(Assessment)
class AssessmentAdmin(ReadOnlyAdmin):
    list_display = ["reference", "use_case", "kind", "version", "status", "valid_until"]
    list_filter = ["kind", "status"]
    search_fields = ["reference", "use_case__reference", "use_case__title"]


@admin.register(SignOff)
class SignOffAdmin(admin.ModelAdmin):
    list_display = ["assessment", "signed_by", "signed_at", "sha256"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
