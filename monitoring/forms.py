"""Forms of the monitoring pages. They parse input; the services decide and write."""

import json

from django import forms

from monitoring.models import FlagStatus, MaterialChangeRule, MetricSource, Rule, Severity
from monitoring.services.material_changes import BUILTIN_EDITABLE_FIELDS as BUILTIN_MATERIAL_FIELDS
from monitoring.services.material_changes import EDITABLE_FIELDS as MATERIAL_EDITABLE_FIELDS
from monitoring.services.metric_rules import EDITABLE_FIELDS
from portal.forms import StyledFormMixin
from portal.limits import LONG_TEXT, SHORT_TEXT
from registry.models import UseCase
from registry.selectors import use_cases_visible_to

KEEP_HELP = "Leave blank to keep what is stored. It is never shown again."


class SourceForm(StyledFormMixin, forms.ModelForm):
    """A metric source. Credentials are write-only: the inputs are always empty, blank keeps
    what is stored, "clear" removes it, and anything typed replaces it."""

    # Not URLField: its validator refuses cluster names such as http://prometheus:9090;
    # the service checks the URL and says what is wrong with it.
    url = forms.CharField(
        label="URL",
        required=False,
        max_length=500,
        help_text="Prometheus or MLflow base URL, or the JSON endpoint itself. None for push.",
    )
    config = forms.CharField(
        label="What to read (JSON)",
        required=False,
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text='e.g. {"queries": {"error_rate": "sum(rate(errors[5m]))"}} for Prometheus, '
        '{"metrics": {"error_rate": "stats.errors"}} for JSON paths.',
    )
    bearer_token = forms.CharField(
        label="Bearer token",
        required=False,
        max_length=SHORT_TEXT,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=KEEP_HELP,
    )
    username = forms.CharField(
        label="Basic auth user",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Stored encrypted with the password. " + KEEP_HELP,
    )
    password = forms.CharField(
        label="Basic auth password",
        required=False,
        max_length=SHORT_TEXT,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=KEEP_HELP,
    )
    clear_credentials = forms.BooleanField(label="Clear the stored credentials", required=False)

    class Meta:
        model = MetricSource
        fields = ["name", "kind", "url", "config", "interval_seconds", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A source's kind decides what its config means: a new kind is a new source.
            self.fields["kind"].disabled = True
            self.initial["config"] = json.dumps(self.instance.config or {}, indent=2)
            if self.instance.has_credentials:
                self.fields["clear_credentials"].help_text = (
                    f"Credentials set {self.instance.credentials_set_at:%d %b %Y %H:%M}."
                    if self.instance.credentials_set_at
                    else "Credentials are set."
                )
        else:
            del self.fields["clear_credentials"]
        # The username field is a credential too: never render what is stored.
        self.initial.pop("username", None)

    CREDENTIAL_FIELDS = ("bearer_token", "username", "password", "clear_credentials")

    def main_fields(self):
        return [self[name] for name in self.fields if name not in self.CREDENTIAL_FIELDS]

    def credential_fields(self):
        return [self[name] for name in self.CREDENTIAL_FIELDS if name in self.fields]

    def clean_config(self) -> dict:
        raw = (self.cleaned_data.get("config") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object ({...}).")
        return value

    def clean(self):
        data = super().clean()
        if bool(data.get("username")) != bool(data.get("password")):
            self.add_error("password", "Give both the user and the password, or neither.")
        return data

    def credentials(self) -> dict | None:
        """None keeps what is stored, {} clears it, a dict replaces it (source_update)."""
        data = self.cleaned_data
        if data.get("bearer_token"):
            return {"bearer_token": data["bearer_token"]}
        if data.get("username") and data.get("password"):
            return {"username": data["username"], "password": data["password"]}
        if data.get("clear_credentials"):
            return {}
        return None

    def service_fields(self) -> dict:
        names = ["name", "url", "config", "interval_seconds", "enabled"]
        if not self.instance.pk:
            names.append("kind")
        return {name: self.cleaned_data[name] for name in names}


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label="How it was dealt with",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        help_text="Recorded with your name on the flag's history.",
    )


class RuleForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = Rule
        fields = list(EDITABLE_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["use_case"].queryset = use_cases_visible_to(user).order_by("reference")
        self.fields[
            "metric"
        ].help_text = "e.g. error_rate, drift.psi, latency_ms, cost, budget_used_pct."

    def _post_clean(self):
        # The service validates the rule (full_clean) and decides who may write it; a
        # ModelForm's own instance validation would only run the same checks twice.
        pass

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class BudgetForm(StyledFormMixin, forms.Form):
    monthly_amount = forms.DecimalField(
        label="Monthly budget",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text="Alerts go out at 50, 75, 90 and 100% of it. Leave blank to remove it.",
    )


class FlagFilterForm(StyledFormMixin, forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *FlagStatus.choices], required=False, initial="open"
    )
    severity = forms.ChoiceField(choices=[("", "Any severity"), *Severity.choices], required=False)
    use_case: "forms.ModelChoiceField[UseCase]" = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Any use case", to_field_name="reference"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["use_case"].queryset = use_cases_visible_to(user).order_by("reference")

    def apply(self, qs):
        if not self.is_valid():
            return qs.filter(status=FlagStatus.OPEN)
        data = self.cleaned_data
        if data["status"]:
            qs = qs.filter(status=data["status"])
        if data["severity"]:
            qs = qs.filter(severity=data["severity"])
        if data["use_case"]:
            qs = qs.filter(use_case=data["use_case"])
        return qs


class MaterialRuleForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = MaterialChangeRule
        fields = list(MATERIAL_EDITABLE_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["value"].help_text = (
            "For 'becomes' only: automatic, customers, special_category, true, external_api, "
            "production..."
        )
        if self.instance.pk and self.instance.builtin:
            for name in set(self.fields) - BUILTIN_MATERIAL_FIELDS:
                self.fields[name].disabled = True

    def _post_clean(self):
        # The service validates (full_clean) and decides who may write it.
        pass

    def service_fields(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.Meta.fields
            if not self.fields[name].disabled
        }
