"""Writing monitoring rules: who may, what a rule may hold, and what the shipped rules allow.

The decision of who may lives in monitoring/rules.py: ``monitoring.add_rule`` (admins and
risk officers) and ``monitoring.change_rule`` (admins; risk officers for the use cases of
their units). A rule scoped to a use case is checked against that use case's unit both as it
was and as it will be, so nobody moves a rule into a unit they are not in.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from monitoring.models import Rule
from portal.access import require
from portal.records import delete_with_history, save_with_history

# What a person sets on a rule; the rest (builtin, created_by, timestamps) is the portal's.
EDITABLE_FIELDS = (
    "name",
    "description",
    "metric",
    "feature",
    "aggregation",
    "window_minutes",
    "comparison",
    "threshold",
    "min_samples",
    "severity",
    "action",
    "subject",
    "use_case",
    "enabled",
)
# A shipped rule keeps its meaning (its metric, aggregation, window...); a firm tunes how
# sensitive it is and whether it runs.
BUILTIN_EDITABLE_FIELDS = frozenset({"threshold", "enabled"})


def _check_fields(fields: dict) -> None:
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise TypeError(f"Not fields a person sets on a rule: {', '.join(unknown)}")


def _require_scope(actor, rule: Rule) -> None:
    """A use case's rule is written by someone who may change rules of that use case."""
    if rule.use_case_id is not None:
        require(actor, "monitoring.change_rule", rule)


def _strip(fields: dict) -> dict:
    return {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}


@transaction.atomic
def rule_create(*, actor, **fields) -> Rule:
    """A new rule. ``use_case`` None makes it firm-wide (every live deployment)."""
    _check_fields(fields)
    require(actor, "monitoring.add_rule")
    rule = Rule(created_by=actor, **_strip(fields))
    _require_scope(actor, rule)
    # Shipped rules and rules made by the system have no author: not an error of the form.
    rule.full_clean(exclude=["created_by"])
    save_with_history(rule, actor=actor, reason="Rule created")
    return rule


@transaction.atomic
def rule_update(*, actor, rule: Rule, **fields) -> Rule:
    """Change a rule's fields. A shipped rule only changes its threshold and on/off."""
    _check_fields(fields)
    rule = Rule.objects.select_for_update(of=("self",)).select_related("use_case").get(pk=rule.pk)
    require(actor, "monitoring.change_rule", rule)
    fields = _strip(fields)
    changed = [name for name, value in fields.items() if getattr(rule, name) != value]
    if rule.builtin:
        fixed = [name for name in changed if name not in BUILTIN_EDITABLE_FIELDS]
        if fixed:
            raise ValidationError(
                {
                    name: "A rule Steward ships changes only its threshold and whether it "
                    "is on; add a rule of your own for anything else."
                    for name in fixed
                }
            )
    if not changed:
        return rule
    for name in changed:
        setattr(rule, name, fields[name])
    if "use_case" in changed:
        _require_scope(actor, rule)
    # Shipped rules and rules made by the system have no author: not an error of the form.
    rule.full_clean(exclude=["created_by"])
    save_with_history(rule, actor=actor, reason=f"Rule changed: {', '.join(changed)}")
    return rule


@transaction.atomic
def rule_delete(*, actor, rule: Rule) -> None:
    """Delete a rule that never raised a flag. Shipped rules and flagged ones are switched
    off instead, so the flags keep the rule that raised them."""
    rule = Rule.objects.select_for_update(of=("self",)).select_related("use_case").get(pk=rule.pk)
    require(actor, "monitoring.change_rule", rule)
    if rule.builtin:
        raise ValidationError("A rule Steward ships is not deleted: switch it off instead.")
    if rule.flags.exists():
        raise ValidationError("This rule has raised flags: switch it off instead.")
    delete_with_history(rule, actor=actor, reason="Rule deleted")
