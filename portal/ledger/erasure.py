"""The one legitimate way history is removed: an erasure the ledger records.

Two reasons exist: a data subject's erasure (every version of one record) and retention
(versions older than HISTORY_RETENTION_DAYS, keeping each record's newest). Either way, in
one transaction: the history rows and their many-to-many snapshots are deleted, the payloads
of their ledger entries are blanked (each entry keeps its payload's hash, so the chain still
verifies), and a tombstone entry is appended that says who, why, when and exactly which rows
(with the hashes of what they held). Verification accepts a missing row or a blank payload
only where a tombstone lists it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet

from portal.ledger import chain
from portal.ledger.sources import Source, history_models, source_for
from portal.models import ErasurePermit, LedgerEntry


@dataclass(frozen=True)
class Erased:
    rows: int
    tombstone: LedgerEntry | None


def _permit(tables: list[str], reason: str) -> None:
    ErasurePermit.objects.bulk_create(ErasurePermit(table_name=t, reason=reason) for t in tables)


def _erase(rows_by_source: dict[Source, list[int]], *, actor, reason: str, what: dict) -> Erased:
    items = []
    for source, ids in rows_by_source.items():
        if not ids:
            continue
        entries = LedgerEntry.objects.filter(
            source=source.table, source_id__in=[str(i) for i in ids]
        )
        items += [
            {"source": s, "source_id": i, "payload_sha256": h}
            for s, i, h in entries.values_list("source", "source_id", "payload_sha256")
        ]
    if not items:
        return Erased(0, None)
    tables = [LedgerEntry._meta.db_table]
    for source in rows_by_source:
        tables += [source.table, *(m._meta.db_table for _name, m in source.m2m)]
    _permit(tables, reason)
    count = 0
    for source, ids in rows_by_source.items():
        LedgerEntry.objects.filter(source=source.table, source_id__in=[str(i) for i in ids]).update(
            payload=""
        )
        for _name, m2m_model in source.m2m:
            m2m_model._default_manager.filter(history_id__in=ids).delete()
        count += len(ids)
        source.model._default_manager.filter(pk__in=ids).delete()
    ErasurePermit.objects.filter(table_name__in=tables).delete()
    tombstone = chain.append(
        chain.TOMBSTONE,
        "ledger",
        "erasure",
        {**what, "reason": reason, "by": getattr(actor, "username", None), "rows": items},
        subject=what.get("record", ""),
        actor_id=getattr(actor, "pk", None),
    )
    return Erased(count, tombstone)


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why history is erased: it is kept in the ledger."})
    return reason


@transaction.atomic
def erase_record(*, actor, model, pk, reason: str) -> Erased:
    """Every history version of one record (a data subject's erasure)."""
    reason = _require_reason(reason)
    history_model = model.history.model
    source = source_for(history_model)
    if source is None:
        raise ValidationError({"model": f"{model._meta.verbose_name} keeps no history."})
    pk_name = model._meta.pk.attname
    ids = list(history_model._default_manager.filter(**{pk_name: pk}).values_list("pk", flat=True))
    record = f"{model._meta.label_lower}:{pk}"
    return _erase(
        {source: ids}, actor=actor, reason=reason, what={"action": "erase", "record": record}
    )


def _older_than(history_model, cutoff: datetime) -> QuerySet:
    """Versions before ``cutoff``, except each record's newest (a record keeps a history)."""
    pk_name = history_model.instance_type._meta.pk.attname
    newest = (
        history_model._default_manager.values(pk_name)
        .annotate(newest=Max("history_id"))
        .values("newest")
    )
    return history_model._default_manager.filter(history_date__lt=cutoff).exclude(
        history_id__in=newest
    )


@transaction.atomic
def prune_before(*, actor, cutoff: datetime, reason: str) -> Erased:
    """History versions older than ``cutoff`` (retention), each record's newest kept."""
    reason = _require_reason(reason)
    rows: dict[Source, list[int]] = {}
    for history_model in history_models():
        source = source_for(history_model)
        if source is not None:
            rows[source] = list(_older_than(history_model, cutoff).values_list("pk", flat=True))
    return _erase(
        rows,
        actor=actor,
        reason=reason,
        what={"action": "retention", "before": cutoff.isoformat()},
    )
