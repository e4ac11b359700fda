"""Raising and resolving flags: what a rule's breach does, and how a person closes it.

A breach raises one flag per rule and subject (the use case, or the model version) until a
person resolves it; the partial unique constraint on Flag holds that even when two
evaluations race. Raising a flag marks the subject as needing re-assessment with the
evidence, can start a re-assessment draft, and emails the owners. A flag never resolves
itself when the metric recovers: someone says who and why (``flag_resolve``); after that the
rule raises it again only on new evidence (see services/evaluation.py).

Flags for causes that are not a metric (a material change to the use case, the nightly
go-live gate check, a template's new version, an obligation) go through
``raise_cause_flag`` and ``resolve_cause_flag``: one open flag per cause and subject, the
same marking, draft and emails, and the same pages, API and PDF as a rule's flag.
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from assessments.models import Kind, Status
from assessments.services.workflow import assessment_reassess
from monitoring.models import CAUSE_NAME, Flag, FlagStatus, Rule, RuleAction, RuleSubject, Severity
from portal import notify
from portal.access import require
from portal.ledger import chain as ledger_chain
from portal.ledger.sources import source_for
from portal.limits import SHORT_TEXT, keep_last
from portal.models import Role
from portal.records import next_reference, reserve_numbers, save_with_history
from registry.models import Deployment, ModelVersion, UseCase
from registry.services import use_case_flag_for_reassessment

logger = logging.getLogger(__name__)

# What a breach does beyond the flag, by the rule's action. Apps above monitoring add theirs
# at start-up (incidents: open an incident), see ``register_rule_action``.
RuleActionFn = Callable[[Flag], None]
RULE_ACTIONS: dict[str, RuleActionFn] = {}


def register_rule_action(action: str, run: RuleActionFn) -> None:
    """Run ``run(flag)`` after a rule whose action is ``action`` raises a flag. It records on
    the flag what it did, or why it could not."""
    if action not in RuleAction.values:
        raise ValueError(f"{action!r} is not a rule action ({', '.join(RuleAction.values)}).")
    RULE_ACTIONS[action] = run


# Which signed-off assessment a re-assessment starts from, most telling first.
REASSESS_KINDS = (Kind.IMPACT, Kind.DPIA, Kind.SCREENING)


def subject_key(rule: Rule, *, use_case_id: int, model_version_id: int | None) -> str:
    if rule.subject == RuleSubject.MODEL_VERSION:
        return f"model_version:{model_version_id}"
    return f"use_case:{use_case_id}"


def describe_breach(rule: Rule, evidence: dict) -> str:
    """One line a person reads: 'mean error_rate over 15 min = 0.081 > 0.05'."""
    feature = f"[{evidence['feature']}]" if evidence.get("feature") else ""
    if rule.metric == "budget_used_pct":
        window = "this month"
    else:
        window = f"over {evidence['window_minutes']} min"
    symbol = rule.get_comparison_display()
    return (
        f"{evidence['aggregation']} {evidence['metric']}{feature} {window} = "
        f"{evidence['value']:.4g} {symbol} {evidence['threshold']:g}"
    )


@transaction.atomic
def flag_raise(
    *,
    rule: Rule,
    use_case: UseCase,
    model_version: ModelVersion | None = None,
    deployment: Deployment | None = None,
    evidence: dict,
    now: datetime,
) -> Flag | None:
    """Raise the rule's flag on its subject, or None when one is already open.

    Called by the evaluation (the system), so it asks no permission.
    """
    if rule.subject == RuleSubject.MODEL_VERSION and model_version is None:
        raise ValueError("A rule on model versions needs the model version.")
    key = subject_key(
        rule,
        use_case_id=use_case.pk,
        model_version_id=model_version.pk if model_version else None,
    )
    flag = Flag(
        rule=rule,
        subject=rule.subject,
        subject_key=key,
        use_case=use_case,
        model_version=model_version if rule.subject == RuleSubject.MODEL_VERSION else None,
        deployment=deployment,
        severity=rule.severity,
        evidence=dict(evidence),
        last_seen_at=now,
    )
    try:
        # A savepoint: a concurrent evaluation that raised the same flag first makes this
        # insert fail on the partial unique constraint, and nothing else is undone.
        with transaction.atomic():
            flag.reference = next_reference("FL")
            save_with_history(flag, actor=None, reason=f"Raised by rule {rule.name!r}")
    except IntegrityError:
        return None

    breach = describe_breach(rule, evidence)
    flagged = _mark_for_reassessment(flag, reason=f"{flag.reference}: {rule.name}: {breach}")
    action = RULE_ACTIONS.get(rule.action)
    if action is not None:
        action(flag)
    _notify(flag, breach=breach, use_cases=flagged)
    return flag


def _mark_for_reassessment(flag: Flag, *, reason: str) -> list[UseCase]:
    """Set needs-re-assessment on the subject. Returns the use cases flagged."""
    if flag.subject == RuleSubject.USE_CASE:
        return [use_case_flag_for_reassessment(actor=None, use_case=flag.use_case, reason=reason)]

    assert flag.model_version_id is not None  # a flag on a model version names it
    version = ModelVersion.objects.select_for_update().get(pk=flag.model_version_id)
    # The version and the other units' use cases it serves are read far beyond the flag's own
    # unit, which alone may read the flag: they are told only which flag, never the rule, the
    # metric or its value.
    elsewhere = f"{flag.reference}: monitoring flagged model version {version}"
    line = f"{timezone.localdate().isoformat()}: {elsewhere}"
    version.needs_reassessment = True
    version.reassessment_reasons = keep_last(
        "\n".join(filter(None, [version.reassessment_reasons, line]))
    )
    save_with_history(version, actor=None, reason=f"Flagged for re-assessment: {elsewhere}")
    flag.model_version = version

    # Every use case the version serves now shares the doubt about it.
    served = (
        UseCase.objects.filter(deployments__model_version=version, deployments__active=True)
        .exclude(lifecycle="retired")
        .distinct()
        .order_by("pk")  # a fixed order, so concurrent raises lock use cases alike
    )
    ids = set(served.values_list("pk", flat=True)) | {flag.use_case_id}
    return [
        use_case_flag_for_reassessment(
            actor=None,
            use_case=use_case,
            reason=reason
            if use_case.business_unit_id == flag.use_case.business_unit_id
            else elsewhere,
        )
        for use_case in UseCase.objects.filter(pk__in=ids).exclude(lifecycle="retired")
    ]


def last_signed_off(use_case: UseCase):
    """The latest signed-off impact assessment, else DPIA, else screening; None if none."""
    signed = {
        a.kind: a
        for a in use_case.assessments.filter(status=Status.SIGNED_OFF, kind__in=REASSESS_KINDS)
        .select_related("template")
        .order_by("kind", "version", "pk")  # the last of each kind wins below
    }
    return next((signed[kind] for kind in REASSESS_KINDS if kind in signed), None)


def _start_reassessment(flag: Flag) -> None:
    """Start a draft from the last signed-off assessment, or record why not."""
    use_case = UseCase.objects.select_related("owner").get(pk=flag.use_case_id)
    signed = last_signed_off(use_case)
    if signed is None:
        flag.evidence["reassessment"] = (
            "No signed-off assessment to start from: start the re-assessment by hand."
        )
        note = "No re-assessment started: nothing signed off"
    else:
        try:
            with transaction.atomic():
                draft = assessment_reassess(actor=use_case.owner, assessment=signed)
        except (PermissionDenied, ValidationError) as exc:
            why = "; ".join(getattr(exc, "messages", None) or [str(exc)])
            flag.evidence["reassessment"] = f"Not started from {signed.reference}: {why}"
            note = f"No re-assessment started: {why}"
        else:
            _link_reassessment(flag, draft, signed, actor=None)
            return
    save_with_history(flag, actor=None, reason=note)


def _link_reassessment(flag: Flag, draft, signed, *, actor) -> None:
    """Name the draft on the flag (its page links it), with the version it started from."""
    flag.reassessment = draft
    flag.evidence = {
        **(flag.evidence or {}),
        "reassessment": f"{draft.reference} started from {signed.reference}",
    }
    save_with_history(
        flag, actor=actor, reason=f"Re-assessment {draft.reference} started from {signed.reference}"
    )


@transaction.atomic
def flag_start_reassessment(*, actor, flag: Flag):
    """Start the re-assessment a flag asks for, by hand: a draft from the use case's last
    signed-off assessment, linked to the flag (its page then shows it)."""
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if not flag.is_open:
        raise ValidationError(f"{flag.reference} is resolved.")
    if flag.reassessment_id is not None:
        raise ValidationError(f"{flag.reference} already has its re-assessment.")
    signed = last_signed_off(flag.use_case)
    if signed is None:
        raise ValidationError(
            f"{flag.use_case.reference} has no signed-off assessment to start from: start a new "
            "one on the use case's page."
        )
    draft = assessment_reassess(actor=actor, assessment=signed)
    _link_reassessment(flag, draft, signed, actor=actor)
    return draft


def _notice(flag: Flag, *, breach: str, use_cases: list[UseCase]) -> tuple[list, str, str]:
    """Who is told of a rule's flag, and the subject and body of the email that tells them."""
    evidence = flag.evidence
    recipients = {uc.owner for uc in use_cases} | {flag.use_case.owner}
    if flag.model_version is not None:
        recipients.add(flag.model_version.model.owner)
    link = settings.SITE_URL.rstrip("/") + flag.use_case.get_absolute_url()
    values = "\n".join(f"  {at}  {value:g}" for at, value in evidence.get("values", []))
    subject_line = (
        f"model version {flag.model_version}"
        if flag.model_version_id
        else f"use case {flag.use_case.reference} {flag.use_case.title}"
    )
    lines = [
        f"Monitoring raised {flag.reference} ({flag.get_severity_display()} severity) on "
        f"{subject_line}.",
        "",
        f"Rule: {flag.title}",
        f"Breach: {breach}",
        f"Samples in the window: {evidence.get('samples')}",
        f"Window: {evidence.get('window_start')} to {evidence.get('window_end')}",
    ]
    if values:
        lines += ["", "Latest values:", values]
    if evidence.get("reassessment"):
        lines += ["", f"Re-assessment: {evidence['reassessment']}"]
    marked = ", ".join(sorted(uc.reference for uc in use_cases))
    if flag.model_version_id:
        marked = f"the model version and {marked}"
    lines += [
        "",
        f"Marked as needing re-assessment: {marked}. The flag stays open until someone "
        "resolves it with a reason.",
        link,
    ]
    return (
        sorted(recipients, key=lambda u: u.pk),
        f"{flag.reference} {flag.title} on {flag.use_case.reference}",
        "\n".join(lines),
    )


