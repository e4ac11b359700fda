"""Forms for controls, evidence, exceptions and framework files; the services check the rules."""

from django import forms
from django.contrib.auth import get_user_model

from compliance.models import Control, Evidence, Obligation
from portal.forms import HtmlDateInput, StyledFormMixin
from portal.limits import SHORT_TEXT
from registry.models import UseCase

User = get_user_model()


class ObligationChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Obligation) -> str:
        return f"{obj.framework.key} · {obj.ref} {obj.title}"[:200]


class ControlForm(StyledFormMixin, forms.ModelForm):
    obligations = ObligationChoice(
        queryset=Obligation.objects.filter(framework__active=True).select_related("framework"),
        required=False,
        help_text="What it meets; through the crosswalk it also meets the items linked to these.",
        widget=forms.SelectMultiple(attrs={"size": 12}),
    )
    use_cases = forms.ModelMultipleChoiceField(
        queryset=UseCase.objects.all(),
        required=False,
        help_text="Leave empty for a firm-wide control that covers every use case.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    class Meta:
        model = Control
        fields = ["title", "kind", "description", "owner", "frequency", "active"]

    def __init__(self, *args, use_cases=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(is_active=True).order_by("username")
        if use_cases is not None:
            self.fields["use_cases"].queryset = use_cases
        if self.instance.pk:
            self.fields["obligations"].initial = list(self.instance.obligations.all())
            self.fields["use_cases"].initial = list(self.instance.use_cases.all())


class EvidenceForm(StyledFormMixin, forms.ModelForm):
    upload = forms.FileField(required=False, label="File")
    url = forms.URLField(
        label="Link",
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="A link instead of (or as well as) a file.",
    )
    controls = forms.ModelMultipleChoiceField(
        queryset=Control.objects.filter(active=True),
        required=False,
        help_text="The controls it shows running; it counts for all their obligations.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    obligations = ObligationChoice(
        queryset=Obligation.objects.filter(framework__active=True).select_related("framework"),
        required=False,
        help_text="Obligations it meets directly (without a control).",
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    use_cases = forms.ModelMultipleChoiceField(
        queryset=UseCase.objects.all(),
        required=False,
        help_text="Leave empty when it holds for every use case its controls cover.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    class Meta:
        model = Evidence
        fields = ["title", "description", "url", "effective_on", "expires_on", "attested_by"]
        widgets = {
            "effective_on": HtmlDateInput(),
            "expires_on": HtmlDateInput(),
        }
        help_texts = {
            "effective_on": "When it took effect (a training held, a policy approved).",
            "url": "A link instead of (or as well as) a file.",
        }

    def __init__(self, *args, use_cases=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attested_by"].queryset = User.objects.filter(is_active=True).order_by(
            "username"
        )
        self.fields["attested_by"].required = False
        if use_cases is not None:
            self.fields["use_cases"].queryset = use_cases


class ExceptionForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=SHORT_TEXT)
    expires_on = forms.DateField(widget=HtmlDateInput())


class FrameworkImportForm(StyledFormMixin, forms.Form):
    file = forms.FileField(help_text="A framework or crosswalk file (JSON), as exported.")
