"""The scale curve's table (markdown) and plot (a hand-written SVG: no plotting library).

One panel per path; x: worker processes, y: events (rows) per second, one line per
partition count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["ScalePoint", "nice_ceiling", "render_svg", "render_table"]

_COLOURS = ("#1b6ca8", "#d1495b", "#2a9d50", "#8a5ab8", "#e08a00", "#555555")
_PANEL_W, _PANEL_H = 380, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 16, 48, 42
_TITLES = {"e2e-dedup": "fused path (dedup role)", "e2e-ingest": "ingest (normalize + sink)"}


@dataclass(frozen=True)
class ScalePoint:
    path: str
    workers: int
    partitions: int
    events: int  # input events (alarms) of the timed pass
    seconds: float
    input_seconds: float  # the producer's own time for the input

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def line(self) -> str:
        return (
            f"{self.path:<10} {self.workers} worker(s) x {self.partitions:>2} partition(s):"
            f" {self.events:>9,} in {self.seconds:7.2f} s = {self.rate:>10,.0f}/s"
            f" (input sent in {self.input_seconds:.2f} s)"
        )


def _rate(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value / 1000:,.1f} k/s" if value >= 1000 else f"{value:,.0f} /s"


def _paths(points: Sequence[ScalePoint]) -> list[str]:
    return list(dict.fromkeys(p.path for p in points))


def render_table(points: Sequence[ScalePoint], caption: str) -> str:
    """Markdown: a row per path and partition count, a column per worker count."""
    workers = sorted({p.workers for p in points})
    by = {(p.path, p.partitions, p.workers): p for p in points}
    head = "| path | partitions | " + " | ".join(f"{w} worker{'s' * (w > 1)}" for w in workers)
    lines = [head + " |", "|---|---:|" + "---:|" * len(workers)]
    for path in _paths(points):
        for parts in sorted({p.partitions for p in points if p.path == path}):
            cells = [by.get((path, parts, w)) for w in workers]
            shown = ["" if c is None else _rate(c.rate) for c in cells]
            lines.append(f"| {path} | {parts} | " + " | ".join(shown) + " |")
    return "\n".join(lines) + f"\n\n{caption}\n"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (an axis's top)."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    return next(m * exp for m in (1, 2, 2.5, 5, 10) if m * exp >= value)


def _hline(x1: float, x2: float, y: float, style: str) -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" {style}/>'


def _panel(points: Sequence[ScalePoint], path: str, x0: float, workers: list[int]) -> list[str]:
    mine = [p for p in points if p.path == path]
    top = nice_ceiling(max(p.rate for p in mine))
    w, h = _PANEL_W - _LEFT - _RIGHT, _PANEL_H - _TOP - _BOTTOM
    span = max(len(workers) - 1, 1)

    def px(n_workers: int) -> float:
        return x0 + _LEFT + w * (workers.index(n_workers) / span if len(workers) > 1 else 0.5)

    def py(rate: float) -> float:
        return _TOP + h * (1 - rate / top)

    out = [
        f'<text x="{x0 + _PANEL_W / 2:.0f}" y="18" text-anchor="middle" font-weight="bold">'
        f"{escape(_TITLES.get(path, path))}</text>",
        f'<rect x="{x0 + _LEFT}" y="{_TOP}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
    ]
    for i in range(5):  # y grid and labels
        value = top * i / 4
        y = py(value)
        out.append(_hline(x0 + _LEFT, x0 + _LEFT + w, y, 'stroke="#eee"'))
        out.append(
            f'<text x="{x0 + _LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_rate(value))}</text>"
        )
    for n in workers:
        out.append(f'<text x="{px(n):.1f}" y="{_TOP + h + 16}" text-anchor="middle">{n}</text>')
    out.append(
        f'<text x="{x0 + _LEFT + w / 2:.0f}" y="{_PANEL_H - 8}" text-anchor="middle">'
        "worker processes</text>"
    )
    for k, parts in enumerate(sorted({p.partitions for p in mine})):
        colour = _COLOURS[k % len(_COLOURS)]
        line = sorted((p for p in mine if p.partitions == parts), key=lambda p: p.workers)
        xy = " ".join(f"{px(p.workers):.1f},{py(p.rate):.1f}" for p in line)
        out.append(f'<polyline points="{xy}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out += [
            f'<circle cx="{px(p.workers):.1f}" cy="{py(p.rate):.1f}" r="3.5" fill="{colour}"/>'
            for p in line
        ]
        lx, ly = x0 + _LEFT + 100 * k, _TOP - 10  # the legend: one row above the plot
        out.append(_hline(lx, lx + 18, ly - 4, f'stroke="{colour}" stroke-width="2"'))
        out.append(f'<text x="{lx + 22}" y="{ly}">{parts} partition{"s" * (parts > 1)}</text>')
    return out


def render_svg(points: Sequence[ScalePoint], caption: str) -> str:
    """Panels side by side, the caption (machine and sizes) below."""
    if not points:
        raise ValueError("no scale points to plot")
    paths = _paths(points)
    workers = sorted({p.workers for p in points})
    width, height = _PANEL_W * len(paths), _PANEL_H + 24
    body = [
        part for i, path in enumerate(paths) for part in _panel(points, path, i * _PANEL_W, workers)
    ]
    body.append(f'<text x="8" y="{height - 8}" font-size="10" fill="#555">{escape(caption)}</text>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )
