"""Which records have a history browser, and how a person reaches one.

Each governed model is one line: the model, the rule that lets a person view a record,
and the selector that returns the records the person may see. A later app adds its own::

    register(Assessment, rule="assessments.view_assessment", selector=assessments_visible_to)

The history page, its CSV, the audit log and the API all read this registry.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db import models
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from portal.access import can
from registry.models import (
    AIModel,
    BusinessUnit,
    DataSource,
    Deployment,
    ModelCard,
    ModelVersion,
    PeopleAffected,
    UseCase,
)
from registry.selectors import (
    ai_models_visible_to,
    business_units_visible_to,
    data_sources_visible_to,
    deployments_visible_to,
    model_cards_visible_to,
    model_versions_visible_to,
    use_cases_visible_to,
)

# Bookkeeping that changes on every save and says nothing an auditor needs.
DEFAULT_EXCLUDE = ("id", "created_at", "updated_at")


@dataclass(frozen=True)
class HistoryEntry:
    key: str
    model: type[models.Model]
    rule: str
    selector: Callable[..., QuerySet]
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    # Labels for values that are lists of choices kept in a JSON field (people affected).
    value_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def history_model(self) -> type[models.Model]:
        return self.model.history.model

    @property
    def label(self) -> str:
        return str(self.model._meta.verbose_name).capitalize()

    @property
    def label_plural(self) -> str:
        return str(self.model._meta.verbose_name_plural).capitalize()


HISTORY_REGISTRY: dict[str, HistoryEntry] = {}


def register(
    model: type[models.Model],
    *,
    rule: str,
    selector: Callable[..., QuerySet],
    key: str | None = None,
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
    value_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> HistoryEntry:
    if not hasattr(model, "history"):
        raise TypeError(f"{model.__name__} keeps no history (add HistoricalRecords).")
    entry = HistoryEntry(
        key=key or model._meta.model_name,
        model=model,
        rule=rule,
        selector=selector,
        exclude=exclude,
        value_labels=value_labels or {},
    )
    HISTORY_REGISTRY[entry.key] = entry
    return entry


def get_entry(key: str) -> HistoryEntry:
    try:
        return HISTORY_REGISTRY[key]
    except KeyError:
        raise Http404("No history is kept for that kind of record.") from None


def access_history_record(user, key: str, pk: int) -> tuple[HistoryEntry, models.Model]:
    """The record whose history the person asks for; 404 if missing or not theirs to see."""
    entry = get_entry(key)
    record = get_object_or_404(entry.selector(user), pk=pk)
    if not can(user, entry.rule, record):
        raise Http404("No such record.")
    return entry, record


register(
    UseCase,
    rule="registry.view_usecase",
    selector=use_cases_visible_to,
    value_labels={"people_affected": dict(PeopleAffected.choices)},
)
register(DataSource, rule="registry.view_datasource", selector=data_sources_visible_to)
register(BusinessUnit, rule="registry.view_businessunit", selector=business_units_visible_to)


def _register_assessments() -> None:
    # Imported here: assessments depends on the registry app, not the other way round.
    from assessments.models import Assessment, AssessmentTemplate
    from assessments.selectors import assessments_visible_to, templates_visible_to

    register(Assessment, rule="assessments.view_assessment", selector=assessments_visible_to)
    register(AssessmentTemplate, rule="assessments.view_template", selector=templates_visible_to)


_register_assessments()

register(AIModel, rule="registry.view_aimodel", selector=ai_models_visible_to)
register(ModelVersion, rule="registry.view_aimodel", selector=model_versions_visible_to)
register(ModelCard, rule="registry.view_aimodel", selector=model_cards_visible_to)
register(Deployment, rule="registry.view_deployment", selector=deployments_visible_to)


def _register_monitoring() -> None:
    # Imported here, like the assessments: monitoring depends on the registry app.
    from monitoring.models import Budget, Flag, MetricSource, Rule
    from monitoring.selectors import (
        budgets_visible_to,
        flags_visible_to,
        rules_visible_to,
        sources_visible_to,
    )

    register(MetricSource, rule="monitoring.view_metrics", selector=sources_visible_to)
    register(Rule, rule="monitoring.view_rule", selector=rules_visible_to)
    register(Flag, rule="monitoring.view_flag", selector=flags_visible_to)
    register(Budget, rule="monitoring.view_costs", selector=budgets_visible_to)


_register_monitoring()


def _register_incidents() -> None:
    # Imported here, like monitoring: incidents depends on the registry app.
    from incidents.models import Incident, Runbook
    from incidents.selectors import incidents_visible_to, runbooks_visible_to

    register(Runbook, rule="incidents.view_runbook", selector=runbooks_visible_to)
    register(Incident, rule="incidents.view_incident", selector=incidents_visible_to)


_register_incidents()
