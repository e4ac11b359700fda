"""Charts as inline SVG, drawn in plain Python on the server.

No JavaScript and no chart library: the same markup goes into the page and into the PDF
(WeasyPrint renders inline SVG), and the strict Content-Security-Policy holds (presentation
attributes only, never a ``style`` attribute). Every chart is ``<svg role="img">`` with a
``<title>`` and a ``<desc>`` that says in words what the lines show (latest, min, max), so a
screen reader gets the figures a sighted reader gets from the shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

# Colours with at least 3:1 contrast on white (WCAG non-text contrast).
LINE = "#1f5fa8"
BAND = "#c9d9ee"
THRESHOLD = "#b35c00"
BREACH = "#c0262d"
AXIS = "#6c757d"
SHADE = "#fde7c8"


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a series: a bucket's average, its min and max when down-sampled, and how
    many samples it holds."""

    at: datetime
    value: float
    low: float | None = None
    high: float | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    label: str = ""


@dataclass(frozen=True, slots=True)
class Marker:
    """A breach: where a rule's flag was raised, at the value it saw."""

    at: datetime
    value: float
    label: str = ""


# Series with this few points also get a dot per point.
SHOW_POINTS_UP_TO = 60
# A pointer over a point shows its value: every point gets a hover target (a visible dot
# when the series is sparse, an unpainted one around the line when it is dense).
HOVER_RADIUS = 5


