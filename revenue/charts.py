"""Charts drawn on the server as inline SVG: no script, no CDN, readable at 390 px.

Each chart scales to its container (viewBox, width 100%) and carries a <title> per bar, so a
hover or a screen reader gives the figure; the same numbers are in the table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass
class MonthBar:
    """One month of the revenue chart."""

    label: str  # "2026-09"
    earned: float
    missed: float
    potential: float
    preliminary: bool
    selected: bool = False
    href: str = ""


def money(value: float | None) -> str:
    """$12,345 (whole dollars; cents below $100)."""
    if value is None:
        return "—"
    if abs(value) < 100:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def revenue_by_month(bars: Sequence[MonthBar], *, height: int = 220) -> SafeString:
    """Stacked bars per month: earned (green) under missed (red), up to the potential.

    Preliminary months are drawn hatched and labelled "P" (their figures may still change).
    """
    if not bars:
        return mark_safe('<p class="muted">No revenue report yet.</p>')  # noqa: S308
    width = max(360, 56 * len(bars))
    top, bottom, left = 14, 34, 8
    plot = height - top - bottom
    peak = max((max(b.potential, b.earned + b.missed) for b in bars), default=0) or 1.0
    slot = (width - left) / len(bars)
    bar_w = slot * 0.62
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="Earned and missed revenue by month" preserveAspectRatio="xMidYMid meet">',
        '<defs><pattern id="prelim" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#2e7d32"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#a5d6a7" stroke-width="3"/></pattern></defs>',
        f'<line x1="{left}" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#bbb"/>',
    ]
    for i, bar in enumerate(bars):
        x = left + i * slot + (slot - bar_w) / 2
        earned_h = plot * max(bar.earned, 0) / peak
        missed_h = plot * max(bar.missed, 0) / peak
        y_earned = top + plot - earned_h
        y_missed = y_earned - missed_h
        fill = "url(#prelim)" if bar.preliminary else "#2e7d32"
        status = "preliminary" if bar.preliminary else "final"
        title = escape(
            f"{bar.label} ({status}): earned {money(bar.earned)}, missed {money(bar.missed)}, "
            f"potential {money(bar.potential)}"
        )
        group = f'<g class="bar{" is-selected" if bar.selected else ""}"><title>{title}</title>'
        group += (
            f'<rect x="{x:.1f}" y="{y_missed:.1f}" width="{bar_w:.1f}" height="{missed_h:.1f}" '
            f'fill="#c62828" opacity="0.75"/>'
            f'<rect x="{x:.1f}" y="{y_earned:.1f}" width="{bar_w:.1f}" height="{earned_h:.1f}" '
            f'fill="{fill}"/>'
        )
        if bar.selected:
            group += (
                f'<rect x="{x - 2:.1f}" y="{top - 2}" width="{bar_w + 4:.1f}" '
                f'height="{plot + 4}" fill="none" stroke="#1565c0" stroke-width="2"/>'
            )
        label = escape(bar.label[2:].replace("-", "/"))
        group += (
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="12">{label}</text>'
        )
        if bar.preliminary:
            group += (
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 30}" '
                f'text-anchor="middle" font-size="11" fill="#8a6d00">P</text>'
            )
        group += "</g>"
        if bar.href:
            group = f'<a href="{escape(bar.href)}">{group}</a>'
        parts.append(group)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is ours or escaped


def spark(values: Sequence[float | None], *, width: int = 160, height: int = 36) -> SafeString:
    """A small line of values (e.g. a meter's response percentage by month)."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return mark_safe("")  # noqa: S308
    peak = max(max(v for _, v in points), 1.0)
    step = width / max(len(values) - 1, 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 2 - (height - 4) * v / peak:.1f}" for i, v in points
    )
    return mark_safe(  # noqa: S308 - numbers only
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-hidden="true"><polyline points="{coords}" fill="none" stroke="#1565c0" '
        f'stroke-width="2"/></svg>'
    )
