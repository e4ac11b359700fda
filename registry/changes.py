"""Material changes: what the registry announces when a saved change may call for re-assessment.

A regulator cares about a "substantial modification" (EU AI Act Art. 3(23), 43(4)), not about
the calendar: a use case that starts deciding automatically, a data source reclassified to
special-category data, a new model serving the use case. The registry's services describe each
such change as a ``Change`` (which field, its old and new value, the use cases it touches) and
``announce`` it inside the transaction that saved it, after the save. The registry does not
decide what is material: monitoring (a higher app) connects to ``material_change`` at start-up
and matches the firm's material-change rules (``monitoring.MaterialChangeRule``), raising a flag
per use case and rule that matches.

Every path that writes these fields goes through a service that announces: the pages, the API
and the CSV import (registry/csvio.py, rows with a reference update that use case) call
``use_case_update``, ``data_source_update``, ``model_update`` and the deployment services.

``material_change`` is sent with ``actor`` (who saved it; None for the system) and ``changes``
(a list of ``Change``). A receiver returns a list of the flags it raised, each a dict with at
least ``use_case`` (its id), ``reference``, ``cause``, ``reason`` and ``url``; ``announce``
returns them all, and the services hand them back on the record as ``flags_raised`` so the page
and the API can say what the change raised. A stage change of a model version is announced by
``registry.signals.model_version_stage_changed`` instead (see there).
"""

from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.dispatch import Signal

from registry.models import (
    AIModel,
    Classification,
    DataSource,
    DecisionImpact,
    Deployment,
    Destination,
    HumanOversight,
    Lifecycle,
    ModelVersion,
    PeopleAffected,
    ReleaseStage,
    UseCase,
)

material_change = Signal()


class ChangeKind(models.TextChoices):
    """The changes the registry announces, as ``<record>.<field>``."""

    DECISION_IMPACT = "use_case.decision_impact", "Use case: decision impact"
    PEOPLE_AFFECTED = "use_case.people_affected", "Use case: people affected"
    HUMAN_OVERSIGHT = "use_case.human_oversight", "Use case: human oversight"
    PURPOSE = "use_case.purpose", "Use case: purpose"
    DATA_SOURCES = "use_case.data_sources", "Use case: data sources"
    CLASSIFICATION = "data_source.classification", "Data source: classification"
    PERSONAL_DATA = "data_source.personal_data", "Data source: personal data"
    SERVING_MODEL = "use_case.model", "Use case: a model newly serving it"
    PROVIDER = "ai_model.provider", "AI model: provider"
    DATA_DESTINATION = "ai_model.data_destination", "AI model: where its data goes (hosting)"
    STAGE = "model_version.stage", "Model version: release stage"


# How values rank from least to most risky, for a rule that fires when a value goes up. A list
# (people affected, data sources, models) goes up when something is added to it.
RANKS: dict[str, list] = {
    ChangeKind.DECISION_IMPACT: [
        DecisionImpact.INFORMATIONAL,
        DecisionImpact.ASSISTS,
        DecisionImpact.AUTOMATIC,
    ],
    # Less oversight is more risk.
    ChangeKind.HUMAN_OVERSIGHT: [
        HumanOversight.BEFORE_ACTION,
        HumanOversight.SAMPLED,
        HumanOversight.NONE,
    ],
    ChangeKind.CLASSIFICATION: [
        Classification.PUBLIC,
        Classification.INTERNAL,
        Classification.CONFIDENTIAL,
        Classification.RESTRICTED,
        Classification.SPECIAL_CATEGORY,
    ],
    ChangeKind.PERSONAL_DATA: [False, True],
    ChangeKind.DATA_DESTINATION: [
        Destination.ON_PREMISES,
        Destination.PRIVATE_VPC,
        Destination.EXTERNAL_API,
    ],
    ChangeKind.STAGE: [
        ReleaseStage.RETIRED,
        ReleaseStage.CANDIDATE,
        ReleaseStage.SHADOW,
        ReleaseStage.CANARY,
        ReleaseStage.PARTIAL,
        ReleaseStage.PRODUCTION,
    ],
}
# Which values a rule may name for "becomes" (free text kinds have none).
VALUE_CHOICES: dict[str, list[tuple[str, str]]] = {
    ChangeKind.DECISION_IMPACT: list(DecisionImpact.choices),
    ChangeKind.PEOPLE_AFFECTED: list(PeopleAffected.choices),
    ChangeKind.HUMAN_OVERSIGHT: list(HumanOversight.choices),
    ChangeKind.CLASSIFICATION: list(Classification.choices),
    ChangeKind.PERSONAL_DATA: [("true", "Yes"), ("false", "No")],
    ChangeKind.DATA_DESTINATION: list(Destination.choices),
    ChangeKind.STAGE: list(ReleaseStage.choices),
}


