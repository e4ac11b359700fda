"""The evidence pack of a use case: one zip an auditor takes away.

It holds, for each signed-off assessment of the use case, its one-page summary and full
report (PDF) and exactly the JSON that was signed (whose SHA-256 is the sign-off's hash);
the history of the use case and of those assessments as CSV; the go-live records; the
ledger entries that concern the use case, with their positions and hashes in the chain (to
check against a ledger export); and a manifest with every file's SHA-256 (manifest.json,
and SHA256SUMS for `sha256sum -c`).

It lives above every app (it gathers from the registry, assessments and the ledger), and
whoever may read the use case may download it: everything in it is something they may
already read on its pages.
"""

import csv
import hashlib
import io
import json
import zipfile
from datetime import datetime

from django.utils import timezone

from assessments import pdf
from assessments.models import SignOff, Status
from portal.history.selectors import iter_versions
from portal.history.tracked import HISTORY_REGISTRY
from portal.history.views import RECORD_CSV_COLUMNS, record_csv_rows
from portal.ledger import chain
from portal.ledger.canonical import normalized
from portal.models import LedgerEntry
from registry.models import UseCase
from registry.serializers.go_live import GoLiveRecordSerializer


def _history_csv(key: str, pk: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RECORD_CSV_COLUMNS)
    for version in iter_versions(HISTORY_REGISTRY[key], pk):
        writer.writerows(record_csv_rows(version))
    return out.getvalue().encode()


def _ledger_lines(use_case: UseCase) -> bytes:
    entries = (
        LedgerEntry.objects.filter(use_case_id=use_case.pk)
        .select_related("link")
        .order_by("link__seq", "id")
    )
    lines = []
    for e in entries:
        link = getattr(e, "link", None)
        lines.append(
            json.dumps(
                {
                    "seq": link.seq if link else None,
                    "prev_hash": link.prev_hash if link else None,
                    "hash": link.hash if link else None,
                    "kind": e.kind,
                    "source": e.source,
                    "source_id": e.source_id,
                    "subject": e.subject,
                    "use_case_id": e.use_case_id,
                    "actor_id": e.actor_id,
                    "at": normalized(e.at),
                    "payload_sha256": e.payload_sha256,
                    "payload": e.payload,
                },
                sort_keys=True,
                ensure_ascii=False,
            )
        )
    return ("\n".join(lines) + "\n" if lines else "").encode()


def _go_live_records(use_case: UseCase) -> dict[str, bytes]:
    """Each go-live record as its page's JSON export gives it."""
    return {
        f"go-live/{record.pk}.json": json.dumps(
            GoLiveRecordSerializer(record).data, indent=2, sort_keys=True, ensure_ascii=False
        ).encode()
        for record in use_case.go_live_records.order_by("pk")
    }


def evidence_files(use_case: UseCase) -> dict[str, bytes]:
    """Every file of the pack but the manifest, by its path in the zip."""
    chain.seal(full=True)
    files: dict[str, bytes] = {"history/use-case.csv": _history_csv("usecase", use_case.pk)}
    signed = (
        use_case.assessments.filter(status__in=[Status.SIGNED_OFF, Status.SUPERSEDED])
        .select_related("template", "use_case")
        .order_by("kind", "version")
    )
    for assessment in signed:
        folder = f"assessments/{assessment.reference}-v{assessment.version}"
        signoff = SignOff.objects.filter(assessment=assessment).first()
        if signoff is None:
            continue
        files[f"{folder}/summary.pdf"] = pdf.summary_pdf(assessment)
        files[f"{folder}/report.pdf"] = pdf.full_pdf(assessment)
        files[f"{folder}/signed-content.json"] = signoff.content.encode("utf-8")
        files[f"history/{assessment.reference}.csv"] = _history_csv("assessment", assessment.pk)
    files.update(_go_live_records(use_case))
    files["ledger.jsonl"] = _ledger_lines(use_case)
    return files


def evidence_pack(use_case: UseCase, *, by, now: datetime | None = None) -> bytes:
    """The zip: the files, manifest.json and SHA256SUMS."""
    files = evidence_files(use_case)
    sums = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    seq, head = chain.head()
    manifest = {
        "use_case": {"id": use_case.pk, "reference": use_case.reference, "title": use_case.title},
        "generated_at": (now or timezone.now()).isoformat(),
        "generated_by": getattr(by, "username", None),
        "ledger_head": {"seq": seq, "hash": head},
        "files": [
            {"name": name, "sha256": sums[name], "bytes": len(files[name])}
            for name in sorted(files)
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name])
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        archive.writestr("SHA256SUMS", "".join(f"{sums[name]}  {name}\n" for name in sorted(files)))
    return buffer.getvalue()
