"""The tamper-evident ledger: every governed change, chained by SHA-256.

Two steps, so that recording never waits on another transaction:

1. ``append`` writes a LedgerEntry in the same transaction as the change it records (a
   rolled-back change leaves no entry): its payload is the row as canonical JSON and
   ``payload_sha256`` that text's hash.
2. ``seal`` gives committed entries their place in the chain, in the order of their ids, one
   sealer at a time: entry n's hash is the SHA-256 of the canonical JSON of
   ``{seq, prev, kind, source, source_id, subject, use_case_id, actor_id, at,
   payload_sha256}`` where ``prev`` is entry n-1's hash (64 zeros for the first). It runs
   after each commit that appended, every minute (Celery beat), and before a verification
   or an export.

``verify`` walks the chain: positions without gaps, each ``prev`` the hash before it, each
hash recomputed, each payload hashing to its ``payload_sha256``, every checkpoint on the
chain, and each entry's source row read again and compared, so a row edited, deleted or
slipped in behind the database's triggers is named. An erasure (``history_erase``) blanks
payloads and deletes rows only under a tombstone entry that lists them, which verification
accepts.
"""

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Max, OuterRef, Subquery, Value, When
from django.utils import timezone

from portal.ledger.canonical import canonical, sha256_hex, utc_iso
from portal.ledger.sources import Source, source_for, sources
from portal.models import LedgerCheckpoint, LedgerEntry, LedgerLink

GENESIS = "0" * 64
TOMBSTONE = "tombstone"
# Ledger entries this far apart are read, hashed and compared per database round trip.
CHUNK = 10_000
# PostgreSQL advisory lock key of the sealer ("STEWARD" in ASCII, shortened to 63 bits).
SEAL_LOCK = 0x53_54_45_57_41_52_44


def link_hash(seq: int, prev: str, entry: LedgerEntry) -> str:
    return hash_of(
        seq,
        prev,
        entry.kind,
        entry.source,
        entry.source_id,
        entry.subject,
        entry.use_case_id,
        entry.actor_id,
        entry.at,
        entry.payload_sha256,
    )