def _notify(flag: Flag, *, breach: str, use_cases: list[UseCase]) -> None:
    recipients, subject, body = _notice(flag, breach=breach, use_cases=use_cases)
    notify.email(recipients, subject, body, url=flag.use_case.get_absolute_url())


# Raising many flags at once: the rules cycle -------------------------------------------------
@dataclass
class Breach:
    """A rule's breach on a subject with no open flag: what ``flags_raise_bulk`` raises."""

    rule: Rule
    use_case: UseCase
    model_version: ModelVersion
    deployment: Deployment
    evidence: dict


@dataclass
class Notices:
    """The emails of one rules cycle: each person is told once, of all their new flags."""

    people: dict[int, object] = field(default_factory=dict)
    sections: dict[int, list[tuple[str, str, str | None]]] = field(default_factory=dict)

    def add(self, recipients: Iterable, subject: str, body: str, url: str | None = None) -> None:
        for person in recipients:
            self.people.setdefault(person.pk, person)
            self.sections.setdefault(person.pk, []).append((subject, body, url))

    def send(self) -> int:
        """One email per person (through the outbox, on commit); returns how many."""
        for pk, person in sorted(self.people.items()):
            sections = self.sections[pk]
            url = None
            if len(sections) == 1:
                subject, body, url = sections[0]
            else:
                subject = f"Monitoring raised {len(sections)} flags on AI you own"
                rule = "-" * 70
                body = f"\n\n{rule}\n\n".join(
                    [f"Monitoring raised {len(sections)} flags in one check of the rules:"]
                    + [f"{s}\n\n{b}" for s, b, _url in sections]
                )
            notify.email([person], subject, body, url=url)
        sent = len(self.people)
        self.people.clear()
        self.sections.clear()
        return sent


