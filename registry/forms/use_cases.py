from datetime import datetime
from typing import TYPE_CHECKING

from django import forms
from django.db.models import Q

from portal.forms import HtmlDateInput, StyledFormMixin
from portal.history.asof import end_of_day
from registry.models import (
    BusinessUnit,
    DataSource,
    Lifecycle,
    PeopleAffected,
    RiskTier,
    UseCase,
)
from registry.selectors import (
    business_units_visible_to,
    data_sources_visible_to,
    possible_owners,
    units_user_can_register_in,
)
from registry.services.use_cases import DATA_SOURCE_FIELDS, USE_CASE_FIELDS

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class UseCaseForm(StyledFormMixin, forms.ModelForm):
    people_affected = forms.MultipleChoiceField(
        choices=PeopleAffected.choices,
        widget=forms.CheckboxSelectMultiple,
        required=True,
        help_text="Everyone whose life or work the AI's output touches.",
    )

    class Meta:
        model = UseCase
        fields = [*USE_CASE_FIELDS, "data_sources"]
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 4}),
            "decision_impact": forms.RadioSelect,
            "human_oversight": forms.RadioSelect,
            "data_sources": forms.CheckboxSelectMultiple,
            "next_review_date": HtmlDateInput(),
        }
        help_texts = {
            "decision_impact": "Does a person decide, helped by the AI, or does the AI decide?",
            "data_sources": "Only the data sources of the chosen business unit can be used.",
            "next_review_date": "When the owner next confirms this entry is still true.",
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        units = units_user_can_register_in(user)
        if self.instance.pk:
            units = units | BusinessUnit.objects.filter(pk=self.instance.business_unit_id)
        self.fields["business_unit"].queryset = units.distinct()
        self.fields["owner"].queryset = possible_owners(self.fields["business_unit"].queryset)
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
        sources = data_sources_visible_to(user).filter(
            business_unit__in=self.fields["business_unit"].queryset
        )
        if self.instance.pk:
            # Links the editor cannot see stay selectable, so saving never drops them.
            sources = sources | DataSource.objects.filter(use_cases=self.instance)
        self.fields["data_sources"].queryset = sources.distinct().order_by("name")
        self.fields["data_sources"].required = False
        if not self.instance.pk and not self.initial.get("owner"):
            self.initial["owner"] = user.pk
        if len(self.fields["business_unit"].queryset) == 1 and not self.instance.pk:
            self.initial.setdefault("business_unit", self.fields["business_unit"].queryset[0].pk)

    def clean(self):
        data = super().clean()
        unit = data.get("business_unit")
        for source in data.get("data_sources") or []:
            if unit and source.business_unit_id != unit.pk:
                self.add_error(
                    "data_sources", f"{source.reference} belongs to {source.business_unit}."
                )
        return data

    def service_data(self) -> dict:
        return dict(self.cleaned_data)


class DataSourceForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = DataSource
        fields = list(DATA_SOURCE_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "classification": forms.RadioSelect,
            "allowed_destination": forms.RadioSelect,
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        units = units_user_can_register_in(user)
        if self.instance.pk:
            units = units | BusinessUnit.objects.filter(pk=self.instance.business_unit_id)
        self.fields["business_unit"].queryset = units.distinct()
        self.fields["owner"].queryset = possible_owners(self.fields["business_unit"].queryset)
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
        if not self.instance.pk:
            self.initial.setdefault("owner", user.pk)


SORTS = {
    "reference": "pk",  # references are numbered in order; UC-10000 sorts after UC-9999
    "-reference": "-pk",
    "title": "title",
    "-title": "-title",
    "unit": "business_unit__name",
    "-unit": "-business_unit__name",
    "lifecycle": "lifecycle",
    "-lifecycle": "-lifecycle",
    "tier": "risk_tier",
    "-tier": "-risk_tier",
    "review": "next_review_date",
    "-review": "-next_review_date",
    "updated": "updated_at",
    "-updated": "-updated_at",
}


class RegisterFilterForm(StyledFormMixin, forms.Form):
    """The register's filters; the list page, the CSV export and the API share them."""

    q = forms.CharField(label="Search", required=False)
    unit: "forms.ModelChoiceField[BusinessUnit]" = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All units"
    )
    lifecycle = forms.ChoiceField(
        choices=[("", "Any lifecycle"), *Lifecycle.choices], required=False
    )
    tier = forms.ChoiceField(choices=[("", "Any tier"), *RiskTier.choices], required=False)
    owner: "forms.ModelChoiceField[User]" = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any owner"
    )
    needs_reassessment = forms.ChoiceField(
        label="Re-assessment",
        choices=[("", "Any"), ("yes", "Needs re-assessment"), ("no", "Up to date")],
        required=False,
    )
    sort = forms.ChoiceField(choices=[(k, k) for k in SORTS], required=False)
    as_of = forms.DateField(
        label="As of",
        required=False,
        widget=HtmlDateInput(),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = business_units_visible_to(user)
        self.fields["owner"].queryset = possible_owners()
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username

    def as_of_moment(self) -> datetime | None:
        """The end of the as-of day, when the register is asked for as it stood then."""
        self.is_valid()
        day = self.cleaned_data.get("as_of")
        return end_of_day(day) if day else None

    def apply(self, qs, *, key: str = "pk"):
        """Filter and sort ``qs``: use cases, or their versions as of a day (``key="id"``:
        a version's own pk is its history_id, the use case's is ``id``)."""
        # A bad value in one filter (a stale link) drops that filter only, never the others.
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields}
        if data["q"]:
            q = data["q"].strip()
            qs = qs.filter(Q(title__icontains=q) | Q(purpose__icontains=q) | Q(reference__iexact=q))
        if data["unit"]:
            qs = qs.filter(business_unit=data["unit"])
        if data["lifecycle"]:
            qs = qs.filter(lifecycle=data["lifecycle"])
        if data["tier"]:
            qs = qs.filter(risk_tier=data["tier"])
        if data["owner"]:
            qs = qs.filter(owner=data["owner"])
        if data["needs_reassessment"]:
            qs = qs.filter(needs_reassessment=data["needs_reassessment"] == "yes")
        order = SORTS.get(data["sort"] or "", "pk")
        if key != "pk":
            order = {"pk": key, "-pk": f"-{key}"}.get(order, order)
        return qs.order_by(order, key)


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=1000
    )


class ImportUploadForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with a header row. Download the template to see the columns.",
    )
