"""Forms of the model registry pages: they parse input; the services decide and write."""

from django import forms
from django.db.models import Q

from portal.forms import HtmlDateInput, StyledFormMixin
from portal.limits import LONG_TEXT
from registry.models import (
    MODEL_CARD_SECTIONS,
    AIModel,
    ApprovalStatus,
    BusinessUnit,
    Environment,
    HostingPattern,
    ModelVersion,
    ReleaseStage,
)
from registry.release_policy import STAGE_EDIT_REFUSED
from registry.selectors import possible_owners, units_user_can_register_in
from registry.services.ai_models import MODEL_FIELDS, VERSION_FIELDS


def _person(user) -> str:
    return user.get_full_name() or user.username


class AIModelForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = AIModel
        fields = list(MODEL_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "hosting_pattern": forms.RadioSelect,
        }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        units = units_user_can_register_in(user)
        if self.instance.pk:
            units = units | BusinessUnit.objects.filter(pk=self.instance.business_unit_id)
        self.fields["business_unit"].queryset = units.distinct()
        self.fields["owner"].queryset = possible_owners(self.fields["business_unit"].queryset)
        self.fields["owner"].label_from_instance = _person
        # Left empty, it follows from the hosting pattern (the service fills it in).
        self.fields["data_destination"].required = False
        if not self.instance.pk:
            self.initial.setdefault("owner", user.pk)
            units = self.fields["business_unit"].queryset
            if len(units) == 1:
                self.initial.setdefault("business_unit", units[0].pk)

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("data_destination") and self.instance.pk:
            data.pop("data_destination", None)
        return data


class ModelFilterForm(StyledFormMixin, forms.Form):
    """The model list's filters; the list page and its CSV export share them."""

    q = forms.CharField(label="Name or provider", required=False)
    status = forms.ChoiceField(
        label="Approval", choices=[("", "Any approval"), *ApprovalStatus.choices], required=False
    )
    hosting = forms.ChoiceField(
        label="Hosting", choices=[("", "Any hosting"), *HostingPattern.choices], required=False
    )

    def apply(self, qs):
        # A bad value in one filter (a stale link) drops that filter only.
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields}
        if data["q"]:
            q = data["q"].strip()
            qs = qs.filter(
                Q(name__icontains=q)
                | Q(provider__icontains=q)
                | Q(vendor__icontains=q)
                | Q(reference__iexact=q)
            )
        if data["status"]:
            qs = qs.filter(approval_status=data["status"])
        if data["hosting"]:
            qs = qs.filter(hosting_pattern=data["hosting"])
        return qs


