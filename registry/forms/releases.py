"""Forms of releases: promote a version, answer a promotion request, make a model token."""

from django import forms

from portal.forms import StyledFormMixin
from portal.limits import LONG_TEXT, SHORT_TEXT
from registry import release_policy
from registry.models import ModelVersion, ReleaseStage


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
