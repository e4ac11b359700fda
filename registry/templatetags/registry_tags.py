from django import template
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context, label: str, key: str):
    """A column header that sorts the register, announcing the current order."""
    current = context.get("current_sort") or "reference"
    base = context.get("sort_query") or ""
    if current == key:
        target, aria, arrow = f"-{key}", "ascending", " ▲"
    elif current == f"-{key}":
        target, aria, arrow = key, "descending", " ▼"
    else:
        target, aria, arrow = key, None, ""
    href = f"?{base}&sort={target}" if base else f"?sort={target}"
    if aria:
        return format_html(
            '<th scope="col" aria-sort="{}"><a href="{}">{}'
            '<span aria-hidden="true">{}</span></a></th>',
            aria,
            href,
            label,
            arrow,
        )
    return format_html('<th scope="col"><a href="{}">{}</a></th>', href, label)


@register.filter
def iso_moment(value):
    """An ISO 8601 date or time kept in JSON (a gate check's evidence) as a date or datetime,
    so the ``date`` filter can show it; anything else is returned unchanged."""
    if not isinstance(value, str):
        return value
    moment = parse_datetime(value)
    if moment is not None:
        return timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return parse_date(value) or value


@register.filter
def approvers(roles) -> str:
    """Approver roles in words: "a risk officer and the use-case owner"."""
    from registry.models import ApproverRole  # noqa: PLC0415  (templatetags load before apps)

    labels = [ApproverRole(r).label if r in ApproverRole.values else str(r) for r in roles or []]
    # The labels are capitalised to stand alone (in a form's choices); not inside a sentence.
    labels = [label[0].lower() + label[1:] for label in labels]
    if not labels:
        return "no one"
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