@transaction.atomic
def flags_raise_bulk(*, breaches: list[Breach], now: datetime, notices: Notices) -> list[Flag]:
    """Raise the flags of many breaches of one rules cycle in a constant number of queries.

    Does what ``flag_raise`` does for each (a numbered flag with its history, the subject
    marked for re-assessment with a history version, the rule's action, the ledger entries
    of every history row) but writes each kind of row in one statement; the emails go into
    ``notices``, sent once per person when the cycle ends. If a concurrent evaluation raised
    one of the flags first (the partial unique index refuses the insert), nothing of the bulk
    write is kept and each breach is raised one by one instead.

    Called by the evaluation (the system), so it asks no permission.
    """
    if not breaches:
        return []
    for b in breaches:
        if b.rule.subject == RuleSubject.MODEL_VERSION and b.model_version is None:
            raise ValueError("A rule on model versions needs the model version.")
    try:
        with transaction.atomic():
            flags = _insert_flags(breaches, now=now)
            raised = _mark_many(flags)
    except IntegrityError:
        flags, raised = [], []
        for b in breaches:
            with transaction.atomic():
                flag, marked = _raise_one(b, now=now)
            if flag is not None:
                flags.append(flag)
                raised.append((flag, describe_breach(b.rule, b.evidence), marked))
    for flag, breach, marked in raised:
        action = RULE_ACTIONS.get(flag.rule.action) if flag.rule else None
        if action is not None:
            action(flag)
        notices.add(
            *_notice(flag, breach=breach, use_cases=marked), url=flag.use_case.get_absolute_url()
        )
    return flags


