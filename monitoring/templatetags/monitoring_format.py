"""How monitoring figures read on pages and PDFs: significant digits, money with its currency."""

from datetime import datetime

from django import template
from django.conf import settings

register = template.Library()


@register.filter
def sig(value, digits: int = 4) -> str:
    """0.09071934 → '0.09072'; 3.9e-203 → '3.943e-203'; 525600.0 → '525600'."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{number:.{int(digits)}g}"


@register.filter
def money(value) -> str:
    """An amount in the firm's currency: 'GBP 1,234.50'."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{settings.COST_CURRENCY} {number:,.2f}"


@register.filter
def instant(value):
    """An ISO 8601 time kept in a flag's evidence, as a datetime the date filter can show."""
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return value
