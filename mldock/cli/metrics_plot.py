"""A run's metrics as one self-contained HTML page: a line chart (inline SVG) per metric over its steps.

    html = render_html(records, title="dev-20261203-101500")
    Path(".mldock/runs/dev-20261203-101500/metrics.html").write_text(html)

No script, no stylesheet or font from elsewhere: the page opens from disk anywhere. Each chart's x axis is the
training step when every report of that metric gave one, else the report's position (1, 2, ...); nan and inf
values are left out of the line and counted under the chart. Metric names are escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from mldock.runtime.metrics import MetricRecord

__all__ = ["render_html", "series"]

WIDTH, HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 36
_COLOUR = "#1f6feb"


def series(records: Sequence[MetricRecord]) -> dict[str, list[MetricRecord]]:
    """The records of each metric, metrics in the order they were first reported."""
    grouped: dict[str, list[MetricRecord]] = {}
    for record in records:
        grouped.setdefault(record.name, []).append(record)
    return grouped


def render_html(records: Sequence[MetricRecord], title: str) -> str:
    """The page: a heading, then one chart per metric (see the module docstring)."""
    charts = "\n".join(_chart(name, points) for name, points in series(records).items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>metrics of {html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #1f2328; }}
section {{ margin-bottom: 28px; }}
h2 {{ font-size: 16px; margin: 0 0 4px; }}
p.note {{ font-size: 12px; color: #59636e; margin: 2px 0; }}
svg text {{ font-size: 11px; fill: #59636e; }}
</style>
</head>
<body>
<h1>metrics of {html.escape(title)}</h1>
{charts or '<p class="note">no metrics were reported</p>'}
</body>
</html>
"""


def _chart(name: str, records: list[MetricRecord]) -> str:
    by_step = all(r.step is not None for r in records)
    xs = [float(r.step) if by_step and r.step is not None else float(n) for n, r in enumerate(records, 1)]
    points = [(x, r.value) for x, r in zip(xs, records, strict=True) if math.isfinite(r.value)]
    left_out = len(records) - len(points)
    axis = "step" if by_step else "report"
    notes = [f"{len(records)} report{'s' if len(records) != 1 else ''}, x: {axis}"]
    if points:
        last = points[-1][1]
        notes.append(f"last {last:.6g}, min {min(y for _, y in points):.6g}, max {max(y for _, y in points):.6g}")
    if left_out:
        notes.append(f"{left_out} nan/inf value{'s' if left_out != 1 else ''} not drawn")
    svg = _svg(points, axis) if points else ""
    note = " · ".join(notes)
    return f'<section>\n<h2>{html.escape(name)}</h2>\n<p class="note">{html.escape(note)}</p>\n{svg}\n</section>'


def _svg(points: list[tuple[float, float]], axis: str) -> str:
    x_low, x_high = _span([x for x, _ in points])
    y_low, y_high = _span([y for _, y in points])
    inner_w, inner_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x_low) / (x_high - x_low) * inner_w

    def py(y: float) -> float:
        return _TOP + (y_high - y) / (y_high - y_low) * inner_h

    path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{_COLOUR}"/>' for x, y in points)
    bottom, right = HEIGHT - _BOTTOM, WIDTH - _RIGHT
    labels = [
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end">{y_high:.4g}</text>',
        f'<text x="{_LEFT - 6}" y="{bottom}" text-anchor="end">{y_low:.4g}</text>',
        f'<text x="{_LEFT}" y="{bottom + 16}" text-anchor="middle">{x_low:g}</text>',
        f'<text x="{right}" y="{bottom + 16}" text-anchor="middle">{x_high:g}</text>',
        f'<text x="{(_LEFT + right) / 2:.0f}" y="{bottom + 30}" text-anchor="middle">{axis}</text>',
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
        f'<rect x="{_LEFT}" y="{_TOP}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#d0d7de"/>'
        f'<polyline points="{path}" fill="none" stroke="{_COLOUR}" stroke-width="1.5"/>'
        f"{dots}{''.join(labels)}</svg>"
    )


def _span(values: list[float]) -> tuple[float, float]:
    """The range to draw `values` in; a single value (or a flat line) gets a range around it."""
    low, high = min(values), max(values)
    if high > low:
        return low, high
    pad = abs(low) * 0.5 or 1.0
    return low - pad, high + pad
