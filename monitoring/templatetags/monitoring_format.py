"""How monitoring figures read on pages and PDFs: significant digits, money with its currency."""

from datetime import datetime

from django import template
from django.conf import settings

from monitoring import catalogue

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


@register.filter
def metric_label(metric, feature="") -> str:
    """A series in words: ``{{ "drift.psi"|metric_label:"income" }}`` → "Input drift — income
    (PSI)"; an unknown key reads as itself."""
    return catalogue.describe(str(metric or ""), str(feature or ""))


@register.filter
def metric_value(value, metric) -> str:
    """A figure with its metric's unit: ``{{ 0.012|metric_value:"error_rate" }}`` → "1.2 %"."""
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return catalogue.format_value(str(metric or ""), number)
