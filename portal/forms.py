from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


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