def _raise_one(b: Breach, *, now: datetime) -> tuple[Flag | None, list[UseCase]]:
    """The fallback: one breach as ``flag_raise`` raises it, its email left to the caller."""
    key = subject_key(b.rule, use_case_id=b.use_case.pk, model_version_id=b.model_version.pk)
    flag = _new_flag(b, key=key, now=now)
    try:
        with transaction.atomic():
            flag.reference = next_reference("FL")
            save_with_history(flag, actor=None, reason=f"Raised by rule {b.rule.name!r}")
    except IntegrityError:
        return None, []
    breach = describe_breach(b.rule, b.evidence)
    return flag, _mark_for_reassessment(flag, reason=f"{flag.reference}: {b.rule.name}: {breach}")


def _new_flag(b: Breach, *, key: str, now: datetime) -> Flag:
    return Flag(
        rule=b.rule,
        subject=b.rule.subject,
        subject_key=key,
        use_case=b.use_case,
        model_version=b.model_version if b.rule.subject == RuleSubject.MODEL_VERSION else None,
        deployment=b.deployment,
        severity=b.rule.severity,
        evidence=dict(b.evidence),
        last_seen_at=now,
    )


def _insert_flags(breaches: list[Breach], *, now: datetime) -> list[Flag]:
    flags, versions = [], []
    for b, number in zip(breaches, reserve_numbers("FL", len(breaches)), strict=True):
        key = subject_key(b.rule, use_case_id=b.use_case.pk, model_version_id=b.model_version.pk)
        flag = _new_flag(b, key=key, now=now)
        flag.reference = f"FL-{number:04d}"
        flags.append(flag)
    Flag.objects.bulk_create(flags)
    for flag, b in zip(flags, breaches, strict=True):
        versions.append((_version_of(flag, f"Raised by rule {b.rule.name!r}", "+"), flag))
    _write_versions(Flag, versions)
    return flags