@dataclass(frozen=True)
class Change:
    """One field of one record that changed, and the use cases it touches.

    ``old`` and ``new`` are the stored values (a list for people affected, data sources and
    models: references or names); ``old_display`` and ``new_display`` what a person reads.
    ``record`` names the record changed ("DS-0004 Claims history"); ``use_case_ids`` the
    use cases that must be re-assessed if the change is material (never retired ones).
    """

    kind: str
    label: str
    old: Any
    new: Any
    old_display: str
    new_display: str
    record: str
    use_case_ids: tuple[int, ...] = field(default_factory=tuple)

    def as_evidence(self, actor) -> dict:
        return {
            "record": self.record,
            "field": self.label,
            "old_value": self.old_display,
            "new_value": self.new_display,
            "changed_by": _name(actor),
        }

    def went_up(self) -> bool:
        """The new value is riskier than the old one (for a list: something was added)."""
        if isinstance(self.new, list | tuple):
            return bool(set(self.new) - set(self.old or []))
        ranks = RANKS.get(self.kind)
        if ranks is None or self.new not in ranks:
            return False
        if self.old not in ranks:
            return True
        return ranks.index(self.new) > ranks.index(self.old)

    def became(self, value: str) -> bool:
        """The new value is ``value`` and the old was not (for a list: ``value`` was added)."""
        if isinstance(self.new, list | tuple):
            return value in self.new and value not in (self.old or [])
        return _text(self.new) == value and _text(self.old) != value


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _name(actor) -> str:
    if actor is None:
        return "the system"
    return actor.get_full_name() or actor.get_username()


def display(choices, value) -> str:
    """A stored value as a person reads it."""
    if isinstance(value, list | tuple):
        labels = dict(choices) if choices else {}
        return ", ".join(str(labels.get(v, v)) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if choices:
        return str(dict(choices).get(value, value or "none"))
    return str(value) if value not in (None, "") else "none"


def announce(*, actor, changes: list[Change]) -> list[dict]:
    """Tell the apps above of the changes; return the flags they raised."""
    changes = [c for c in changes if c.use_case_ids]
    if not changes:
        return []
    raised: list[dict] = []
    for _receiver, result in material_change.send(sender=Change, actor=actor, changes=changes):
        raised.extend(result or [])  # type: ignore[arg-type]  # each receiver returns a list
    return raised


# What each service announces -----------------------------------------------------------------
_USE_CASE_FIELDS = {
    "decision_impact": (ChangeKind.DECISION_IMPACT, "Decision impact", DecisionImpact.choices),
    "people_affected": (ChangeKind.PEOPLE_AFFECTED, "People affected", PeopleAffected.choices),
    "human_oversight": (ChangeKind.HUMAN_OVERSIGHT, "Human oversight", HumanOversight.choices),
    "purpose": (ChangeKind.PURPOSE, "Purpose", None),
}


def snapshot_use_case(use_case: UseCase) -> dict:
    """The watched values of a use case before an edit (``use_case_changes`` compares)."""
    state = {name: getattr(use_case, name) for name in _USE_CASE_FIELDS}
    state["people_affected"] = list(state["people_affected"] or [])
    state["data_sources"] = sorted(use_case.data_sources.values_list("reference", flat=True))
    return state


def use_case_changes(use_case: UseCase, before: dict, new_sources) -> list[Change]:
    if use_case.lifecycle == Lifecycle.RETIRED:
        return []
    record = f"{use_case.reference} {use_case.title}"
    changes = []
    for name, (kind, label, choices) in _USE_CASE_FIELDS.items():
        old, new = before[name], getattr(use_case, name)
        if name == "people_affected":
            old, new = sorted(old), sorted(new or [])
        if old == new:
            continue
        changes.append(
            Change(
                kind=kind,
                label=label,
                old=old,
                new=new,
                old_display=display(choices, old),
                new_display=display(choices, new),
                record=record,
                use_case_ids=(use_case.pk,),
            )
        )
    sources = sorted(s.reference for s in new_sources)
    if sources != before["data_sources"]:
        changes.append(
            Change(
                kind=ChangeKind.DATA_SOURCES,
                label="Data sources",
                old=before["data_sources"],
                new=sources,
                old_display=display(None, before["data_sources"]),
                new_display=display(None, sources),
                record=record,
                use_case_ids=(use_case.pk,),
            )
        )
    return changes


_DATA_SOURCE_FIELDS = {
    "classification": (ChangeKind.CLASSIFICATION, "Classification", Classification.choices),
    "personal_data": (ChangeKind.PERSONAL_DATA, "Personal data", None),
}


def data_source_changes(source: DataSource, before: dict) -> list[Change]:
    """``before`` holds the classification and personal-data flag as they were."""
    changes = []
    users: tuple[int, ...] | None = None
    for name, (kind, label, choices) in _DATA_SOURCE_FIELDS.items():
        old, new = before[name], getattr(source, name)
        if old == new:
            continue
        if users is None:
            users = tuple(
                source.use_cases.exclude(lifecycle=Lifecycle.RETIRED)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        changes.append(
            Change(
                kind=kind,
                label=f"{label} of data source {source.reference}",
                old=old,
                new=new,
                old_display=display(choices, old),
                new_display=display(choices, new),
                record=f"{source.reference} {source.name}",
                use_case_ids=users,
            )
        )
    return changes


def served_by_model(model: AIModel, version: ModelVersion | None = None) -> tuple[int, ...]:
    """The use cases a model (or one version of it) serves now: active deployments."""
    deployments = Deployment.objects.filter(active=True)
    if version is not None:
        deployments = deployments.filter(model_version=version)
    else:
        deployments = deployments.filter(model_version__model=model)
    return tuple(
        UseCase.objects.filter(pk__in=deployments.values("use_case_id"))
        .exclude(lifecycle=Lifecycle.RETIRED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def model_changes(model: AIModel, before: dict) -> list[Change]:
    """``before`` holds the provider and data destination as they were."""
    fields = {
        "provider": (ChangeKind.PROVIDER, "Provider", None),
        "data_destination": (ChangeKind.DATA_DESTINATION, "Where data goes", Destination.choices),
    }
    changes = []
    served: tuple[int, ...] | None = None
    for name, (kind, label, choices) in fields.items():
        old, new = before[name], getattr(model, name)
        if old == new:
            continue
        if served is None:
            served = served_by_model(model)
        changes.append(
            Change(
                kind=kind,
                label=f"{label} of model {model.reference}",
                old=old,
                new=new,
                old_display=display(choices, old),
                new_display=display(choices, new),
                record=f"{model.reference} {model.name}",
                use_case_ids=served,
            )
        )
    return changes


def serving_model_change(deployment: Deployment) -> list[Change]:
    """A model newly serving the deployment's use case: one that no other deployment of the
    use case ever served. The first deployment of a use case is no change (the go-live gate
    and the first assessments cover it)."""
    use_case = deployment.use_case
    if use_case.lifecycle == Lifecycle.RETIRED:
        return []
    model = deployment.model_version.model
    before = list(
        Deployment.objects.filter(use_case=use_case)
        .exclude(pk=deployment.pk)
        .select_related("model_version__model", "previous_version__model")
    )
    earlier = {d.model_version.model for d in before}
    for d in before:
        if d.previous_version is not None:
            earlier.add(d.previous_version.model)
    if deployment.previous_version is not None:
        earlier.add(deployment.previous_version.model)
    earlier.discard(None)
    if not earlier or model in earlier:
        return []
    old = sorted(f"{m.name} ({m.provider})" for m in earlier)
    new = [*old, f"{model.name} ({model.provider})"]
    return [
        Change(
            kind=ChangeKind.SERVING_MODEL,
            label="Models serving the use case",
            old=sorted(m.reference for m in earlier),
            new=sorted([*(m.reference for m in earlier), model.reference]),
            old_display=", ".join(old),
            new_display=", ".join(new),
            record=f"{use_case.reference} {use_case.title}",
            use_case_ids=(use_case.pk,),
        )
    ]


def stage_change(version: ModelVersion, old_stage: str, new_stage: str) -> list[Change]:
    """A model version's release stage moved (``signals.model_version_stage_changed``)."""
    if old_stage == new_stage:
        return []
    labels = ReleaseStage.choices
    return [
        Change(
            kind=ChangeKind.STAGE,
            label=f"Release stage of model version {version}",
            old=old_stage,
            new=new_stage,
            old_display=display(labels, old_stage),
            new_display=display(labels, new_stage),
            record=f"model version {version}",
            use_case_ids=served_by_model(version.model, version),
        )
    ]
