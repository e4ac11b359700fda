"""The API's filters over assessments and their templates."""

import django_filters

from assessments import selectors
from assessments.models import Assessment, AssessmentTemplate, Kind, Status
from portal.params import as_id
from registry.models import BusinessUnit
from registry.selectors import business_units_visible_to

# The API says sign_off where the routing's stage is called approve.
AWAITING_STAGES = {"review": "review", "sign_off": "approve"}


def _units(request):
    if request is None:  # the schema generator builds filter sets without a request
        return BusinessUnit.objects.none()
    return business_units_visible_to(request.user)


class AssessmentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    use_case = django_filters.CharFilter(
        method="filter_use_case", help_text="A use case's id or reference (e.g. UC-0042)."
    )
    unit = django_filters.ModelChoiceFilter(
        field_name="use_case__business_unit",
        queryset=_units,
        help_text="The use case's business unit (id).",
    )
    awaiting = django_filters.ChoiceFilter(
        method="filter_awaiting",
        choices=[(v, v) for v in AWAITING_STAGES],
        help_text="review: waiting for your review; sign_off: waiting for your sign-off.",
    )
    ordering = django_filters.OrderingFilter(
        fields=[
            ("reference", "reference"),
            ("status", "status"),
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("submitted_at", "submitted"),
            ("valid_until", "valid_until"),
        ],
    )

    class Meta:
        model = Assessment
        fields: list[str] = []

    def filter_use_case(self, qs, name, value):
        pk = as_id(value)
        if pk is not None:
            return qs.filter(use_case_id=pk)
        return qs.filter(use_case__reference__iexact=value.strip())

    def filter_awaiting(self, qs, name, value):
        waiting = selectors.awaiting(self.request.user, AWAITING_STAGES[value])
        return qs.filter(pk__in=waiting.values("pk"))

    @property
    def qs(self):
        # A stable order whatever is asked, so pages never repeat or skip a row.
        qs = super().qs
        return qs.order_by(*qs.query.order_by, "-pk")


class AssessmentTemplateFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Kind.choices)
    key = django_filters.CharFilter()
    active = django_filters.BooleanFilter(help_text="true: the versions offered for new work.")

    class Meta:
        model = AssessmentTemplate
        fields: list[str] = []
