from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from portal.forms import HtmlDateInput, StyledFormMixin
from portal.history.asof import parse_moment
from portal.history.changes import person_label
from portal.history.selectors import AuditFilters
from portal.history.tracked import HISTORY_REGISTRY


class VersionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        when = timezone.localtime(obj.history_date).strftime("%d %b %Y %H:%M")
        who = person_label(obj.history_user)
        return f"#{obj.history_id} · {when} · {who} · {obj.get_history_type_display()}"


class CompareForm(StyledFormMixin, forms.Form):
    """Two versions of one record (GET ?a=<history_id>&b=<history_id>)."""

    a = VersionChoiceField(queryset=None, label="From version", empty_label=None)
    b = VersionChoiceField(queryset=None, label="To version", empty_label=None)

    def __init__(self, *args, versions: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("a", "b"):
            field = self.fields[name]
            assert isinstance(field, VersionChoiceField)
            field.queryset = versions
            field.error_messages["invalid_choice"] = "Choose a version of this record."

    def clean(self):
        data = super().clean()
        if data.get("a") and data.get("b") and data["a"].pk == data["b"].pk:
            raise forms.ValidationError("Choose two different versions to compare.")
        return data


class MomentField(forms.CharField):
    """A moment in time typed as an ISO date (the end of that day) or date and time."""

    default_error_messages = {
        "invalid": "Enter a date (2024-03-31) or a date and time (2024-03-31T14:30).",
    }

    def to_python(self, value):
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return parse_moment(text)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class AsOfForm(StyledFormMixin, forms.Form):
    """The moment to show a record at (GET ?at=...)."""

    at = MomentField(
        label="As of",
        help_text="A date (the end of that day) or a date and time, in the portal's time zone "
        "unless an offset is given: 2024-03-31 or 2024-03-31T14:30.",
        widget=forms.TextInput(attrs={"placeholder": "2024-03-31T14:30"}),
    )


class AuditFilterForm(StyledFormMixin, forms.Form):
    model = forms.ChoiceField(label="Record type", required=False)
    user = forms.ModelChoiceField(
        label="Changed by",
        queryset=get_user_model().objects.order_by("first_name", "last_name", "username"),
        required=False,
        empty_label="Anyone",
    )
    date_from = forms.DateField(label="From", required=False, widget=HtmlDateInput())
    date_to = forms.DateField(label="To", required=False, widget=HtmlDateInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "All records")] + [
            (key, entry.label_plural) for key, entry in HISTORY_REGISTRY.items()
        ]
        self.fields["user"].label_from_instance = person_label

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> AuditFilters:
        """The filters that validated; an invalid one is shown as an error and ignored."""
        if not self.is_bound:
            return AuditFilters()
        self.is_valid()
        data = self.cleaned_data
        user = data.get("user")
        return AuditFilters(
            models=(data["model"],) if data.get("model") else (),
            user_id=user.pk if user else None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