def _version_of(obj, reason: str, kind: str = "~"):
    """A history row of ``obj`` as it is now, written by the system, not yet saved."""
    history_model = _history_model(type(obj))
    return history_model(
        history_date=timezone.now(),
        history_user=None,
        history_change_reason=reason,
        history_type=kind,
        **{f.attname: getattr(obj, f.attname) for f in history_model.tracked_fields},
    )


_HISTORY_MODELS: dict[type, Any] = {}


def _history_model(model: type) -> Any:
    # ``Model.history`` builds a manager class on every access: thousands of times a cycle.
    if model not in _HISTORY_MODELS:
        _HISTORY_MODELS[model] = model.history.model  # type: ignore[attr-defined]
    return _HISTORY_MODELS[model]


def _write_versions(model, versions: list[tuple]) -> None:
    """Save history rows in one statement, with their many-to-many snapshots and their ledger
    entries: what simple-history and the ledger's signal do for each save, done in bulk."""
    if not versions:
        return
    history_model = model.history.model
    rows = history_model.objects.bulk_create([row for row, _obj in versions])
    for m2m_field in getattr(history_model, "_history_m2m_fields", []):
        through = getattr(model, m2m_field.name).through
        own = next(
            f.name
            for f in through._meta.fields
            if f.is_relation and f.related_model is model and not f.primary_key
        )
        links: dict[int, list] = {}
        for link in through.objects.filter(**{f"{own}_id__in": {o.pk for _r, o in versions}}):
            links.setdefault(getattr(link, f"{own}_id"), []).append(link)
        snapshot_model = getattr(history_model, m2m_field.name).model
        names = [f.attname for f in through._meta.fields]  # ids: no query per link
        snapshot_model.objects.bulk_create(
            [
                snapshot_model(history=row, **{name: getattr(link, name) for name in names})
                for row, obj in zip(rows, [o for _r, o in versions], strict=True)
                for link in links.get(obj.pk, [])
            ]
        )
    source = source_for(history_model)
    if source is None:
        return
    m2m = source.m2m_ids([row.pk for row in rows]) if source.m2m else {}
    entries = []
    for row in rows:
        subject, use_case_id = source.subject(row)
        entries.append(
            ledger_chain.entry_for(
                source.kind,
                source.table,
                row.pk,
                source.payload(row, m2m.get(row.pk)),
                subject=subject,
                use_case_id=use_case_id,
                actor_id=row.history_user_id,
            )
        )
    ledger_chain.append_many(entries)


