"""The portfolio's charts as inline SVG drawn on the server, as monitoring/charts.py does
(ADR 0005): no JavaScript, presentation attributes only (the Content-Security-Policy holds),
the same markup in the page and the board pack PDF, and a ``<title>`` and ``<desc>`` that say
the figures in words for a screen reader."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from django.utils.safestring import SafeString, mark_safe

BAR = "#1f5fa8"
SECOND = "#b35c00"
AXIS = "#6c757d"
TEXT = "#1b1b1b"


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bars(
    title: str, rows: Sequence[tuple[str, float]], *, width: int = 420, unit: str = ""
) -> SafeString:
    """Horizontal bars, one per (label, value), the value written at the bar's end."""
    line = 20
    height = max(1, len(rows)) * line + 8
    label_w = 130
    most = max([v for _, v in rows] + [1])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" class="chart" aria-labelledby="t d">',
        f"<title>{escape(title)}</title>",
        "<desc>"
        + escape("; ".join(f"{label}: {_fmt(v)}{unit}" for label, v in rows) or "No data")
        + "</desc>",
    ]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * line
        w = (width - label_w - 60) * (value / most) if most else 0
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="11" '
            f'fill="{TEXT}">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{line - 6}" fill="{BAR}"/>'
        )
        parts.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="11" '
            f'fill="{TEXT}">{_fmt(value)}{escape(unit)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def columns(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    width: int = 420,
    height: int = 150,
    unit: str = "",
) -> SafeString:
    """Vertical columns per period (a month), one colour per series, side by side."""
    colours = [BAR, SECOND, AXIS]
    n = max(1, len(labels))
    left, bottom, top = 34, 20, 8
    plot_w, plot_h = width - left - 6, height - bottom - top
    values = [v for _, vs in series for v in vs if v is not None]
    most = max(values + [1])
    slot = plot_w / n
    bar_w = max(2.0, (slot - 4) / max(1, len(series)))
    desc = "; ".join(
        f"{name}: "
        + ", ".join(f"{lab} {_fmt(v)}{unit}" for lab, v in zip(labels, vs, strict=False))
        for name, vs in series
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" class="chart">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc or 'No data')}</desc>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 6}" y2="{top + plot_h}" '
        f'stroke="{AXIS}" stroke-width="1"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10" '
        f'fill="{AXIS}">{_fmt(most)}{escape(unit)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10" '
        f'fill="{AXIS}">0</text>',
    ]
    for i, lab in enumerate(labels):
        x0 = left + i * slot + 2
        for s, (name, vs) in enumerate(series):
            v = vs[i] if i < len(vs) else None
            if v is None:
                continue
            h = plot_h * (v / most) if most else 0
            parts.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                f'width="{bar_w - 1:.1f}" height="{h:.1f}" fill="{colours[s % 3]}">'
                f"<title>{escape(f'{name}, {lab}: {_fmt(v)}{unit}')}</title></rect>"
            )
        if n <= 12 or i % 2 == 0:
            parts.append(
                f'<text x="{x0 + slot / 2 - 2:.1f}" y="{height - 6}" text-anchor="middle" '
                f'font-size="9" fill="{AXIS}">{escape(lab)}</text>'
            )
    if len(series) > 1:
        legend = " · ".join(name for name, _ in series)
        parts.append(
            f'<text x={quoteattr(str(width - 6))} y="{top + 8}" text-anchor="end" '
            f'font-size="10" fill="{AXIS}">{escape(legend)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
