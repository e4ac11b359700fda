"""The history of every governed record: the pages, the exports and the registry behind them.

``portal.history_urls`` and ``portal.history_api`` import from here; other apps register
their models with ``portal.history.register``.
"""

from portal.history.registry import (
    HISTORY_REGISTRY,
    HistoryEntry,
    access_history_record,
    get_entry,
    register,
)
from portal.history.views import (
    audit_log,
    audit_log_export,
    record_compare,
    record_history,
    record_history_export,
)

__all__ = [
    "HISTORY_REGISTRY",
    "HistoryEntry",
    "access_history_record",
    "audit_log",
    "audit_log_export",
    "get_entry",
    "record_compare",
    "record_history",
    "record_history_export",
    "register",
]