def _mark_many(flags: list[Flag]) -> list[tuple[Flag, str, list[UseCase]]]:
    """Mark every flag's subject as ``_mark_for_reassessment`` does, in bulk: the use cases
    (and model versions) locked in one query each, one history version per mark."""
    version_ids = {f.model_version_id for f in flags if f.model_version_id is not None}
    versions = (
        ModelVersion.objects.select_for_update(of=("self",))
        .select_related("model__owner")
        .in_bulk(version_ids)
        if version_ids
        else {}
    )
    served: dict[int, set[int]] = {}
    if version_ids:
        for version_id, use_case_id in (
            Deployment.objects.filter(model_version_id__in=version_ids, active=True)
            .exclude(use_case__lifecycle="retired")
            .values_list("model_version_id", "use_case_id")
        ):
            served.setdefault(version_id, set()).add(use_case_id)
    wanted = {f.use_case_id for f in flags} | {pk for ids in served.values() for pk in ids}
    use_cases = {
        uc.pk: uc
        for uc in UseCase.objects.select_for_update(of=("self",))
        .select_related("owner")
        .filter(pk__in=wanted)
        .order_by("pk")  # a fixed order, so concurrent raises lock use cases alike
    }
    today = timezone.localdate().isoformat()
    stamp = timezone.now()
    uc_versions: list[tuple] = []
    mv_versions: list[tuple] = []
    raised = []
    for flag in flags:
        rule = flag.rule
        assert rule is not None  # a rule's flag
        breach = describe_breach(rule, flag.evidence)
        reason = f"{flag.reference}: {rule.name}: {breach}"
        flag.use_case = use_cases.get(flag.use_case_id, flag.use_case)
        if flag.subject == RuleSubject.USE_CASE:
            targets = [(flag.use_case, reason)]
        else:
            version = versions[flag.model_version_id]
            flag.model_version = version
            elsewhere = f"{flag.reference}: monitoring flagged model version {version}"
            version.needs_reassessment = True
            version.reassessment_reasons = keep_last(
                "\n".join(filter(None, [version.reassessment_reasons, f"{today}: {elsewhere}"]))
            )
            version.updated_at = stamp
            mv_versions.append(
                (_version_of(version, f"Flagged for re-assessment: {elsewhere}"), version)
            )
            ids = served.get(version.pk, set()) | {flag.use_case_id}
            same_unit = flag.use_case.business_unit_id
            targets = [
                (uc, reason if uc.business_unit_id == same_unit else elsewhere)
                for pk in sorted(ids)
                if (uc := use_cases.get(pk)) is not None and uc.lifecycle != "retired"
            ]
        for use_case, why in targets:
            line = f"{today}: {why.strip()}"
            if line in use_case.reassessment_reasons.splitlines():
                continue
            use_case.needs_reassessment = True
            use_case.reassessment_reasons = keep_last(
                "\n".join(filter(None, [use_case.reassessment_reasons, line]))
            )
            use_case.updated_at = stamp
            uc_versions.append(
                (_version_of(use_case, f"Flagged for re-assessment: {why.strip()}"), use_case)
            )
        raised.append((flag, breach, [uc for uc, _why in targets]))
    if mv_versions:
        _save_marks(ModelVersion, [v for _r, v in mv_versions], stamp)
        _write_versions(ModelVersion, mv_versions)
    if uc_versions:
        _save_marks(UseCase, [u for _r, u in uc_versions], stamp)
        _write_versions(UseCase, uc_versions)
    return raised


def _save_marks(model, objs: list, stamp: datetime) -> None:
    """Write the marks (needs re-assessment, the reasons, updated_at) in one statement."""
    final = {obj.pk: obj.reassessment_reasons for obj in objs}  # the last state of each
    if connection.vendor != "postgresql":
        model.objects.filter(pk__in=final).update(needs_reassessment=True, updated_at=stamp)
        for pk, reasons in final.items():
            model.objects.filter(pk=pk).update(reassessment_reasons=reasons)
        return
    quote = connection.ops.quote_name
    column = {
        f: quote(model._meta.get_field(f).column)
        for f in ("needs_reassessment", "reassessment_reasons", "updated_at")
    }
    with connection.cursor() as cursor:
        # Django's bulk_update builds a CASE per row, which costs seconds for hundreds of rows.
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} AS t SET "
            f"{column['needs_reassessment']} = true, "
            f"{column['reassessment_reasons']} = v.reasons, {column['updated_at']} = %s "
            "FROM unnest(%s::bigint[], %s::text[]) AS v(id, reasons) WHERE t.id = v.id",
            [stamp, list(final), list(final.values())],
        )


# Non-metric causes ---------------------------------------------------------------------------
def cause_subject_key(*, use_case: UseCase, model_version: ModelVersion | None) -> str:
    if model_version is not None:
        return f"model_version:{model_version.pk}"
    return f"use_case:{use_case.pk}"


def open_cause_flag(
    *, use_case: UseCase, cause: str, model_version: ModelVersion | None = None
) -> Flag | None:
    """The open flag of ``cause`` on the subject, or None."""
    return (
        Flag.objects.filter(
            rule__isnull=True,
            cause=cause,
            subject_key=cause_subject_key(use_case=use_case, model_version=model_version),
            status=FlagStatus.OPEN,
        )
        .select_related("use_case", "model_version")
        .first()
    )