def fmt(value: float) -> str:
    """A figure short enough for an axis label."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _n(x: float) -> str:
    """A coordinate with two decimals: small markup, and stable for tests to compare."""
    return f"{x:.2f}"


class _Scale:
    """Maps times and values onto the plot area (y grows downwards in SVG)."""

    def __init__(self, t0: float, t1: float, v0: float, v1: float, box: tuple[float, ...]):
        self.t0, self.t1 = t0, (t1 if t1 > t0 else t0 + 1)
        if v1 <= v0:  # a flat series: give it a band to sit in
            pad = abs(v0) * 0.1 or 1.0
            v0, v1 = v0 - pad, v1 + pad
        self.v0, self.v1 = v0, v1
        self.left, self.top, self.right, self.bottom = box

    def x(self, at: datetime | float) -> float:
        t = at.timestamp() if isinstance(at, datetime) else at
        return self.left + (t - self.t0) / (self.t1 - self.t0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.v0) / (self.v1 - self.v0) * (self.bottom - self.top)


def _nice_domain(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo >= 0 and hi > 0 and lo < hi * 0.5:
        lo = 0.0  # rates and counts read better from zero
    span = hi - lo
    return lo, hi + span * 0.05 if span else hi


@dataclass(frozen=True, slots=True)
class Latest:
    """The last raw sample of a series (not a bucket's average) and how many there were."""

    at: datetime
    value: float
    count: int | None = None


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def summary(
    points: Sequence[Point],
    latest: Latest | None = None,
    value_format: Callable[[float], str] = fmt,
) -> str:
    if not points:
        return "No samples in this period."
    lows = [p.low if p.low is not None else p.value for p in points]
    highs = [p.high if p.high is not None else p.value for p in points]
    last = latest or points[-1]
    counted = ""
    if latest is not None and latest.count is not None:
        counted = f"{latest.count:,} sample{'s' if latest.count != 1 else ''} in this period; "
    return (
        f"Latest {value_format(last.value)} at {_utc(last.at)}; {counted}"
        f"min {value_format(min(lows))}, max {value_format(max(highs))} over "
        f"{len(points)} point{'s' if len(points) != 1 else ''}."
    )


def _point_title(point: Point, value_format: Callable[[float], str]) -> str:
    """What hovering a point says: its value and time, and its range when down-sampled."""
    text = f"{value_format(point.value)} at {_utc(point.at)}"
    if point.low is not None and point.high is not None and point.low != point.high:
        text += f" (average; min {value_format(point.low)}, max {value_format(point.high)}"
        text += f", {point.count:,} samples)" if point.count else ")"
    return text


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    thresholds: Sequence[Threshold] = (),
    markers: Sequence[Marker] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    shade: tuple[datetime, datetime] | None = None,
    width: int = 640,
    height: int = 220,
    latest: Latest | None = None,
    value_format: Callable[[float], str] = fmt,
    tick_format: Callable[[float], str] = fmt,
) -> SafeString:
    """A time series: the average line, its min-max band, dashed thresholds, red breaches.

    ``start``/``end`` fix the time axis (the range the person chose); ``shade`` marks a
    window (a rule's evaluation window on a flag's page). ``latest`` is the last raw sample
    for the description; ``value_format`` writes values with their unit (hover titles,
    the description, a single sample's label), ``tick_format`` the value axis.
    """
    box = (56.0, 12.0, float(width - 12), float(height - 30))
    left, top, right, bottom = box
    times = [p.at.timestamp() for p in points] + [m.at.timestamp() for m in markers]
    t0 = start.timestamp() if start else min(times, default=0.0)
    t1 = end.timestamp() if end else max(times, default=1.0)
    values = [p.value for p in points]
    values += [p.low for p in points if p.low is not None]
    values += [p.high for p in points if p.high is not None]
    values += [t.value for t in thresholds] + [m.value for m in markers]
    v0, v1 = _nice_domain(values) if values else (0.0, 1.0)
    scale = _Scale(t0, t1, v0, v1, box)
    desc = summary(points, latest, value_format)
    if thresholds:
        desc += " Thresholds: " + ", ".join(value_format(t.value) for t in thresholds) + "."
    if markers:
        desc += f" {len(markers)} breach{'es' if len(markers) != 1 else ''} marked."
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
    ]
    if shade:
        x0, x1 = (max(left, min(right, scale.x(t))) for t in shade)
        out.append(
            f'<rect class="window" x="{_n(x0)}" y="{_n(top)}" width="{_n(max(x1 - x0, 1))}" '
            f'height="{_n(bottom - top)}" fill="{SHADE}"/>'
        )
    # Axes with three value ticks and three time ticks.
    out.append(
        f'<g class="axes" stroke="{AXIS}" stroke-width="1">'
        f'<line x1="{_n(left)}" y1="{_n(top)}" x2="{_n(left)}" y2="{_n(bottom)}"/>'
        f'<line x1="{_n(left)}" y1="{_n(bottom)}" x2="{_n(right)}" y2="{_n(bottom)}"/></g>'
    )
    out.append(f'<g class="labels" fill="{AXIS}">')
    for v in (scale.v0, (scale.v0 + scale.v1) / 2, scale.v1):
        out.append(
            f'<text x="{_n(left - 4)}" y="{_n(scale.y(v) + 4)}" text-anchor="end">'
            f"{escape(tick_format(v))}</text>"
        )
    span = scale.t1 - scale.t0
    time_format = "%H:%M" if span <= 2 * 86400 else "%d %b"
    for t, anchor in (
        (scale.t0, "start"),
        ((scale.t0 + scale.t1) / 2, "middle"),
        (scale.t1, "end"),
    ):
        label = timezone.localtime(datetime.fromtimestamp(t, tz=UTC)).strftime(time_format)
        out.append(
            f'<text x="{_n(scale.x(t))}" y="{_n(bottom + 16)}" text-anchor="{anchor}">'
            f"{escape(label)}</text>"
        )
    out.append("</g>")
    banded = [(p.at, p.low, p.high) for p in points if p.low is not None and p.high is not None]
    if len(banded) > 1 and any(low != high for _, low, high in banded):
        upper = [f"{_n(scale.x(at))},{_n(scale.y(high))}" for at, _, high in banded]
        lower = [f"{_n(scale.x(at))},{_n(scale.y(low))}" for at, low, _ in reversed(banded)]
        out.append(
            f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{BAND}" '
            'fill-opacity="0.7"/>'
        )
    # Thresholds under the points, so that a point on a threshold still takes the pointer.
    for threshold in thresholds:
        y = scale.y(threshold.value)
        label = threshold.label or f"threshold {value_format(threshold.value)}"
        out.append(
            f'<g class="threshold" data-value={quoteattr(repr(threshold.value))}>'
            f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(right)}" y2="{_n(y)}" '
            f'stroke="{THRESHOLD}" stroke-width="1.2" stroke-dasharray="6 4"/>'
            f'<text x="{_n(right - 2)}" y="{_n(y - 3)}" text-anchor="end" fill="{THRESHOLD}">'
            f"{escape(label)}</text></g>"
        )
    if points:
        coords = " ".join(f"{_n(scale.x(p.at))},{_n(scale.y(p.value))}" for p in points)
        out.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{LINE}" '
            'stroke-width="1.5" stroke-linejoin="round"/>'
        )
        if len(points) == 1:
            # One sample is a marker with its value written beside it, not a lone dot.
            only = points[0]
            x, y = scale.x(only.at), scale.y(only.value)
            anchor = "end" if x > (left + right) / 2 else "start"
            dx = -9 if anchor == "end" else 9
            out.append(
                f'<circle class="point single" cx="{_n(x)}" cy="{_n(y)}" r="{HOVER_RADIUS}" '
                f'fill="{LINE}" stroke="#fff" stroke-width="1.5">'
                f"<title>{escape(_point_title(only, value_format))}</title></circle>"
                f'<text class="value" x="{_n(x + dx)}" y="{_n(y - 8)}" text-anchor="{anchor}" '
                f'fill="{LINE}" font-weight="bold">{escape(value_format(only.value))}</text>'
            )
        elif len(points) <= SHOW_POINTS_UP_TO:
            # A sparse series (drift pushed once a day, say) is a few points, not a line.
            out.extend(
                f'<circle class="point" cx="{_n(scale.x(p.at))}" cy="{_n(scale.y(p.value))}" '
                f'r="3" fill="{LINE}"><title>{escape(_point_title(p, value_format))}</title>'
                "</circle>"
                for p in points
            )
        else:
            # Dense: unpainted targets that still take the pointer (fill is set, opacity 0).
            out.append('<g class="hover">')
            out.extend(
                f'<circle cx="{_n(scale.x(p.at))}" cy="{_n(scale.y(p.value))}" '
                f'r="{HOVER_RADIUS}" fill="{LINE}" fill-opacity="0">'
                f"<title>{escape(_point_title(p, value_format))}</title></circle>"
                for p in points
            )
            out.append("</g>")
    else:
        out.append(
            f'<text x="{_n((left + right) / 2)}" y="{_n((top + bottom) / 2)}" '
            f'text-anchor="middle" fill="{AXIS}">No samples in this period</text>'
        )
    for m in markers:
        if not (scale.t0 <= m.at.timestamp() <= scale.t1):
            continue
        out.append(
            f'<circle class="breach" cx="{_n(scale.x(m.at))}" cy="{_n(scale.y(m.value))}" '
            f'r="4.5" fill="{BREACH}" stroke="#fff" stroke-width="1">'
            f"<title>{escape(m.label or 'Breach')}: {escape(value_format(m.value))} at "
            f"{_utc(m.at)}</title></circle>"
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every text and attribute above is escaped


def sparkline(
    points: Sequence[Point],
    *,
    title: str,
    threshold: float | None = None,
    width: int = 140,
    height: int = 32,
) -> SafeString:
    """A small trend line with no axes, for a card; its figures are in the title and desc."""
    box = (2.0, 3.0, float(width - 2), float(height - 3))
    values = [p.value for p in points] + ([threshold] if threshold is not None else [])
    v0, v1 = (min(values), max(values)) if values else (0.0, 1.0)
    times = [p.at.timestamp() for p in points]
    scale = _Scale(min(times, default=0), max(times, default=1), v0, v1, box)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="sparkline" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title><desc>{escape(summary(points))}</desc>",
    ]
    if threshold is not None and math.isfinite(threshold):
        y = scale.y(threshold)
        out.append(
            f'<line class="threshold" x1="{_n(box[0])}" y1="{_n(y)}" x2="{_n(box[2])}" '
            f'y2="{_n(y)}" stroke="{THRESHOLD}" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    if len(points) > 1:
        coords = " ".join(f"{_n(scale.x(p.at))},{_n(scale.y(p.value))}" for p in points)
        out.append(
            f'<polyline class="series" points="{coords}" fill="none" stroke="{LINE}" '
            'stroke-width="1.5"/>'
        )
    if points:
        last = points[-1]
        out.append(
            f'<circle cx="{_n(scale.x(last.at))}" cy="{_n(scale.y(last.value))}" r="2" '
            f'fill="{LINE}"/>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - escaped above


REFERENCE_BAR = "#8a94a0"


def histogram(
    bins: Sequence[str],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    title: str,
    width: int = 220,
    height: int = 64,
) -> SafeString:
    """Reference and current shares side by side per bin (grey and blue), as Evidently draws
    a feature's distributions in its data drift report; each bar's share is its title."""
    box = (2.0, 4.0, float(width - 2), float(height - 2))
    left, top, right, bottom = box
    tallest = max([*reference, *current, 0.0]) or 1.0
    slot = (right - left) / max(len(bins), 1)
    bar = max(slot * 0.4, 0.5)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="histogram" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        "<desc>"
        + escape(
            "; ".join(
                f"{name}: reference {ref:.0%}, current {cur:.0%}"
                for name, ref, cur in zip(bins, reference, current, strict=False)
            )
        )
        + "</desc>",
        f'<line x1="{_n(left)}" y1="{_n(bottom)}" x2="{_n(right)}" y2="{_n(bottom)}" '
        f'stroke="{AXIS}" stroke-width="1"/>',
    ]
    for i, (name, ref, cur) in enumerate(zip(bins, reference, current, strict=False)):
        x = left + i * slot + slot * 0.1
        for side, share, colour, dx in (
            ("reference", ref, REFERENCE_BAR, 0.0),
            ("current", cur, LINE, bar),
        ):
            h = share / tallest * (bottom - top)
            out.append(
                f'<rect class="{side}" x="{_n(x + dx)}" y="{_n(bottom - h)}" width="{_n(bar)}" '
                f'height="{_n(h)}" fill="{colour}"><title>{escape(name)}: {side} '
                f"{share:.1%}</title></rect>"
            )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - escaped above
