"""Drift between a reference and a current distribution: pure statistics, no database.

The figures follow Evidently 0.7 (``evidently.legacy.calculations.stattests``: ``psi``,
``ks``, ``jensenshannon``, ``chisquare``) step for step, so the portal's numbers agree with a
widely used library on the same data (tests/monitoring/test_drift.py runs Evidently and
compares). What that means precisely:

Inputs (``parse_distribution``)
    numeric: raw values ``[1.5, 2, ...]`` (or ``{"values": [...]}``), or binned counts
    ``{"edges": [e0, ..., en], "counts": [c1, ..., cn]}`` with strictly increasing edges;
    categorical: raw values ``["a", "b", ...]`` (or ``{"values": [...]}``), or
    ``{"counts": {"a": 3, "b": 0}}``. Counts are non-negative finite numbers; each side needs
    at least one observation.

Binning of numeric raw values (both sides raw), as Evidently's ``get_binned_data``
    - more than 20 distinct reference values: equal-width bins spanning the smallest to the
      largest value of reference and current together, their number by Sturges' rule on the
      combined count (``numpy.histogram_bin_edges(combined, bins="sturges")``); each bin is
      half-open ``[a, b)`` except the last, which is closed ``[a, b]``;
    - 20 distinct reference values or fewer: each distinct value (of either side) is a bin
      of its own, as for categories.
    When one side is binned and the other raw, the raw values are counted into the binned
    side's bins, the first and last bins stretched to -inf and +inf so that no value is lost.
    Two binned sides must have the same edges.

Empty bins
    PSI takes a logarithm of each bin's share, so a zero share is replaced, on each side
    separately, by 0.0001 (or, when a non-empty bin's share is itself at most 0.0001, by a
    millionth of the smallest non-empty share). Shares are not renormalised afterwards.
    Jensen-Shannon needs no such replacement (0 * log 0 is 0) and uses the shares as they are.

Figures
    - PSI: sum over bins of (ref - cur) * ln(ref / cur), on shares.
    - Jensen-Shannon distance: ``scipy.spatial.distance.jensenshannon`` of the shares with
      the natural logarithm (Evidently's default), so it lies in [0, sqrt(ln 2) ~ 0.833].
    - Kolmogorov-Smirnov (numeric): on two raw samples ``scipy.stats.ks_2samp`` (two-sided,
      exact or asymptotic as scipy chooses) gives the statistic and its p-value; when either
      side is binned the statistic is the largest gap between the two binned cumulative
      shares at the bin edges, and no p-value is given (binned data breaks the test's
      assumption of continuous values).
    - Chi-square (categorical): goodness of fit of the current counts against the
      reference's shares scaled to the current total (``scipy.stats.chisquare``). A category
      the reference never saw but the current has makes the statistic infinite: then only
      the p-value (0) is given. With a single category in all there is nothing to differ:
      statistic 0, p-value 1.
Categories seen only in the current distribution count as categories of their own.
"""

import math
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

# Evidently's switch between value-as-bin and equal-width bins for numeric data.
DISCRETE_MAX_DISTINCT = 20
# The share an empty bin gets before PSI takes its logarithm (Evidently's rule).
EMPTY_SHARE = 0.0001
# What one push may carry: enough for any sensible sample, small enough to keep as JSON.
MAX_VALUES = 100_000
MAX_BINS = 1_000
MAX_CATEGORY_LENGTH = 200

NUMERIC = "numeric"
CATEGORICAL = "categorical"


class DistributionError(ValueError):
    """A distribution that cannot be read; the message says what to send instead."""


@dataclass(frozen=True)
class Distribution:
    """One side, normalised. Exactly one of values / (edges, counts) / categories is set."""

    kind: str
    values: tuple[float, ...] | None = None
    edges: tuple[float, ...] | None = None
    counts: tuple[float, ...] | None = None
    categories: dict[str, float] | None = None

    @property
    def binned(self) -> bool:
        return self.edges is not None

    def as_data(self) -> dict:
        """The JSON kept in ReferenceDistribution.data (categories always as counts)."""
        if self.categories is not None:
            return {"counts": dict(self.categories)}
        if self.edges is not None:
            return {"edges": list(self.edges), "counts": list(self.counts or ())}
        return {"values": list(self.values or ())}


@dataclass(frozen=True)
class DriftFigures:
    psi: float
    js: float
    ks: float | None = None
    ks_p: float | None = None
    chi2: float | None = None
    chi2_p: float | None = None

    def as_metrics(self) -> dict[str, float]:
        """{"drift.psi": 0.12, ...}: the figures that apply, under their metric names."""
        return {f"drift.{name}": value for name, value in asdict(self).items() if value is not None}