@transaction.atomic
def raise_cause_flag(
    *,
    use_case: UseCase,
    cause: str,
    severity: str,
    reason: str,
    evidence: dict,
    model_version: ModelVersion | None = None,
    actor=None,
    start_draft: bool = False,
    notify: bool = True,
) -> Flag:
    """Raise a flag for a cause that is not a metric rule's breach, or return the open one.

    Stable signature; every argument is keyword-only:

    - ``use_case``: the use case the flag is on (and whose unit may read it).
    - ``cause``: a key naming what raised it, ``<family>:<detail>`` in lower case, e.g.
      ``material_change:decision_impact``, ``gate:runbook``, ``template_change:eu-ai-act``,
      ``obligation:<key>``. One flag is open per cause and subject: while one is open, this
      returns it unchanged (idempotent; concurrent raises meet on a partial unique index).
    - ``severity``: a ``monitoring.models.Severity`` value.
    - ``reason``: the line a person reads (on the flag, in the use case's re-assessment
      reasons, in the email), e.g. "Decision impact: Assists → Decides automatically (by
      Ann Lee)". At most ``SHORT_TEXT`` characters.
    - ``evidence``: a JSON object kept on the flag (field, old and new values, who, checks...).
    - ``model_version``: None puts the flag on the use case (subject ``use_case:<id>``);
      a version puts it on the version (``model_version:<id>``), marking the version and
      every live use case it serves, as a metric rule on model versions does.
    - ``actor``: who made the change that raised it (None: the system). Written to history;
      no permission is asked: the caller's own change was already allowed.
    - ``start_draft``: also start a re-assessment draft from the last signed-off impact
      assessment, DPIA or screening (or record on the flag why none was started).
    - ``notify``: email the use case's owner (and the version's model owner) and the risk
      officers of the use case's unit once the transaction commits.

    Marks the subject as needing re-assessment with ``reason``; the flag and the marking are
    in history with the reason.
    """
    CAUSE_NAME(cause)
    if severity not in Severity.values:
        raise ValueError(f"{severity!r} is not a severity ({', '.join(Severity.values)}).")
    reason = " ".join((reason or "").split())[:SHORT_TEXT]
    if not reason:
        raise ValueError("A cause flag needs a reason a person can read.")
    existing = open_cause_flag(use_case=use_case, cause=cause, model_version=model_version)
    if existing is not None:
        return existing
    flag = Flag(
        cause=cause,
        reason=reason,
        subject=RuleSubject.MODEL_VERSION if model_version else RuleSubject.USE_CASE,
        subject_key=cause_subject_key(use_case=use_case, model_version=model_version),
        use_case=use_case,
        model_version=model_version,
        severity=severity,
        evidence=dict(evidence),
        last_seen_at=timezone.now(),
    )
    try:
        # A savepoint: a concurrent raise of the same cause that committed first makes this
        # insert fail on the partial unique index; the one it made is returned instead.
        with transaction.atomic():
            flag.reference = next_reference("FL")
            save_with_history(flag, actor=actor, reason=f"Raised: {reason}")
    except IntegrityError:
        found = open_cause_flag(use_case=use_case, cause=cause, model_version=model_version)
        if found is None:
            raise
        return found
    flagged = _mark_for_reassessment(flag, reason=f"{flag.reference}: {reason}")
    if start_draft:
        _start_reassessment(flag)
    if notify:
        _notify_cause(flag, use_cases=flagged, actor=actor)
    return flag


@transaction.atomic
def resolve_cause_flag(
    *,
    use_case: UseCase,
    cause: str,
    actor,
    resolution: str,
    model_version: ModelVersion | None = None,
) -> Flag | None:
    """Resolve the open flag of ``cause`` on the subject; None when none is open.

    ``actor`` None is the system (e.g. the nightly gate check when the cause passes again):
    no permission is asked. A person needs ``monitoring.resolve_flag``, as on the flag's page.
    The use case stays marked for re-assessment, as with any resolved flag.
    """
    flag = open_cause_flag(use_case=use_case, cause=cause, model_version=model_version)
    if flag is None:
        return None
    if actor is not None:
        return flag_resolve(actor=actor, flag=flag, reason=resolution)
    return _close(flag, actor=None, reason=resolution)


