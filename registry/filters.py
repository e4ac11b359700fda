"""The API's filters over the register: the same parameters and meaning as the list page."""

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from registry.forms.use_cases import SORTS
from registry.models import (
    BusinessUnit,
    Classification,
    DataSource,
    Lifecycle,
    RiskTier,
    UseCase,
)
from registry.selectors import business_units_visible_to, possible_owners

YES = ("yes", "true", "1")
NO = ("no", "false", "0")


def _units(request):
    if request is None:  # the schema generator builds filter sets without a request
        return BusinessUnit.objects.none()
    return business_units_visible_to(request.user)


def _owners(request):
    return possible_owners()


@extend_schema_field(OpenApiTypes.STR)
class _YesNoFilter(django_filters.ChoiceFilter):
    """yes/no as on the page; true/false and 1/0 as API clients tend to send."""


class UseCaseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_q", help_text="Words in the title or purpose, or an exact reference."
    )
    unit = django_filters.ModelChoiceFilter(
        field_name="business_unit", queryset=_units, help_text="A business unit's id."
    )
    lifecycle = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    tier = django_filters.ChoiceFilter(field_name="risk_tier", choices=RiskTier.choices)
    owner = django_filters.ModelChoiceFilter(queryset=_owners, help_text="The owner's user id.")
    needs_reassessment = _YesNoFilter(
        method="filter_needs_reassessment",
        choices=[(v, v) for v in (*YES, *NO)],
        help_text="yes (or true): flagged for re-assessment; no (or false): up to date.",
    )
    # The page's sort keys (reference, title, unit, lifecycle, tier, review, updated; "-"
    # for descending), so a link from the page and an API call order alike.
    ordering = django_filters.OrderingFilter(
        fields=[(field, key) for key, field in SORTS.items() if not key.startswith("-")],
    )

    class Meta:
        model = UseCase
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        q = value.strip()
        if not q:
            return qs
        return qs.filter(Q(title__icontains=q) | Q(purpose__icontains=q) | Q(reference__iexact=q))

    def filter_needs_reassessment(self, qs, name, value):
        return qs.filter(needs_reassessment=value in YES)

    @property
    def qs(self):
        return self.in_order(super().qs)

    @staticmethod
    def in_order(qs):
        """A stable order whatever is asked, so pages never repeat or skip a row."""
        return qs.order_by(*(qs.query.order_by or ["reference"]), "pk")


class DataSourceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    unit = django_filters.ModelChoiceFilter(field_name="business_unit", queryset=_units)
    classification = django_filters.ChoiceFilter(choices=Classification.choices)

    class Meta:
        model = DataSource
        fields: list[str] = []
