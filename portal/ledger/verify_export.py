#!/usr/bin/env python3
"""Verify a Steward ledger export offline, with nothing but Python 3.9+'s standard library.

    python3 verify_export.py steward-ledger.jsonl

It checks that the entries run without gaps from the manifest's first position to its last,
that each entry's ``prev_hash`` is the hash of the entry before it (the first one's is the
manifest's ``prev_hash``), that each hash is recomputed from the entry's contents, that each
payload hashes to its ``payload_sha256`` (an erased entry has an empty payload), that the
last hash is the manifest's ``last_hash``, and that every checkpoint listed is on the chain.
It prints "intact" and exits 0, or names the first entry that breaks and exits 1.

To tie the export to the portal, compare its ``last_hash`` (or a checkpoint) with the hash
the portal shows for the same position (Audit → Verify, or GET /api/v1/audit/verify/).
"""

import hashlib
import json
import sys


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def entry_hash(entry: dict, prev: str) -> str:
    fields = ("kind", "source", "source_id", "subject", "use_case_id", "actor_id", "at")
    return sha256(
        canonical(
            {
                "seq": entry["seq"],
                "prev": prev,
                **{name: entry[name] for name in fields},
                "payload_sha256": entry["payload_sha256"],
            }
        )
    )


def verify(lines) -> tuple[bool, str]:
    lines = iter(lines)
    try:
        manifest = json.loads(next(lines))
    except (StopIteration, ValueError):
        return False, "the file does not start with a manifest line"
    if manifest.get("type") != "manifest":
        return False, "the first line is not the manifest"
    prev = manifest["prev_hash"]
    expected = manifest["first_seq"]
    checkpoints = {c["seq"]: c["hash"] for c in manifest.get("checkpoints", [])}
    count = 0
    for number, line in enumerate(lines, start=2):
        entry = json.loads(line)
        where = f"line {number}, entry {entry.get('seq')}"
        if entry["seq"] != expected:
            return False, f"{where}: expected entry {expected} (entries missing or reordered)"
        if entry["prev_hash"] != prev:
            return False, f"{where}: its previous hash is not the hash of the entry before it"
        if entry["payload"] and sha256(entry["payload"]) != entry["payload_sha256"]:
            return False, f"{where}: its payload does not hash to its payload_sha256"
        if entry_hash(entry, prev) != entry["hash"]:
            return False, f"{where}: its hash does not match its contents"
        if entry["seq"] in checkpoints and checkpoints[entry["seq"]] != entry["hash"]:
            return False, f"{where}: its hash differs from the manifest's checkpoint"
        prev, expected, count = entry["hash"], expected + 1, count + 1
    if count != manifest["count"]:
        return False, f"the manifest announces {manifest['count']} entries, the file holds {count}"
    if count and prev != manifest["last_hash"]:
        return False, "the last entry's hash is not the manifest's last_hash"
    return True, (
        f"intact: {count} entries, {manifest['first_seq']} to {manifest['last_seq']}, "
        f"last hash {manifest['last_hash']}"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: python3 verify_export.py EXPORT.jsonl")
        return 2
    with open(argv[1], encoding="utf-8") as export:
        intact, message = verify(export)
    print(message)
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
