"""Forms of the incident pages. They parse input; the services decide and write."""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from incidents.models import (
    SEVERITY_DEFINITIONS,
    DetectedBy,
    Incident,
    Runbook,
    SeriousHarm,
    Severity,
    Status,
)
from incidents.services.runbooks import TEXT_FIELDS
from portal.forms import StyledFormMixin
from portal.limits import LONG_TEXT, plausible_moment
from registry.models import BusinessUnit, UseCase
from registry.selectors import possible_owners, use_cases_visible_to

User = get_user_model()

CONTACT_FIELDS = ("name", "role", "email", "phone")
CONTACTS_HELP = (
    "One person a line, first called first: name | role | email | phone "
    "(role, email and phone may be left empty)."
)


def contacts_to_text(contacts) -> str:
    lines = []
    for contact in contacts or []:
        if isinstance(contact, dict):
            lines.append(" | ".join(str(contact.get(k, "") or "") for k in CONTACT_FIELDS))
    return "\n".join(lines)


def text_to_contacts(text: str) -> list[dict]:
    """Parse the contacts textarea; a line with more than four parts is refused, not cut."""
    contacts = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) > len(CONTACT_FIELDS):
            raise ValidationError(
                f"Line {number} has {len(parts)} parts; write name | role | email | phone."
            )
        parts += [""] * (len(CONTACT_FIELDS) - len(parts))
        # The service checks each contact (a name, a way to reach them) and says which is wrong.
        contacts.append(dict(zip(CONTACT_FIELDS, parts, strict=True)))
    return contacts


class RunbookForm(StyledFormMixin, forms.ModelForm):
    contacts_text = forms.CharField(
        label="Contacts in escalation order",
        required=False,
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text=CONTACTS_HELP,
    )

    class Meta:
        model = Runbook
        fields = list(TEXT_FIELDS)
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in fields}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["contacts_text"] = contacts_to_text(self.instance.contacts)

    def clean_contacts_text(self) -> list[dict]:
        return text_to_contacts(self.cleaned_data.get("contacts_text", ""))

    def service_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["contacts"] = self.cleaned_data["contacts_text"]
        return data


class IncidentFilterForm(StyledFormMixin, forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Status.choices], required=False)
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    use_case: "forms.ModelChoiceField[UseCase]" = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any use case", to_field_name="reference"
    )
    open_only = forms.BooleanField(label="Open only", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["use_case"].queryset = (
            use_cases_visible_to(user).select_related(None).order_by("reference")
        )

    def filters(self) -> dict:
        """The filters for incidents.selectors.filter_incidents (none when the form is bad)."""
        if not self.is_bound or not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "status": data["status"],
            "severity": data["severity"],
            "use_case": data["use_case"],
            "open_only": data["open_only"],
        }


def _severity_choices():
    return [(value, f"{label}: {SEVERITY_DEFINITIONS[value]}") for value, label in Severity.choices]


class IncidentOpenForm(StyledFormMixin, forms.Form):
    title = forms.CharField(max_length=200)
    severity = forms.ChoiceField(choices=(), widget=forms.RadioSelect)
    detected_by = forms.ChoiceField(choices=DetectedBy.choices, initial=DetectedBy.STAFF)
    description = forms.CharField(
        required=False, max_length=LONG_TEXT, widget=forms.Textarea(attrs={"rows": 4})
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        empty_label="Me",
        help_text="Who leads the response.",
    )
    aware_at = forms.DateTimeField(
        label="Became aware at",
        required=False,
        validators=[plausible_moment],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="When the firm became aware; the regulatory clocks start here. Empty: now.",
    )

    def __init__(self, *args, use_case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["severity"].choices = _severity_choices()
        self.fields["owner"].queryset = possible_owners(
            BusinessUnit.objects.filter(pk=use_case.business_unit_id)
        )

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("aware_at"):
            data.pop("aware_at", None)
        return data


class FromFlagForm(StyledFormMixin, forms.Form):
    severity = forms.ChoiceField(
        choices=[("", "From the flag's severity"), *Severity.choices], required=False
    )


class NoteForm(StyledFormMixin, forms.Form):
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


class TransitionForm(StyledFormMixin, forms.Form):
    note = forms.CharField(required=False, max_length=2000)


class IncidentEditForm(StyledFormMixin, forms.ModelForm):
    """Severity, owner and title: a severity change is logged and told by the service."""

    class Meta:
        model = Incident
        fields = ["title", "severity", "owner"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = possible_owners(
            BusinessUnit.objects.filter(pk=self.instance.use_case.business_unit_id)
        )


def _minute_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class RegulatoryForm(StyledFormMixin, forms.ModelForm):
    """What starts the regulatory clocks (awareness, the kind of harm), and when each report
    was made. The service refuses a time in the future."""

    TIMES = ("aware_at", "regulator_reported_at", "dpa_reported_at")

    class Meta:
        model = Incident
        fields = [
            "aware_at",
            "serious_harm",
            "personal_data_breach",
            "regulator_reported_at",
            "dpa_reported_at",
        ]
        widgets = {
            "aware_at": _minute_input(),
            "regulator_reported_at": _minute_input(),
            "dpa_reported_at": _minute_input(),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["serious_harm"].choices = SeriousHarm.choices
        self.fields[
            "aware_at"
        ].help_text = "When the firm became aware: the regulatory clocks start here."

    def clean(self):
        cleaned = super().clean()
        # The input shows minutes only: a time sent back unchanged keeps its seconds, so
        # saving the form does not move a clock (nor count as a change of a closed incident).
        for name in self.TIMES:
            value, stored = cleaned.get(name), getattr(self.instance, name, None)
            if stored is not None and value == stored.replace(second=0, microsecond=0):
                cleaned[name] = stored
        return cleaned


class ReviewForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Incident
        fields = ["review_cause", "review_impact", "review_changes"]
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in fields}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A part may be left for later; closing a SEV1 or SEV2 needs all three (the service).
        for field in self.fields.values():
            field.required = False


class KillSwitchForm(StyledFormMixin, forms.Form):
    engaged = forms.TypedChoiceField(
        choices=[("1", "Switch the AI off"), ("0", "Switch the AI back on")],
        coerce=lambda v: v == "1",
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class RollbackForm(StyledFormMixin, forms.Form):
    deployment = forms.TypedChoiceField(choices=(), coerce=int)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def __init__(self, *args, deployments, **kwargs):
        super().__init__(*args, **kwargs)
        self.deployments = {d.pk: d for d in deployments}
        self.fields["deployment"].choices = [
            (
                d.pk,
                f"{d.model_version.model.name} {d.model_version.version} → "
                f"{d.previous_version.version} ({d.get_environment_display()})",
            )
            for d in deployments
        ]

    def clean_deployment(self):
        return self.deployments[self.cleaned_data["deployment"]]


class TokenForm(StyledFormMixin, forms.Form):
    name = forms.CharField(
        max_length=120, help_text="The deployed system that will poll, e.g. 'chatbot-prod eu-west'."
    )


class WebhookForm(StyledFormMixin, forms.Form):
    name = forms.CharField(max_length=120)
    url = forms.CharField(label="URL", max_length=500, help_text="Where events are POSTed.")
    business_unit = forms.ModelChoiceField(
        queryset=BusinessUnit.objects.order_by("name"),
        required=False,
        empty_label="Every unit",
        help_text="Only this unit's events.",
    )
