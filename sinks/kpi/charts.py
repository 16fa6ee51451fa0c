"""Inline SVG charts of the meeting reports: bars, the hourly surge chart and the district
map (street segments with the hotspot grids on one projection). Plain SVG text, no script,
so the report stays one self-contained, printable file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from streams.reference.streets import StreetNetwork

__all__ = ["bars_svg", "district_map_svg", "hourly_svg"]

_SVG = 'xmlns="http://www.w3.org/2000/svg"'


def bars_svg(items: Sequence[tuple[str, float]], label: str, width: int = 640) -> str:
    """Horizontal bars, one per (name, value), with the value written beside each."""
    if not items:
        return "<p>无数据 no data</p>"
    row_h, left = 22, 170
    height = row_h * len(items) + 8
    top = max(max(v for _, v in items), 1e-9)
    parts = [f'<svg {_SVG} width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(label)}">']  # fmt: skip
    for i, (name, value) in enumerate(items):
        y = 4 + i * row_h
        w = (width - left - 60) * value / top
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" font-size="12" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="#4575b4">'
            f"<title>{escape(name)}: {value:g}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + 15}" font-size="12">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hourly_svg(
    opened: Sequence[int], closed: Sequence[int], backlog: Sequence[int], width: int = 760
) -> str:
    """Cases opened (blue) and closed (green) per hour as bars, the backlog as a red line."""
    n = len(opened)
    if not n:
        return "<p>无数据 no data</p>"
    height, left, top_pad, bottom = 220, 40, 10, 24
    plot_w, plot_h = width - 2 * left, height - top_pad - bottom
    top_bar = max(max(opened), max(closed), 1)
    top_line = max(max(backlog), 1)
    step = plot_w / n
    parts = [f'<svg {_SVG} width="{width}" height="{height}" role="img" '
             'aria-label="cases opened and closed per hour, backlog">']  # fmt: skip
    for i in range(n):
        x = left + i * step
        for k, (value, colour) in enumerate(((opened[i], "#4575b4"), (closed[i], "#1a9850"))):
            h = plot_h * value / top_bar
            parts.append(
                f'<rect x="{x + k * step / 2:.2f}" y="{top_pad + plot_h - h:.1f}" '
                f'width="{step / 2:.2f}" height="{h:.1f}" fill="{colour}"/>'
            )
    points = " ".join(
        f"{left + (i + 0.5) * step:.1f},{top_pad + plot_h * (1 - b / top_line):.1f}"
        for i, b in enumerate(backlog)
    )
    parts.append(f'<polyline points="{points}" fill="none" stroke="#d73027" stroke-width="2"/>')
    parts.append(
        f'<text x="2" y="{top_pad + 10}" font-size="11">{top_bar}</text>'
        f'<text x="{width - left + 4}" y="{top_pad + 10}" font-size="11" fill="#d73027">'
        f"{top_line}</text>"
        f'<text x="{left}" y="{height - 6}" font-size="11">0 h</text>'
        f'<text x="{width - left - 30}" y="{height - 6}" font-size="11">{n} h</text></svg>'
    )
    return "".join(parts)


def district_map_svg(
    network: StreetNetwork | None, hotspots: Sequence[Mapping[str, Any]], size: int = 560
) -> str:
    """The district's street segments (grey) with the hotspot grids as circles at their
    cases' mean position, sized and coloured by cases; both on one projection."""
    lons = [lon for seg in (network.segments if network else ()) for lon, _ in seg.coords]
    lats = [lat for seg in (network.segments if network else ()) for _, lat in seg.coords]
    lons += [float(h["mean_lon"]) for h in hotspots]
    lats += [float(h["mean_lat"]) for h in hotspots]
    if not lons:
        return "<p>无数据 no data</p>"
    span = max(max(lats) - min(lats), max(lons) - min(lons), 1e-6)
    pad = 20

    def xy(lon: float, lat: float) -> str:
        x = pad + (lon - min(lons)) / span * (size - 2 * pad)
        return f"{x:.1f},{size - pad - (lat - min(lats)) / span * (size - 2 * pad):.1f}"

    parts = [f'<svg {_SVG} width="{size}" height="{size}" role="img" '
             f'aria-label="district streets and hotspots"><rect width="{size}" '
             f'height="{size}" fill="#f7f7f7"/>']  # fmt: skip
    for seg in network.segments if network else ():
        points = " ".join(xy(lon, lat) for lon, lat in seg.coords)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="#bbb" stroke-width="2">'
            f"<title>{escape(seg.street_name)}</title></polyline>"
        )
    top = max((int(h["cases"]) for h in hotspots), default=1)
    for h in sorted(hotspots, key=lambda r: int(r["cases"])):
        share = int(h["cases"]) / top
        x, y = xy(float(h["mean_lon"]), float(h["mean_lat"])).split(",")
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="{3 + 14 * share**0.5:.1f}" '
            f'fill="rgb({int(255 * share)},{int(120 * (1 - share))},{255 - int(255 * share)})" '
            f'fill-opacity="0.7"><title>{escape(str(h["grid_code"]))}: {h["cases"]} 件 cases, '
            f"{h['recurrences']} 复发 recurrences</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)
