"""The figures every benchmark prints of its timings."""

import math
import time


def p95(values: list[float]) -> float:
    """The 95th percentile by nearest rank: a value that was measured, never interpolated."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def machine_speed() -> float:
    """Seconds for a fixed loop of ten million additions in Python, the best of three.

    The figures are absolute times, and a shared machine's speed moves between runs (this one,
    a 2-vCPU virtual machine, took 0.28 to 0.31 s idle and 0.38 s on a slow spell, which
    slowed every page alike): printed before and after each run, it says what the machine
    was doing while the figures were taken."""
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for i in range(10_000_000):
            total += i
        best = min(best, time.perf_counter() - started)
    return best
