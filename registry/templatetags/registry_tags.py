from django import template
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
