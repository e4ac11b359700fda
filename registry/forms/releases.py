"""Forms of releases: promote a version, answer a promotion request, make a model token, edit
a tier's release policy."""

from django import forms

from portal.forms import StyledFormMixin
from portal.limits import LONG_TEXT, SHORT_TEXT
from registry import release_policy
from registry.models import ApproverRole, ModelVersion, ReleasePolicy, ReleaseStage, Severity


class PromoteForm(StyledFormMixin, forms.Form):
    to_stage = forms.ChoiceField(label="Move to")
    reason = forms.CharField(
        max_length=SHORT_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why it moves; kept on the record with your name.",
    )
    evidence = forms.CharField(
        required=False,
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Links to the test runs, reports and dashboards it rests on.",
    )
    traffic_share = forms.IntegerField(
        label="Canary traffic share (%)",
        required=False,
        min_value=0,
        max_value=100,
        help_text="Into canary only: at most the tier's cap.",
    )

    def __init__(self, *args, version: ModelVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_stage"].choices = [  # type: ignore[attr-defined]
            (s, ReleaseStage(s).label) for s in release_policy.next_stages(version.stage)
        ]


class DecisionForm(StyledFormMixin, forms.Form):
    note = forms.CharField(
        required=False,
        max_length=SHORT_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject.",
    )


class ModelTokenForm(StyledFormMixin, forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. the training pipeline that holds it.")


class ReleasePolicyForm(StyledFormMixin, forms.ModelForm):
    """A tier's release policy, as an admin edits it (the service checks and records it)."""

    approvers = forms.MultipleChoiceField(
        choices=ApproverRole.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each a different person, never the one who asks. None: a promotion needs no "
        "approval.",
    )
    protected_groups = forms.CharField(
        required=False,
        max_length=SHORT_TEXT,
        help_text="Comma-separated attributes fairness is evaluated on, e.g. sex, age.",
    )

    class Meta:
        model = ReleasePolicy
        fields = [
            "approvers",
            "min_shadow_hours",
            "min_canary_hours",
            "canary_max_traffic",
            "require_evaluation",
            "require_fairness",
            "protected_groups",
            "blocking_severity",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["protected_groups"] = ", ".join(self.instance.protected_groups or [])
        self.fields["blocking_severity"].choices = [("", "None blocks a release")] + [
            (value, label) for value, label in Severity.choices
        ]

    def clean_protected_groups(self) -> list[str]:
        text = self.cleaned_data.get("protected_groups") or ""
        return [g.strip() for g in text.split(",") if g.strip()]

    def service_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