# Reading input ------------------------------------------------------------------------------
def _number(raw, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise DistributionError(f"{what} must be numbers ({str(raw)[:30]!r} is not).")
    value = float(raw)
    if not math.isfinite(value):
        raise DistributionError(f"{what} must be finite numbers.")
    return value


def _count(raw) -> float:
    value = _number(raw, "Counts")
    if value < 0:
        raise DistributionError("Counts cannot be negative.")
    return value


def _list(raw, what: str, limit: int) -> list:
    if not isinstance(raw, list):
        raise DistributionError(f"{what} must be a list.")
    if len(raw) > limit:
        raise DistributionError(f"Send at most {limit:,} {what.lower()}.")
    return raw


def _category(raw) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise DistributionError(f"Categories are non-empty text ({str(raw)[:30]!r} is not).")
    if len(raw) > MAX_CATEGORY_LENGTH:
        raise DistributionError(f"A category is at most {MAX_CATEGORY_LENGTH} characters.")
    return raw


def parse_distribution(kind: str, raw) -> Distribution:
    """Read one side as pushed; DistributionError says what is wrong with it."""
    if kind not in (NUMERIC, CATEGORICAL):
        raise DistributionError("The kind is 'numeric' or 'categorical'.")
    if isinstance(raw, list):
        raw = {"values": raw}
    if not isinstance(raw, dict):
        raise DistributionError(
            "Send a list of values, {'edges': [...], 'counts': [...]} or {'counts': {...}}."
        )
    if "values" in raw:
        values = _list(raw["values"], "Values", MAX_VALUES)
        if not values:
            raise DistributionError("Send at least one observation.")
        if kind == NUMERIC:
            return Distribution(kind, values=tuple(_number(v, "Values") for v in values))
        return Distribution(kind, categories=dict(Counter(_category(v) for v in values)))
    if kind == CATEGORICAL:
        counts = raw.get("counts")
        if not isinstance(counts, dict):
            raise DistributionError(
                "Categorical counts are {'counts': {'category': n, ...}}, or send a list."
            )
        if len(counts) > MAX_BINS:
            raise DistributionError(f"Send at most {MAX_BINS:,} categories.")
        categories = {_category(k): _count(v) for k, v in counts.items()}
        if sum(categories.values()) <= 0:
            raise DistributionError("Send at least one observation.")
        return Distribution(kind, categories=categories)
    if "edges" not in raw or "counts" not in raw:
        raise DistributionError(
            "Binned numbers are {'edges': [...], 'counts': [...]}, or send a list of values."
        )
    edges = [_number(e, "Edges") for e in _list(raw["edges"], "Edges", MAX_BINS + 1)]
    counts = [_count(c) for c in _list(raw["counts"], "Counts", MAX_BINS)]
    if not counts:
        raise DistributionError("Send at least one bin.")
    if len(edges) != len(counts) + 1:
        raise DistributionError(
            f"{len(counts)} counts need {len(counts) + 1} edges, not {len(edges)}."
        )
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise DistributionError("Edges must be strictly increasing.")
    if sum(counts) <= 0:
        raise DistributionError("Send at least one observation.")
    return Distribution(kind, edges=tuple(edges), counts=tuple(counts))


# The figures --------------------------------------------------------------------------------
def _fill_empty(shares: np.ndarray) -> np.ndarray:
    """Evidently's replacement of zero shares, so that PSI's logarithm is finite."""
    shares = shares.copy()
    smallest = shares[shares != 0].min()
    shares[shares == 0] = smallest / 10**6 if smallest <= EMPTY_SHARE else EMPTY_SHARE
    return shares


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population Stability Index of two count (or share) vectors over the same bins."""
    ref = _fill_empty(reference / reference.sum())
    cur = _fill_empty(current / current.sum())
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (natural logarithm) of two count vectors over the same bins."""
    return float(distance.jensenshannon(reference / reference.sum(), current / current.sum()))


def ks_binned(reference: np.ndarray, current: np.ndarray) -> float:
    """The largest gap between the two cumulative shares, read at the bin edges."""
    gaps = np.cumsum(reference / reference.sum()) - np.cumsum(current / current.sum())
    return float(np.max(np.abs(gaps)))


def chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float | None, float]:
    """Goodness of fit of the current counts to the reference's shares: (statistic, p)."""
    if len(reference) < 2:
        return 0.0, 1.0
    expected = reference * (current.sum() / reference.sum())
    if np.any((expected == 0) & (current > 0)):
        # Something the reference says never happens did: certain drift, unbounded statistic.
        return None, 0.0
    # Bins empty on both sides add nothing and would divide 0 by 0.
    keep = expected > 0
    if keep.sum() < 2:
        return 0.0, 1.0
    statistic, p_value = stats.chisquare(current[keep], expected[keep])
    return float(statistic), float(p_value)


def _category_counts(reference: dict[str, float], current: dict[str, float]):
    keys = sorted(set(reference) | set(current))
    return (
        np.array([reference.get(k, 0.0) for k in keys], dtype=float),
        np.array([current.get(k, 0.0) for k in keys], dtype=float),
    )


