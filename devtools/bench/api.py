"""The register's API against its floor (issue 19): a use case's detail, its history and the
register list, each as a ratio to its own SQL replayed on a raw connection (floors.py).

Goal: detail, history and list each within FLOOR_TARGET times their floor, with the queries
per request printed beside them.
"""

import statistics
import time
from dataclasses import dataclass, field

from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext

from devtools.bench import floors

FLOOR_TARGET = 3.0


@dataclass
class FloorResult:
    label: str
    request_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    problem: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.request_ms)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_ms)

    @property
    def ratio(self) -> float:
        # The median of the per-pair ratios: each request against its own replay.
        return statistics.median(r / f for r, f in zip(self.request_ms, self.floor_ms, strict=True))

    @property
    def passed(self) -> bool:
        return not self.problem and self.ratio <= FLOOR_TARGET


def measure(
    label: str, client: Client, urls: list[str], headers: dict, warmup: int, requests: int
) -> FloorResult:
    """Alternate each request with the replay of its own SQL; warm-up pairs are not kept."""
    result = FloorResult(label)
    with floors.raw_connection() as raw:
        for k in range(warmup + requests):
            url = urls[k % len(urls)]
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, **headers)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                result.problem = f"answered {response.status_code}, not 200 ({url})"
                return result
            sql = floors.statements(captured.captured_queries)
            floor = floors.replay(raw, sql) * 1000
            if k < warmup:
                continue
            result.request_ms.append(elapsed)
            result.floor_ms.append(floor)
            result.queries.append(len(sql))
    return result


def report(out, results: list[FloorResult]) -> None:
    out("")
    out(f"API against its floor; target: within {FLOOR_TARGET:g}x. {floors.FLOOR}.")
    header = (
        f"{'endpoint':<40} {'reqs':>5} {'median ms':>10} {'floor ms':>9} {'ratio':>6} "
        f"{'queries':>8}  result"
    )
    out(header)
    out("-" * len(header))
    for r in results:
        if r.problem:
            out(f"{r.label:<40} {'-':>5}  not timed: {r.problem}")
            continue
        lo, hi = min(r.queries), max(r.queries)
        queries = str(lo) if lo == hi else f"{lo}-{hi}"
        verdict = "PASS" if r.passed else "FAIL"
        out(
            f"{r.label:<40} {len(r.request_ms):>5} {r.median:>10.2f} {r.floor:>9.2f} "
            f"{r.ratio:>5.1f}x {queries:>8}  {verdict}"
        )
