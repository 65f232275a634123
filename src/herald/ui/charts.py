"""Small inline SVG line charts, rendered on the server (no JavaScript, no chart library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 560, 160
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 22


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float | None]  # None: no data in that slice (the line breaks)
    css_class: str


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"


def line_chart(
    title: str, starts: Sequence[float], series: Sequence[Series], unit: str, y_max: float | None = None
) -> str:
    """An SVG of one or more series over the same time slices (`starts`: epoch seconds of each slice)."""
    n = len(starts)
    present = [v for s in series for v in s.values if v is not None]
    top = y_max if y_max is not None else max([*present, 1.0]) * 1.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / n if n else 0)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - min(v, top) / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0.0, 0.5, 1.0):
        gy = TOP + plot_h * (1 - frac)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 4}" y="{gy + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(top * frac, unit))}</text>"
        )
    if n:
        for i in (0, n - 1):
            label = axis_label(starts[0], starts[n - 1], starts[i]) + (" UTC" if i else "")
            anchor = "start" if i == 0 else "end"
            tx = LEFT if i == 0 else WIDTH - RIGHT
            parts.append(
                f'<text class="axis" x="{tx}" y="{HEIGHT - 6}" text-anchor="{anchor}">{label}</text>'
            )
    for s in series:
        run: list[str] = []
        runs: list[list[str]] = []
        for i, v in enumerate(s.values):
            if v is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(f"{x(i):.1f},{y(v):.1f}")
        if run:
            runs.append(run)
        for r in runs:
            if len(r) == 1:
                cx, cy = r[0].split(",")
                parts.append(f'<circle class="{s.css_class}" cx="{cx}" cy="{cy}" r="2.5"/>')
            else:
                parts.append(f'<polyline class="{s.css_class}" points="{" ".join(r)}"/>')
    legend_x = LEFT + 6
    for s in series:
        parts.append(
            f'<text class="legend {s.css_class}" x="{legend_x}" y="{TOP + 12}">{escape(s.label)}</text>'
        )
        legend_x += 10 + 7 * len(s.label)
    parts.append("</svg>")
    return "".join(parts)


def axis_label(first: float, last: float, at: float) -> str:
    """The time axis' end label: HH:MM within one day, with the date when the window spans days (24 h,
    7 d), so that "06:01 … 05:01" reads as yesterday to today."""
    one_day = datetime.fromtimestamp(first, UTC).date() == datetime.fromtimestamp(last, UTC).date()
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M" if one_day else "%d %b %H:%M")