def risk_officers_of(use_case: UseCase) -> list:
    """The active risk officers of the use case's unit."""
    return list(
        get_user_model()
        .objects.filter(
            is_active=True,
            groups__name=Role.RISK_OFFICER,
            business_units=use_case.business_unit_id,
        )
        .distinct()
        .order_by("pk")
    )


def _notify_cause(flag: Flag, *, use_cases: list[UseCase], actor) -> None:
    recipients = {uc.owner for uc in use_cases} | {flag.use_case.owner}
    recipients.update(risk_officers_of(flag.use_case))
    if flag.model_version is not None:
        recipients.add(flag.model_version.model.owner)
    link = settings.SITE_URL.rstrip("/") + flag.use_case.get_absolute_url()
    subject_line = (
        f"model version {flag.model_version}"
        if flag.model_version_id
        else f"use case {flag.use_case.reference} {flag.use_case.title}"
    )
    lines = [
        f"{flag.reference} ({flag.get_severity_display()} severity) on {subject_line}.",
        "",
        f"Why: {flag.reason}",
    ]
    if actor is not None:
        lines.append(f"Changed by: {actor.get_full_name() or actor.get_username()}")
    if flag.evidence.get("reassessment"):
        lines += ["", f"Re-assessment: {flag.evidence['reassessment']}"]
    marked = ", ".join(sorted(uc.reference for uc in use_cases))
    if flag.model_version_id:
        marked = f"the model version and {marked}"
    lines += [
        "",
        f"Marked as needing re-assessment: {marked}. The flag stays open until someone "
        "resolves it with a reason.",
        link,
    ]
    notify.email(
        sorted(recipients, key=lambda u: u.pk),
        f"{flag.reference} re-assessment needed on {flag.use_case.reference}",
        "\n".join(lines),
        url=link,
    )


@transaction.atomic
def flag_resolve(*, actor, flag: Flag, reason: str) -> Flag:
    """Close a flag with who and why. The use case stays marked for re-assessment: a signed-off
    re-assessment (or clearing it on the use case) is what lifts that."""
    flag = (
        Flag.objects.select_for_update(of=("self",))
        .select_related("use_case", "rule", "model_version")
        .get(pk=flag.pk)
    )
    require(actor, "monitoring.resolve_flag", flag)
    return _close(flag, actor=actor, reason=reason)


def _close(flag: Flag, *, actor, reason: str) -> Flag:
    """Resolve a flag locked by the caller (``actor`` None: the system)."""
    flag = (
        Flag.objects.select_for_update(of=("self",))
        .select_related("use_case", "rule", "model_version")
        .get(pk=flag.pk)
    )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say how the flag was dealt with."})
    if flag.status != FlagStatus.OPEN:
        raise ValidationError(f"{flag.reference} was already resolved.")
    version = None
    if flag.model_version_id is not None:
        # Lock the version before looking at its other flags: a concurrent resolve of its last
        # other flag, or a raise (flag_raise locks the version to mark it), then waits for this
        # transaction, and its own look after the lock sees what this one committed. Checking
        # first let two resolves each see the other open and leave the version marked forever.
        version = ModelVersion.objects.select_for_update().get(pk=flag.model_version_id)
    flag.status = FlagStatus.RESOLVED
    flag.resolved_at = timezone.now()
    flag.resolved_by = actor
    flag.resolution = reason
    save_with_history(flag, actor=actor, reason=f"Resolved: {reason}")

    if version is not None and version.needs_reassessment:
        others = Flag.objects.filter(model_version_id=version.pk, status=FlagStatus.OPEN)
        if not others.exists():
            version.needs_reassessment = False
            version.reassessment_reasons = ""
            save_with_history(
                version,
                actor=actor,
                # Not the resolution itself: the version is read beyond the flag's unit.
                reason=f"Re-assessment flag cleared ({flag.reference} resolved)",
            )
    return flag


register_rule_action(RuleAction.REASSESS, _start_reassessment)