class ModelApprovalDecisionForm(StyledFormMixin, forms.Form):
    status = forms.ChoiceField(
        label="Decision",
        choices=[
            (ApprovalStatus.APPROVED, "Approve for use in the firm"),
            (ApprovalStatus.UNDER_EVALUATION, "Send back to evaluation"),
            (ApprovalStatus.BANNED, "Ban"),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Why",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Kept with the decision. Banning flags every use case it serves.",
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


class ModelVersionForm(StyledFormMixin, forms.ModelForm):
    training_data = forms.CharField(
        label="Training-data references",
        required=False,
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One dataset or URI a line.",
    )
    evaluation = forms.CharField(
        label="Evaluation results",
        required=False,
        max_length=LONG_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One metric a line, as name: value (e.g. auc: 0.91).",
    )

    stage = forms.ChoiceField(
        choices=ReleaseStage.choices,
        required=False,
        disabled=True,
        help_text="Moved only with Promote on the version's page, which records who, why and "
        "the evidence and asks for the tier's approvals.",
    )

    class Meta:
        model = ModelVersion
        fields = list(VERSION_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].initial = self.instance.stage or ReleaseStage.CANDIDATE
        if self.instance.pk and not self.is_bound:
            self.initial["training_data"] = "\n".join(self.instance.training_data or [])
            self.initial["evaluation"] = "\n".join(
                f"{k}: {v}" for k, v in (self.instance.evaluation or {}).items()
            )

    def clean_stage(self) -> str:
        # The field is shown, not edited: a stage posted anyway is refused with where to go.
        current = self.instance.stage or ReleaseStage.CANDIDATE
        sent = self.data.get(self.add_prefix("stage"))
        if sent and sent != current:
            raise forms.ValidationError(
                STAGE_EDIT_REFUSED.replace("{id}", str(self.instance.pk or "{id}"))
            )
        return current

    def clean_training_data(self) -> list[str]:
        return _lines(self.cleaned_data.get("training_data", ""))

    def clean_evaluation(self) -> dict:
        results: dict[str, float | str] = {}
        for line in _lines(self.cleaned_data.get("evaluation", "")):
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise forms.ValidationError(f"{line!r} is not name: value.")
            value = value.strip()
            try:
                results[name.strip()] = float(value)
            except ValueError:
                results[name.strip()] = value
        return results

    def _post_clean(self):
        # The services validate and save; the form only parses (so the instance stays as read).
        pass

    def service_data(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "stage"}


class _CardSections(forms.Form):
    """The card's fields, made per form: a base of ModelCardForm so that StyledFormMixin,
    which styles the fields there are when the form's __init__ returns, sees them (added
    after it, they were drawn as bare, unstyled text areas)."""

    def __init__(self, *args, card=None, **kwargs):
        super().__init__(*args, **kwargs)
        sections = card.sections if card is not None else {}
        for key, title, help_text in MODEL_CARD_SECTIONS:
            self.fields[key] = forms.CharField(
                label=title,
                help_text=help_text,
                required=False,
                max_length=20000,
                widget=forms.Textarea(attrs={"rows": 4}),
            )
            if not self.is_bound:
                self.initial[key] = sections.get(key, "")


class ModelCardForm(StyledFormMixin, _CardSections):
    """The ten sections of the card, each with what to write in it."""


# On the use case page -------------------------------------------------------------------------
class UseCaseModelApprovalForm(StyledFormMixin, forms.Form):
    model = forms.ModelChoiceField(
        queryset=AIModel.objects.none(),
        label="Model",
        help_text="Only models approved for use in the firm can be approved for a use case.",
    )
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, use_case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = (
            AIModel.objects.filter(approval_status=ApprovalStatus.APPROVED)
            .exclude(use_case_approvals__use_case=use_case)
            .order_by("name", "pk")
        )


def deployable_versions(use_case):
    """Versions of the models approved for the use case and not banned since."""
    return (
        ModelVersion.objects.filter(model__use_case_approvals__use_case=use_case)
        .exclude(model__approval_status=ApprovalStatus.BANNED)
        .exclude(stage=ReleaseStage.RETIRED)
        .select_related("model")
        .order_by("model__name", "-created_at", "-pk")
    )


class DeploymentForm(StyledFormMixin, forms.Form):
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(),
        label="Model version",
        help_text="Versions of the models approved for this use case.",
    )
    environment = forms.ChoiceField(choices=Environment.choices)
    traffic_share = forms.IntegerField(
        label="Traffic share (%)", min_value=0, max_value=100, initial=100
    )

    def __init__(self, *args, use_case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model_version"].queryset = deployable_versions(use_case)


class DeploymentChangeForm(StyledFormMixin, forms.Form):
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.none(), label="Model version"
    )
    traffic_share = forms.IntegerField(label="Traffic share (%)", min_value=0, max_value=100)
    reason = forms.CharField(
        label="Why", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, deployment, **kwargs):
        super().__init__(*args, **kwargs)
        versions = deployable_versions(deployment.use_case) | ModelVersion.objects.filter(
            pk=deployment.model_version_id
        )
        self.fields["model_version"].queryset = versions.distinct()
        if not self.is_bound:
            self.initial.update(
                model_version=deployment.model_version_id,
                traffic_share=deployment.traffic_share,
            )


class PolicyExceptionForm(StyledFormMixin, forms.Form):
    breach = forms.ChoiceField(label="Data source and model")
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Why this data may go to this model, and what protects it.",
    )
    expires_on = forms.DateField(label="Expires on", widget=HtmlDateInput())

    def __init__(self, *args, breaches, **kwargs):
        super().__init__(*args, **kwargs)
        self.breaches = {f"{b.data_source.pk}-{b.model.pk}": b for b in breaches}
        self.fields["breach"].choices = [
            (
                key,
                f"{b.data_source.reference} {b.data_source.name} → {b.model.name}"
                + (" (excused)" if b.excused else ""),
            )
            for key, b in self.breaches.items()
        ]

    def chosen(self):
        return self.breaches[self.cleaned_data["breach"]]
