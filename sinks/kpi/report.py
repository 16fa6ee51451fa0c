"""Pieces of the KPI reports: the plain-text league table (``citystream kpi``), the daily
trend chart, and the foot patrol (铁脚板) section: who met the rule of their level, the
streets walked and the streets nobody walked, with a map of the segments walked. The
meeting reports (:mod:`sinks.kpi.meeting_html`) are made of these and their own sections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape
from typing import Any

from streams.reference.streets import StreetNetwork

__all__ = [
    "GRADE_COLOURS",
    "LEAGUE_COLUMNS",
    "PATROL_TABLES",
    "league_text",
    "patrol_html",
    "streets_svg",
    "trend_svg",
]

# (column, header, format)
LEAGUE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("department", "department", "{}"),
    ("opened", "opened 立案", "{}"),
    ("due", "due 应结案", "{}"),
    ("closed", "closed 结案", "{}"),
    ("closure_rate", "closure %", "{:.1f}"),
    ("on_time_closure_rate", "on-time closure %", "{:.1f}"),
    ("on_time_dispatch_rate", "on-time dispatch %", "{:.1f}"),
    ("on_time_handling_rate", "on-time handling %", "{:.1f}"),
    ("rework_rate", "rework %", "{:.1f}"),
    ("volume_score", "volume score", "{:.1f}"),
    ("composite", "composite", "{:.1f}"),
    ("grade", "grade", "{}"),
)
GRADE_COLOURS: Mapping[str, str] = {
    "A": "#1a9850",
    "B": "#91cf60",
    "C": "#fee08b",
    "D": "#fc8d59",
    "E": "#d73027",
}


def _cells(row: Mapping[str, Any]) -> list[str]:
    return [fmt.format(row[name]) for name, _, fmt in LEAGUE_COLUMNS]


def league_text(rows: Sequence[Mapping[str, Any]], week: date) -> str:
    """The weekly dispatch-meeting table as aligned text."""
    headers = [header for _, header, _ in LEAGUE_COLUMNS]
    body = [_cells(r) for r in rows]
    widths = [max([len(h), *(len(b[i]) for b in body)]) for i, h in enumerate(headers)]
    lines = [f"Department league table, week of {week.isoformat()} (Monday)"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for cells in body:
        first, rest = cells[0].ljust(widths[0]), cells[1:]
        lines.append(
            "  ".join([first, *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])
        )
    if not body:
        lines.append("(no department had cases due or opened this week)")
    return "\n".join(lines)


def trend_svg(rows: Sequence[Mapping[str, Any]], width: int = 760, height: int = 240) -> str:
    if not rows:
        return "<p>No cases in this range.</p>"
    left, right, top, bottom = 44, 44, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_opened = max(max(int(r["opened"]) for r in rows), 1)
    step = plot_w / len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="daily cases and on-time closure rate">'
    ]
    points = []
    for i, r in enumerate(rows):
        bar_h = plot_h * int(r["opened"]) / top_opened
        x = left + i * step
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{bar_h:.1f}" fill="#4575b4">'
            f"<title>{r['day']}: {r['opened']} opened</title></rect>"
        )
        rate_y = top + plot_h * (1 - float(r["on_time_closure_rate"]) / 100)
        points.append(f"{x + step / 2:.1f},{rate_y:.1f}")
    parts.append(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#d73027" stroke-width="2"/>'
    )
    axis_y = top + plot_h
    parts.append(
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#333"/>'
    )
    parts.append(f'<text x="4" y="{top + 10}" font-size="11">{top_opened}</text>')
    parts.append(
        f'<text x="{width - right + 4}" y="{top + 10}" font-size="11" fill="#d73027">100%</text>'
    )
    for i in (0, len(rows) - 1):
        parts.append(
            f'<text x="{left + i * step:.1f}" y="{height - 8}" font-size="11">'
            f"{rows[i]['day']}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


# the patrol section's tables: key of queries.patrol_section, heading, (column, header, format)
PATROL_TABLES: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("rule", "按规则巡查（未达标在前） patrols against the rule (not met first)", (
        ("inspector_id", "人员 inspector", "{}"), ("level", "层级 level", "{}"),
        ("department", "部门 department", "{}"), ("patrols", "巡查 patrols", "{}"),
        ("patrol_days", "天数 days", "{}"), ("own_area_patrols", "责任区 in own area", "{}"),
        ("streets_walked", "街道 streets", "{}"), ("metres", "米 metres", "{:.0f}"),
        ("own_area_coverage", "责任区覆盖 own area %", "{:.1f}"),
        ("units_met", "达标 units met", "{}"), ("units", "考核 units", "{}"),
        ("met", "达标 met", "{}"),
    )),
    ("streets", "已巡街道（覆盖最少在前） streets walked (least covered first)", (
        ("street_name", "街道 street", "{}"), ("visits", "次数 visits", "{}"),
        ("inspectors", "人员 inspectors", "{}"), ("metres", "米 metres", "{:.0f}"),
        ("segments_walked", "已巡路段 segments walked", "{}"),
        ("segments", "路段 segments", "{}"), ("coverage", "覆盖率 coverage %", "{:.1f}"),
    )),
    ("gaps", "本期无人巡查的街道 streets nobody walked in the period", (
        ("street_name", "街道 street", "{}"), ("segments", "路段 segments", "{}"),
        ("never_walked", "从未巡查 never walked", "{}"),
        ("days_since_walked", "未巡天数 days since walked", "{}"),
    )),
)  # fmt: skip


def streets_svg(
    network: StreetNetwork, walked: Sequence[Mapping[str, Any]], size: int = 520
) -> str:
    """The district's street segments, those walked in the week (``walked``: rows with
    ``segment_id`` and ``visits``) in green, darker with more visits, the rest grey."""
    visits = {int(r["segment_id"]): int(r["visits"]) for r in walked}
    lons = [lon for seg in network.segments for lon, _ in seg.coords]
    lats = [lat for seg in network.segments for _, lat in seg.coords]
    if not lons:
        return "<p>No street network.</p>"
    span = max(max(lats) - min(lats), max(lons) - min(lons), 1e-6)
    top = max(visits.values(), default=1)
    pad = 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        'role="img" aria-label="street segments walked">'
        f'<rect width="{size}" height="{size}" fill="#f7f7f7"/>'
    ]
    for seg in network.segments:
        points = " ".join(
            f"{pad + (lon - min(lons)) / span * (size - 2 * pad):.1f},"
            f"{size - pad - (lat - min(lats)) / span * (size - 2 * pad):.1f}"
            for lon, lat in seg.coords
        )
        n = visits.get(seg.segment_id, 0)
        colour = f"rgb(0,{200 - int(120 * n / top)},60)" if n else "#bbb"
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="3">'
            f"<title>{escape(seg.street_name)} #{seg.segment_id}: {n} visits</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def patrol_html(
    patrols: Mapping[str, Sequence[Mapping[str, Any]]], network: StreetNetwork | None = None
) -> str:
    """The patrol section's tables from :func:`sinks.kpi.queries.patrol_section`; a rule row
    not met is marked red. With the district's ``network``, a map of the segments walked."""
    parts = []
    if network is not None:
        parts.append(
            "<h3>街道路段：已巡（绿）未巡（灰） street segments walked (green) and not (grey)</h3>"
            + streets_svg(network, patrols.get("segments", ()))
        )
    for key, heading, columns in PATROL_TABLES:
        head = "".join(f"<th>{escape(h)}</th>" for _, h, _ in columns)
        body = []
        for r in patrols.get(key, ()):
            style = ' style="background:#fcd5c9"' if key == "rule" and not r["met"] else ""
            tds = "".join(f"<td>{escape(fmt.format(r[name]))}</td>" for name, _, fmt in columns)
            body.append(f"<tr{style}>{tds}</tr>")
        if not body:
            body.append(f'<tr><td colspan="{len(columns)}">无 none</td></tr>')
        parts.append(
            f"<h3>{escape(heading)}</h3><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    return "".join(parts)
