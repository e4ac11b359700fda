from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest

from portal import throttle
from portal.limits import SHORT_TEXT
from portal.models import EmailChoice


class HtmlDateInput(forms.DateInput):
    """A browser date picker. It takes only ISO dates (2026-11-01): a value written in the
    locale's format (01/11/2026) shows as an empty field, and the form then says the date is
    required. Every date field uses this one."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def apply_validation_error(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form, next to the fields it names."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            if field == NON_FIELD_ERRORS:
                target = None
            for error in errors:
                form.add_error(target, error)
    else:
        form.add_error(None, exc)


def error_messages(request, exc: ValidationError) -> None:
    """Show a service's ValidationError as messages, for actions posted without a form page."""
    for text in exc.messages:
        messages.error(request, text)


class StyledFormMixin:
    """Give every widget Bootstrap's classes so templates stay plain."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            widget = field.widget
            plain_radio = type(widget) is forms.RadioSelect  # not CheckboxSelectMultiple
            if plain_radio and not isinstance(field, forms.ModelChoiceField):
                # A radio group needs no "---------" choice: nothing ticked means no answer.
                field.choices = [(k, v) for k, v in field.choices if k != ""]
            if isinstance(
                widget, forms.CheckboxSelectMultiple | forms.RadioSelect | forms.CheckboxInput
            ):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            else:
                widget.attrs.setdefault("class", "form-control")
            if field.help_text:
                widget.attrs["aria-describedby"] = f"id_{name}_helptext"

    def add_error(self, field, error):
        super().add_error(field, error)
        # Tie each error to its control: red outline, aria-invalid, and the message read out.
        # Here rather than in full_clean, so that errors a service raises after validation
        # (apply_validation_error) are tied to their control too.
        for name in self.errors:
            if name not in self.fields:
                continue
            attrs = self.fields[name].widget.attrs
            if attrs.get("aria-invalid") == "true":
                continue
            attrs["class"] = attrs.get("class", "") + " is-invalid"
            attrs["aria-invalid"] = "true"
            described = [d for d in [attrs.get("aria-describedby"), f"id_{name}_errors"] if d]
            attrs["aria-describedby"] = " ".join(described)


# Sign-in and password reset under the limits on guessing (portal/throttle.py) --------------
class ThrottledSignInMixin:
    """Refuse sign-in for a user name with too many recent failures, even with the right
    password; count each failure and clear the count on success."""

    request: HttpRequest | None
    cleaned_data: dict
    # The refusal, for the sign-in page, which otherwise says only that the two didn't match.
    throttled = ""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        try:
            # Counted before the password is tried: parallel guesses each take a count.
            attempt = throttle.SIGN_IN.attempt(username)
        except throttle.TooManyAttempts as exc:
            self.throttled = str(exc)
            raise ValidationError(self.throttled, code="throttled") from None
        try:
            cleaned = super().clean()
        except ValidationError:
            throttle.SIGN_IN.failed(username, attempt)
            raise
        throttle.SIGN_IN.clear(username)
        return cleaned


class SignInForm(ThrottledSignInMixin, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignInMixin, AdminAuthenticationForm):
    pass


class ThrottledPasswordResetForm(PasswordResetForm):
    """At most PASSWORD_RESET_MAX_REQUESTS emails per address in the window, whether or not
    the address is anyone's (so the refusal says nothing about who has an account)."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        try:
            throttle.PASSWORD_RESET.hit(email)
        except throttle.TooManyAttempts as exc:
            raise ValidationError(str(exc), code="throttled") from None
        return email

    def send_mail(self, subject_template_name, email_template_name, context, *args, **kwargs):
        # The link goes to SITE_URL, where people reach the portal, not to whatever host
        # the request came in on; the portal is named as SITE_NAME.
        context = {
            **context,
            "site_url": settings.SITE_URL.rstrip("/"),
            "site_name": settings.SITE_NAME,
        }
        super().send_mail(subject_template_name, email_template_name, context, *args, **kwargs)


class SignForm(StyledFormMixin, forms.Form):
    """A signature: the signer's password again, and an optional note kept with it
    (assessments, Statements of Applicability, board packs)."""

    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Signing is recorded under your name; enter your password to confirm it is you.",
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=SHORT_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Conditions or remarks, recorded with the signature.",
    )


class NotificationPreferenceForm(StyledFormMixin, forms.Form):
    """How a person is emailed about their notifications (portal/notify.py)."""

    email = forms.ChoiceField(
        label="Email me about my notifications",
        choices=EmailChoice.choices,
        widget=forms.RadioSelect,
        help_text="Every notification is listed in Steward whatever you choose.",
    )
