"""The tamper-evident ledger (chain.py), what it records (sources.py), how it is kept
append-only in the database (triggers.py) and exported for an outside auditor (export.py).

``register`` is how an app adds an append-only model of its own (a sign-off, a timeline
entry, a gate decision): every row it gains is recorded. History rows and permission changes
are recorded by the kernel itself (``connect``, from PortalConfig.ready).
"""

from portal.ledger.hooks import connect, register

__all__ = ["connect", "register"]
