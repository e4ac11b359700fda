"""The figures every benchmark prints of its timings."""

import math


def p95(values: list[float]) -> float:
    """The 95th percentile by nearest rank: a value that was measured, never interpolated."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
