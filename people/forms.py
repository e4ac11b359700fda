from django import forms
from django.contrib.auth.forms import SetPasswordForm

from people.selectors import PersonStatus, assignable_groups, group_label
from portal.forms import StyledFormMixin
from registry.models import BusinessUnit


class GroupChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return group_label(obj)


def _roles_field() -> GroupChoiceField:
    return GroupChoiceField(
        queryset=assignable_groups(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Roles and reviewer groups",
        help_text="What they may do. Roles are described in the permissions guide.",
    )


def _units_field() -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=BusinessUnit.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Business units",
        help_text="They see the records of these units. An auditor needs none.",
    )


class InviteForm(StyledFormMixin, forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    username = forms.CharField(
        max_length=150,
        required=False,
        label="User name",
        help_text="What they sign in with. Left empty, it is their email address.",
    )
    roles = _roles_field()
    units = _units_field()
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Why",
        help_text="Kept in the history, e.g. “Joins the risk team”.",
    )


class PersonForm(StyledFormMixin, forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(label="Email address", max_length=254)
    roles = _roles_field()
    units = _units_field()
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Why",
        help_text="Needed when anything changes; kept in the history with your name.",
    )


class ReasonForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(max_length=500, label="Why", widget=forms.Textarea(attrs={"rows": 2}))


class PeopleFilterForm(StyledFormMixin, forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100)
    status = forms.ChoiceField(
        required=False, choices=[("", "Everyone"), *PersonStatus.CHOICES], label="Status"
    )


class BusinessUnitForm(StyledFormMixin, forms.ModelForm):
    class Meta:
        model = BusinessUnit
        fields = ["name", "code", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class JoinForm(StyledFormMixin, SetPasswordForm):
    """Django's set-password form: two entries, checked by AUTH_PASSWORD_VALIDATORS."""