def _raw_counts(reference: np.ndarray, current: np.ndarray):
    """Both sides' counts over Evidently's bins for two raw numeric samples."""
    if len(np.unique(reference)) > DISCRETE_MAX_DISTINCT:
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        return (
            np.histogram(reference, edges)[0].astype(float),
            np.histogram(current, edges)[0].astype(float),
        )
    keys = np.union1d(reference, current)
    ref_values, ref_counts = np.unique(reference, return_counts=True)
    cur_values, cur_counts = np.unique(current, return_counts=True)
    ref = np.zeros(len(keys))
    cur = np.zeros(len(keys))
    ref[np.searchsorted(keys, ref_values)] = ref_counts
    cur[np.searchsorted(keys, cur_values)] = cur_counts
    return ref, cur


def _count_into(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Raw values counted into given bins, the outer bins open to -inf and +inf."""
    open_edges = np.array(edges, dtype=float)
    open_edges[0], open_edges[-1] = -np.inf, np.inf
    # searchsorted on the inner edges: bin i holds [edge_i, edge_i+1).
    index = np.searchsorted(open_edges[1:-1], values, side="right")
    return np.bincount(index, minlength=len(edges) - 1).astype(float)


def compare(reference: Distribution, current: Distribution) -> DriftFigures:
    """The drift figures of current against reference (which must be of the same kind)."""
    if reference.kind != current.kind:
        raise DistributionError(
            f"The reference is {reference.kind} and the current is {current.kind}."
        )
    if reference.kind == CATEGORICAL:
        ref, cur = _category_counts(reference.categories or {}, current.categories or {})
        chi2, chi2_p = chi_square(ref, cur)
        return DriftFigures(psi=psi(ref, cur), js=js_distance(ref, cur), chi2=chi2, chi2_p=chi2_p)
    if not reference.binned and not current.binned:
        ref_values = np.array(reference.values, dtype=float)
        cur_values = np.array(current.values, dtype=float)
        ref, cur = _raw_counts(ref_values, cur_values)
        ks = stats.ks_2samp(ref_values, cur_values)
        return DriftFigures(
            psi=psi(ref, cur),
            js=js_distance(ref, cur),
            ks=float(ks.statistic),
            ks_p=float(ks.pvalue),
        )
    if reference.binned and current.binned:
        if reference.edges != current.edges:
            raise DistributionError("The current distribution's edges must be the reference's.")
        ref = np.array(reference.counts, dtype=float)
        cur = np.array(current.counts, dtype=float)
    elif reference.binned:
        ref = np.array(reference.counts, dtype=float)
        cur = _count_into(np.array(current.values, dtype=float), reference.edges or ())
    else:
        cur = np.array(current.counts, dtype=float)
        ref = _count_into(np.array(reference.values, dtype=float), current.edges or ())
    return DriftFigures(psi=psi(ref, cur), js=js_distance(ref, cur), ks=ks_binned(ref, cur))


@dataclass(frozen=True)
class Histogram:
    """Both sides' shares over the bins the figures were computed on, for drawing."""

    bins: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


def _edge(value: float) -> str:
    return f"{value:.3g}"


def histogram(reference: Distribution, current: Distribution) -> Histogram:
    """The bins ``compare`` uses (same rules as above), with each side's share per bin."""
    if reference.kind != current.kind:
        raise DistributionError(
            f"The reference is {reference.kind} and the current is {current.kind}."
        )
    if reference.kind == CATEGORICAL:
        names = sorted(set(reference.categories or {}) | set(current.categories or {}))
        ref, cur = _category_counts(reference.categories or {}, current.categories or {})
    elif not reference.binned and not current.binned:
        ref_values = np.array(reference.values, dtype=float)
        cur_values = np.array(current.values, dtype=float)
        if len(np.unique(ref_values)) > DISCRETE_MAX_DISTINCT:
            edges = np.histogram_bin_edges(np.concatenate([ref_values, cur_values]), "sturges")
            names = [f"{_edge(a)}–{_edge(b)}" for a, b in zip(edges, edges[1:], strict=False)]
        else:
            names = [_edge(v) for v in np.union1d(ref_values, cur_values)]
        ref, cur = _raw_counts(ref_values, cur_values)
    else:
        bin_edges = tuple((reference.edges if reference.binned else current.edges) or ())
        names = [f"{_edge(a)}–{_edge(b)}" for a, b in zip(bin_edges, bin_edges[1:], strict=False)]
        if reference.binned and current.binned:
            ref = np.array(reference.counts, dtype=float)
            cur = np.array(current.counts, dtype=float)
        elif reference.binned:
            ref = np.array(reference.counts, dtype=float)
            cur = _count_into(np.array(current.values, dtype=float), bin_edges)
        else:
            cur = np.array(current.counts, dtype=float)
            ref = _count_into(np.array(reference.values, dtype=float), bin_edges)
    return Histogram(
        bins=tuple(names),
        reference=tuple(float(x) for x in ref / ref.sum()),
        current=tuple(float(x) for x in cur / cur.sum()),
    )
