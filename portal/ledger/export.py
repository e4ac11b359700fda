"""The ledger for an outside auditor: JSON Lines, verifiable offline with verify_export.py.

The first line is the manifest: the range of positions exported, the hash before the first
entry and the hash of the last, the chain's head when exported, and the checkpoints in the
range. Each following line is one entry with its position, hashes and payload. A period
selects the entries recorded in it; the export holds every position from the first of them
to the last, so the range has no gaps and chains from ``prev_hash`` to ``last_hash``.

Who may export: admins and auditors only (the rule ``portal.view_audit_log``), because the
ledger holds every business unit's changes and cannot be filtered per record without
breaking the chain a reader must be able to verify.
"""

import datetime as dt
import json
from collections.abc import Iterator

from django.db.models import Max, Min
from django.utils import timezone

from portal.ledger import chain
from portal.ledger.canonical import normalized
from portal.models import LedgerCheckpoint, LedgerLink

FORMAT = "steward-ledger-export/1"
HASH_RULE = (
    "hash = SHA-256 hex of canonical JSON (keys sorted, separators ',' and ':', UTF-8) of "
    "{seq, prev, kind, source, source_id, subject, use_case_id, actor_id, at, payload_sha256}, "
    "prev being the previous entry's hash (64 zeros before the first); payload_sha256 = "
    "SHA-256 hex of the payload text (an erased entry has an empty payload)."
)


def _start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _range(date_from: dt.date | None, date_to: dt.date | None) -> tuple[int, int] | None:
    links = LedgerLink.objects.all()
    if date_from:
        links = links.filter(entry__at__gte=_start(date_from))
    if date_to:
        links = links.filter(entry__at__lt=_start(date_to + dt.timedelta(days=1)))
    bounds = links.aggregate(first=Min("seq"), last=Max("seq"))
    if bounds["first"] is None:
        return None
    return bounds["first"], bounds["last"]


def _line(data: dict) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n"


def export_lines(date_from: dt.date | None = None, date_to: dt.date | None = None) -> Iterator[str]:
    """The manifest line, then one line per entry, oldest first."""
    chain.seal(full=True)
    head_seq, head_hash = chain.head()
    bounds = _range(date_from, date_to)
    first, last = bounds or (0, 0)
    ends = dict(LedgerLink.objects.filter(seq__in=[first, last]).values_list("seq", "hash"))
    before = (
        LedgerLink.objects.filter(seq=first).values_list("prev_hash", flat=True).first()
        or chain.GENESIS
    )
    yield _line(
        {
            "type": "manifest",
            "format": FORMAT,
            "generated_at": timezone.now().isoformat(),
            "period": {
                "from": date_from.isoformat() if date_from else None,
                "to": date_to.isoformat() if date_to else None,
            },
            "count": last - first + 1 if bounds else 0,
            "first_seq": first if bounds else None,
            "last_seq": last if bounds else None,
            "prev_hash": before,
            "first_hash": ends.get(first),
            "last_hash": ends.get(last),
            "head": {"seq": head_seq, "hash": head_hash},
            "checkpoints": [
                {"seq": s, "hash": h}
                for s, h in LedgerCheckpoint.objects.filter(seq__gte=first, seq__lte=last)
                .order_by("seq")
                .values_list("seq", "hash")
            ],
            "hash_rule": HASH_RULE,
        }
    )
    if not bounds:
        return
    columns = (
        "seq",
        "prev_hash",
        "hash",
        "entry__kind",
        "entry__source",
        "entry__source_id",
        "entry__subject",
        "entry__use_case_id",
        "entry__actor_id",
        "entry__at",
        "entry__payload_sha256",
        "entry__payload",
    )
    position = first - 1
    while position < last:
        rows = list(
            LedgerLink.objects.filter(seq__gt=position, seq__lte=last)
            .order_by("seq")
            .values_list(*columns)[: chain.CHUNK]
        )
        if not rows:
            return
        for row in rows:
            data = dict(zip([c.removeprefix("entry__") for c in columns], row, strict=True))
            data["at"] = normalized(data["at"])
            yield _line({"type": "entry", **data})
        position = rows[-1][0]