def hash_of(
    seq, prev, kind, source, source_id, subject, use_case_id, actor_id, at, payload_sha256
) -> str:
    """An entry's hash from its fields (the rule the export's manifest states)."""
    text = json.dumps(
        {
            "seq": seq,
            "prev": prev,
            "kind": kind,
            "source": source,
            "source_id": source_id,
            "subject": subject,
            "use_case_id": use_case_id,
            "actor_id": actor_id,
            "at": utc_iso(at) if isinstance(at, datetime) else at,
            "payload_sha256": payload_sha256,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(text.encode()).hexdigest()


# Appending -----------------------------------------------------------------------------------
def entry_for(
    kind: str,
    source: str,
    source_id,
    payload: dict,
    *,
    subject: str = "",
    use_case_id: int | None = None,
    actor_id: int | None = None,
    at=None,
) -> LedgerEntry:
    text = canonical(payload)
    return LedgerEntry(
        kind=kind,
        source=source,
        source_id=str(source_id),
        subject=subject,
        use_case_id=use_case_id,
        actor_id=actor_id,
        at=at or timezone.now(),
        payload=text,
        payload_sha256=sha256_hex(text),
    )


def append(kind: str, source: str, source_id, payload: dict, **meta) -> LedgerEntry:
    """Record one change in the current transaction; it is sealed once that commits."""
    entry = entry_for(kind, source, source_id, payload, **meta)
    entry.save(force_insert=True)
    _seal_after_commit()
    return entry


ENTRY_COLUMNS = (
    "kind",
    "source",
    "source_id",
    "subject",
    "use_case_id",
    "actor_id",
    "at",
    "payload",
    "payload_sha256",
)
LINK_COLUMNS = ("seq", "entry_id", "prev_hash", "hash", "sealed_at")


def _insert(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert many rows: COPY on PostgreSQL (several times faster), an INSERT elsewhere."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    model.objects.bulk_create(
        [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=2_000
    )


def append_many(entries: list[LedgerEntry]) -> None:
    """Record many (bulk imports, a backfill, the benchmark) in one statement."""
    _insert(
        LedgerEntry,
        ENTRY_COLUMNS,
        [tuple(getattr(e, c) for c in ENTRY_COLUMNS) for e in entries],
    )
    _seal_after_commit()


def record_row(source: Source, row, *, m2m_ids: dict | None = None, actor_id=None) -> LedgerEntry:
    subject, use_case_id = source.subject(row)
    return append(
        source.kind,
        source.table,
        row.pk,
        source.payload(row, m2m_ids),
        subject=subject,
        use_case_id=use_case_id,
        actor_id=actor_id,
    )


def record(row, *, actor_id: int | None = None) -> LedgerEntry | None:
    """Record a newly written row of a registered source (a history row, a sign-off...)."""
    source = source_for(type(row))
    if source is None:
        return None
    m2m = None
    if source.m2m:
        # As simple-history just wrote it, else read back (a row recorded some other way).
        m2m = source.m2m_written(row)
        if m2m is None:
            m2m = source.m2m_ids([row.pk]).get(row.pk)
    if actor_id is None:
        actor_id = getattr(row, "history_user_id", None)
    return record_row(source, row, m2m_ids=m2m, actor_id=actor_id)


def backfill(chunk: int = CHUNK) -> int:
    """Record the rows of every source that are not in the ledger yet: history written before
    the ledger existed, or written in bulk without signals (an import, the benchmark's seed).
    Each is recorded as it is now, at its own time where it has one; how many were recorded."""
    recorded_now = 0
    for table, source in sources().items():
        recorded = set(LedgerEntry.objects.filter(source=table).values_list("source_id", flat=True))
        if len(recorded) >= source.model._default_manager.count():
            continue
        last = None
        while True:
            qs = source.model._default_manager.order_by("pk")
            if last is not None:
                qs = qs.filter(pk__gt=last)
            rows = list(qs[:chunk])
            if not rows:
                break
            missing = [r for r in rows if str(r.pk) not in recorded]
            m2m = source.m2m_ids([r.pk for r in missing]) if source.m2m and missing else {}
            entries = []
            for row in missing:
                subject, use_case_id = source.subject(row)
                entries.append(
                    entry_for(
                        source.kind,
                        table,
                        row.pk,
                        source.payload(row, m2m.get(row.pk)),
                        subject=subject,
                        use_case_id=use_case_id,
                        actor_id=getattr(row, "history_user_id", None),
                        at=getattr(row, "history_date", None),
                    )
                )
            if entries:
                append_many(entries)
                recorded_now += len(entries)
            last = rows[-1].pk
    return recorded_now


def _seal_after_commit() -> None:
    if not settings.LEDGER_SEAL_ON_COMMIT:
        return
    pending = getattr(connection, "run_on_commit", [])
    if any(getattr(item[1], "__name__", "") == "seal_pending" for item in pending):
        return
    transaction.on_commit(seal_pending, robust=True)


def seal_pending() -> None:
    seal()


# Sealing -------------------------------------------------------------------------------------
def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEAL_LOCK])


def head() -> tuple[int, str]:
    last = LedgerLink.objects.order_by("-seq").values_list("seq", "hash").first()
    return last or (0, GENESIS)


# After a commit, the sealer looks among the newest entries only: one whose transaction
# commits after this many newer entries were sealed is chained by the next full sweep (beat,
# each minute, and before every verification or export). A wider window costs every write a
# scan of that many entries.
RECHECK = 1_000
PENDING_COLUMNS = ("id", *[c for c in ENTRY_COLUMNS if c != "payload"])


def _start_after(full: bool) -> int:
    if full:
        return 0
    newest = LedgerLink.objects.order_by("-entry_id").values_list("entry_id", flat=True).first()
    return max(0, (newest or 0) - RECHECK)


def _pending(batch: int, after_id: int) -> list[tuple]:
    pending = LedgerEntry.objects.filter(id__gt=after_id, link__isnull=True)
    return list(pending.order_by("id").values_list(*PENDING_COLUMNS)[:batch])


def seal(batch: int = CHUNK, *, full: bool = False) -> int:
    """Chain committed entries not chained yet, in the order of their ids; how many.

    After a commit it looks among the newest entries; ``full`` looks at every entry (the
    minute's beat task, a verification, an export)."""
    sealed = 0
    every = max(1, int(settings.LEDGER_CHECKPOINT_EVERY))
    after_id = _start_after(full)
    while True:
        with transaction.atomic():
            _lock()
            seq, prev = head()
            pending = _pending(batch, after_id)
            if not pending:
                return sealed
            after_id = pending[-1][0]
            now = timezone.now()
            links, checkpoints = [], []
            for entry_id, *fields in pending:
                seq += 1
                hash_ = hash_of(seq, prev, *fields)
                links.append((seq, entry_id, prev, hash_, now))
                if seq % every == 0:
                    checkpoints.append(LedgerCheckpoint(seq=seq, hash=hash_, made_at=now))
                prev = hash_
            _insert(LedgerLink, LINK_COLUMNS, links)
            LedgerCheckpoint.objects.bulk_create(checkpoints)
            sealed += len(links)
        if len(pending) < batch:
            return sealed


# Verifying -----------------------------------------------------------------------------------
@dataclass
class Problem:
    seq: int | None
    what: str
    source: str = ""
    source_id: str = ""

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "outside the chain"
        row = f" ({self.source} #{self.source_id})" if self.source else ""
        return f"{where}{row}: {self.what}"


@dataclass
class Report:
    entries: int = 0
    intact_up_to: int = 0
    head_hash: str = GENESIS
    checkpoints: int = 0
    sources_checked: int = 0
    erased: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_break(self) -> Problem | None:
        chained = [(p.seq, p) for p in self.problems if p.seq is not None]
        if chained:
            return min(chained, key=lambda pair: pair[0])[1]
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        if self.intact:
            return (
                f"Intact: {self.entries:,} entries, up to entry {self.intact_up_to:,} "
                f"(head {self.head_hash[:16]}…), checked in {self.seconds:.1f} s."
            )
        return (
            f"Broken: intact up to entry {self.intact_up_to:,} of {self.entries:,}; "
            f"first break: {self.first_break}."
        )

    def as_dict(self) -> dict:
        data = asdict(self)
        data["problems"] = [{**asdict(p), "text": str(p)} for p in self.problems]
        data["intact"] = self.intact
        data["summary"] = self.summary()
        first = self.first_break
        data["first_break"] = {**asdict(first), "text": str(first)} if first else None
        return data


MAX_PROBLEMS = 100


def _chain_rows(chunk: int, *, with_payload: bool = True) -> Iterator[list[tuple]]:
    """The chain in order, a chunk at a time. Without payloads (the database has checked
    their hashes), each row's payload is "" when blank and None otherwise."""
    columns = (
        "seq",
        "prev_hash",
        "hash",
        "entry_id",
        "entry__kind",
        "entry__source",
        "entry__source_id",
        "entry__subject",
        "entry__use_case_id",
        "entry__actor_id",
        "entry__at",
        "entry__payload_sha256",
    )
    last = 0
    while True:
        links = LedgerLink.objects.filter(seq__gt=last).order_by("seq")
        if with_payload:
            links = links.annotate(body=F("entry__payload"))
        else:
            links = links.annotate(
                body=Case(When(entry__payload="", then=Value("")), default=Value(None))
            )
        rows = list(links.values_list(*columns, "body")[:chunk])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


# The hash rule of hash_of, written in SQL: the same JSON text as Python's json for every
# string but those with rare control characters, which to_json escapes otherwise. An entry it
# disagrees with is checked again in Python, which has the last word, so the fast path can
# never pass an entry that Python would fail.
_PG_SUSPECTS = """
SELECT l.seq
FROM portal_ledgerlink l JOIN portal_ledgerentry e ON e.id = l.entry_id
WHERE l.seq > %s AND l.seq <= %s AND (
    e.payload = ''
    OR e.payload_sha256 <> encode(sha256(convert_to(e.payload, 'UTF8')), 'hex')
    OR l.hash <> encode(sha256(convert_to(
        '{"actor_id":' || coalesce(e.actor_id::text, 'null')
        || ',"at":"' || to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN extract(microseconds FROM e.at)::bigint %% 1000000 = 0 THEN ''
                ELSE '.' || to_char(e.at AT TIME ZONE 'UTC', 'US') END
        || '+00:00","kind":' || to_json(e.kind)::text
        || ',"payload_sha256":' || to_json(e.payload_sha256)::text
        || ',"prev":' || to_json(l.prev_hash)::text
        || ',"seq":' || l.seq::text
        || ',"source":' || to_json(e.source)::text
        || ',"source_id":' || to_json(e.source_id)::text
        || ',"subject":' || to_json(e.subject)::text
        || ',"use_case_id":' || coalesce(e.use_case_id::text, 'null')
        || '}', 'UTF8')), 'hex')
)
"""
# Positions the database checks per statement (both cores' worth of work, bounded memory).
PG_RANGE = 250_000


def suspects_in_database() -> set[int] | None:
    """On PostgreSQL, the positions whose hashes the database finds wrong (or whose payload
    is blank); None elsewhere, where Python checks every entry."""
    if connection.vendor != "postgresql":
        return None
    top = LedgerLink.objects.aggregate(top=Max("seq"))["top"] or 0
    suspects: set[int] = set()
    with connection.cursor() as cursor:
        for start in range(0, top, PG_RANGE):
            cursor.execute(_PG_SUSPECTS, [start, start + PG_RANGE])
            suspects.update(seq for (seq,) in cursor.fetchall())
    return suspects


# Positions out of order: a gap, a first entry that is not 1, or a previous hash that is not
# the hash before it.
_PG_BREAKS = """
SELECT seq FROM (
    SELECT seq, prev_hash, lag(seq) OVER w AS before_seq, lag(hash) OVER w AS before_hash
    FROM portal_ledgerlink WINDOW w AS (ORDER BY seq)
) chain
WHERE (before_seq IS NULL AND (seq <> 1 OR prev_hash <> %s))
   OR (before_seq IS NOT NULL AND (seq <> before_seq + 1 OR prev_hash <> before_hash))
LIMIT 1
"""


def _verify_in_database(started: float) -> Report | None:
    """The chain checked by PostgreSQL: the report when it is intact, None when anything is
    off (the full walk then names what, and where)."""
    with connection.cursor() as cursor:
        cursor.execute(_PG_BREAKS, [GENESIS])
        if cursor.fetchone() is not None:
            return None
    if LedgerCheckpoint.objects.exclude(
        hash=Subquery(LedgerLink.objects.filter(seq=OuterRef("seq")).values("hash")[:1])
    ).exists():
        return None
    suspects = suspects_in_database() or set()
    erased = _erased() if suspects else set()
    blanked = 0
    for chunk_start in range(0, len(suspects), CHUNK):
        seqs = sorted(suspects)[chunk_start : chunk_start + CHUNK]
        for link in LedgerLink.objects.filter(seq__in=seqs).select_related("entry"):
            entry = link.entry
            if link_hash(link.seq, link.prev_hash, entry) != link.hash:
                return None
            if entry.payload == "":
                if (entry.source, entry.source_id) not in erased:
                    return None
                blanked += 1
            elif sha256_hex(entry.payload) != entry.payload_sha256:
                return None
    count, head_hash = LedgerLink.objects.count(), head()[1]
    return Report(
        entries=count,
        intact_up_to=count,
        head_hash=head_hash,
        checkpoints=LedgerCheckpoint.objects.count(),
        erased=blanked,
        seconds=time.monotonic() - started,
    )


def _payloads(seqs: set[int]) -> dict[int, str]:
    return dict(LedgerLink.objects.filter(seq__in=seqs).values_list("seq", "entry__payload"))


def verify(*, check_sources: bool = True, chunk: int = CHUNK, seal_first: bool = True) -> Report:
    """Walk the whole chain; the report says how far it is intact and what breaks it."""
    started = time.monotonic()
    if seal_first:
        seal(full=True)
    if connection.vendor == "postgresql" and not check_sources:
        intact = _verify_in_database(started)
        if intact is not None:
            return intact
    report = Report()
    problems: list[Problem] = []

    def problem(p: Problem) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(p)
        else:
            report.more_problems += 1

    erased = _erased()
    checkpoints = dict(LedgerCheckpoint.objects.values_list("seq", "hash"))
    expected_seq, prev = 1, GENESIS
    by_source: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    # On PostgreSQL the database hashes every entry (in C, next to the data); Python then
    # reads the chain's order without payloads and checks again only what it flagged.
    suspects = suspects_in_database()
    for rows in _chain_rows(chunk, with_payload=suspects is None):
        if suspects is not None:
            flagged = _payloads({row[0] for row in rows if row[0] in suspects})
        for (seq, prev_hash, hash_, _id, kind, source, source_id, subject, use_case_id,
             actor_id, at, payload_sha256, payload) in rows:  # fmt: skip
            report.entries += 1
            bad = ""
            trusted = suspects is not None and seq not in suspects
            if suspects is not None and not trusted:
                payload = flagged.get(seq, payload)
            if seq != expected_seq:
                bad = f"expected entry {expected_seq} here, found {seq}: entries are missing"
            elif prev_hash != prev:
                bad = "its previous hash is not the hash of the entry before it (reordered?)"
            elif trusted:
                pass  # its hash and its payload's hash were recomputed by the database
            else:
                recomputed = hash_of(
                    seq, prev_hash, kind, source, source_id, subject, use_case_id, actor_id,
                    at, payload_sha256,
                )  # fmt: skip
                if recomputed != hash_:
                    bad = "its hash does not match its contents: the entry was changed"
                elif payload == "":
                    if (source, source_id) not in erased:
                        bad = "its payload was blanked without an erasure in the ledger"
                    else:
                        report.erased += 1
                elif sha256_hex(payload) != payload_sha256:
                    bad = "its payload does not hash to the recorded hash: the entry was edited"
            if seq in checkpoints and checkpoints[seq] != hash_:
                bad = bad or "its hash differs from the checkpoint kept for it"
            if bad:
                problem(Problem(seq, bad, source, source_id))
            if payload != "" and kind != TOMBSTONE:
                by_source[source][source_id] = (seq, payload_sha256)
            expected_seq, prev = seq + 1, hash_
    report.head_hash = prev
    report.checkpoints = len(checkpoints)
    if check_sources:
        report.sources_checked = _check_sources(by_source, erased, problem, chunk)
    report.problems = sorted(problems, key=lambda p: (p.seq is None, p.seq or 0))
    first = report.first_break
    report.intact_up_to = (
        first.seq - 1 if first is not None and first.seq is not None else report.entries
    )
    report.seconds = time.monotonic() - started
    return report


def _erased() -> set[tuple[str, str]]:
    """(source, source_id) of every row an erasure removed, from the tombstones."""
    gone: set[tuple[str, str]] = set()
    for payload in LedgerEntry.objects.filter(kind=TOMBSTONE).values_list("payload", flat=True):
        data = _json(payload)
        for item in data.get("rows", []):
            gone.add((item["source"], str(item["source_id"])))
    return gone


def _json(text: str) -> dict:
    return json.loads(text) if text else {}


def _check_sources(
    by_source: dict[str, dict[str, tuple[int, str]]],
    erased: set[tuple[str, str]],
    problem: Callable[[Problem], None],
    chunk: int,
) -> int:
    """Read every recorded row again; name those changed, gone, or never recorded."""
    checked = 0
    for table, source in sources().items():
        recorded = by_source.get(table, {})
        model = source.model
        seen: set[str] = set()
        last = None
        while True:
            qs = model._default_manager.order_by("pk")
            if last is not None:
                qs = qs.filter(pk__gt=last)
            rows = list(qs[:chunk])
            if not rows:
                break
            m2m = source.m2m_ids([r.pk for r in rows]) if source.m2m else {}
            for row in rows:
                key = str(row.pk)
                seen.add(key)
                checked += 1
                found = recorded.get(key)
                if found is None:
                    problem(Problem(None, "this row is not in the ledger", table, key))
                    continue
                if sha256_hex(canonical(source.payload(row, m2m.get(row.pk)))) != found[1]:
                    problem(
                        Problem(found[0], "the row was changed after it was recorded", table, key)
                    )
            last = rows[-1].pk
        for key, (seq, _sha) in recorded.items():
            if key not in seen and (table, key) not in erased:
                problem(Problem(seq, "the row it records was deleted", table, key))
    return checked
