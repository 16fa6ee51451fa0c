"""A meeting report as one self-contained HTML page: Chinese first with English beside,
inline CSS and SVG only (no script, no external file), printable (``@media print``).

Each section is a ``<section id="sec-KEY">`` (keys: :data:`sinks.kpi.meetings.SECTIONS`),
drawn from the rows :func:`sinks.kpi.sections.report_data` read; nothing is computed here
beyond sorting and formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sinks.kpi.charts import bars_svg, district_map_svg, hourly_svg
from sinks.kpi.meetings import SECTIONS
from sinks.kpi.report import GRADE_COLOURS, patrol_html, trend_svg
from sinks.kpi.sections import ReportData
from streams.reference.streets import StreetNetwork

__all__ = ["CSS", "meeting_html", "table_html"]

Columns = tuple[tuple[str, str, str], ...]  # (column, header, format)
Rows = Sequence[Mapping[str, Any]]

CSS = (
    "body{font-family:'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;margin:24px;"
    "color:#222}h1{font-size:22px}h2{font-size:18px;border-bottom:2px solid #4575b4}"
    "h3{font-size:15px}table{border-collapse:collapse;font-size:12px;margin:6px 0 12px}"
    "th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}"
    "th{background:#eee}td:first-child,th:first-child{text-align:left}"
    ".note{color:#555;font-size:12px}.late{background:#fcd5c9}"
    "@media print{body{margin:8mm}section{page-break-inside:avoid}"
    "h2{page-break-after:avoid}svg{max-width:100%;height:auto}}"
)

LEAGUE: Columns = (
    ("department", "部门 department", "{}"),
    ("opened", "立案 opened", "{}"),
    ("due", "应结案 due", "{}"),
    ("closed", "结案 closed", "{}"),
    ("closure_rate", "结案率 closure %", "{:.1f}"),
    ("on_time_closure_rate", "按期结案率 on-time closure %", "{:.1f}"),
    ("on_time_dispatch_rate", "及时派遣率 on-time dispatch %", "{:.1f}"),
    ("on_time_handling_rate", "按期处置率 on-time handling %", "{:.1f}"),
    ("rework_rate", "返工率 rework %", "{:.1f}"),
    ("volume_score", "案件量得分 volume", "{:.1f}"),
    ("composite", "综合指标值 composite", "{:.1f}"),
    ("grade", "等级 grade", "{}"),
)
UNITS: Columns = (
    ("unit", "编码 code", "{}"),
    ("opened", "立案 opened", "{}"),
    ("due", "应结案 due", "{}"),
    ("closed", "结案 closed", "{}"),
    ("closure_rate", "结案率 closure %", "{:.1f}"),
    ("on_time_closure_rate", "按期结案率 on-time closure %", "{:.1f}"),
    ("recurrences", "复发 recurrences", "{}"),
)
INTAKE: Columns = (
    ("channel", "渠道 channel", "{}"),
    ("reports", "上报 reports", "{}"),
    ("new_cases", "立案 new cases", "{}"),
    ("duplicates", "重复 duplicates", "{}"),
    ("duplicate_share", "重复率 duplicate %", "{:.1f}"),
    ("fixed_on_spot", "当场处置 fixed on the spot", "{}"),
    ("late_reports", "迟报 late", "{}"),
)
DEAD_LETTERS: Columns = (
    ("source", "来源 source", "{}"),
    ("reason", "原因 reason", "{}"),
    ("dead_letters", "死信 dead letters", "{}"),
)
OVERDUE: Columns = (
    ("case_id", "案件号 case", "{}"),
    ("category_key", "类别 category", "{}"),
    ("department", "部门 department", "{}"),
    ("street", "街道 street", "{}"),
    ("deadline", "处置时限 deadline", "{}"),
    ("late_h", "超期小时 hours late", "{:.1f}"),
    ("state", "状态 state", "{}"),
    ("top_level", "督办级别 escalation", "{}"),
)
OVERDUE_DEPARTMENTS: Columns = (
    ("department", "部门 department", "{}"),
    ("cases", "超期或督办 overdue or escalated", "{}"),
    ("unhandled", "未处置 unhandled", "{}"),
)
ESCALATIONS: Columns = (
    ("department", "部门 department", "{}"),
    ("level", "级别 level", "{}"),
    ("escalations", "次数 escalations", "{}"),
)
CHRONIC: Columns = (
    ("grid_code", "网格 unit grid", "{}"),
    ("category_key", "类别 category", "{}"),
    ("street", "街道 street", "{}"),
    ("recurrences", "复发 recurrences", "{}"),
    ("problems", "原案件 problems", "{}"),
    ("label", "顽疾 chronic", "{}"),
)
RATES: Columns = (
    ("unit", "部门 department", "{}"),
    ("closed", "结案 closed", "{}"),
    ("recurred", "复发案件 recurred", "{}"),
    ("recurrence_rate", "复发率 recurrence %", "{:.1f}"),
)
HOTSPOTS: Columns = (
    ("grid_code", "网格 unit grid", "{}"),
    ("street_code", "街道 street", "{}"),
    ("cases", "案件 cases", "{}"),
    ("recurrences", "复发 recurrences", "{}"),
)
MAP_HOTSPOTS = 30  # grids drawn on the map: more hide the streets under them
LEVEL_NAMES = {"remind": "催办 remind", "supervise": "督办 supervise",
               "department_head": "部门负责人 department head",
               "district_leader": "区领导 district leader", "": "—"}  # fmt: skip


def table_html(
    rows: Rows,
    columns: Columns,
    *,
    empty: str = "无 none",
    row_class: str = "",
    cell_style: Mapping[str, Callable[[Any], str]] | None = None,
) -> str:
    """A table of ``rows``; ``row_class`` names a column whose true value marks the row,
    ``cell_style`` gives a column's cells a style from their value."""
    head = "".join(f"<th>{escape(h)}</th>" for _, h, _ in columns)
    styles = cell_style or {}
    body = []
    for r in rows:
        cls = ' class="late"' if row_class and r.get(row_class) else ""
        tds = "".join(
            (f'<td style="{styles[name](r[name])}">' if name in styles else "<td>")
            + f"{escape(fmt.format(r[name]))}</td>"
            for name, _, fmt in columns
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(columns)}">{escape(empty)}</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _league(rows: Rows, data: ReportData, _net: StreetNetwork | None) -> str:
    table = table_html(
        rows,
        LEAGUE,
        empty="本期无应结案或立案 no case due or opened",
        cell_style={"grade": lambda g: f"background:{GRADE_COLOURS[g]}"},
    )
    bars = bars_svg([(r["department"], round(float(r["composite"]), 1)) for r in rows],
                    "composite per department")  # fmt: skip
    return f"{table}<h3>综合指标值 composite per department</h3>{bars}"


def _trend(rows: Rows, data: ReportData, _net: StreetNetwork | None) -> str:
    p = data.period
    return (
        f'<p class="note">每日立案（柱）与按期结案率（线）daily cases opened (bars) and on-time '
        f"closure rate (line), {p.trend_start.isoformat()} – {p.end.isoformat()}</p>"
        f"{trend_svg(rows)}"
    )


def _streets(rows: Rows, data: ReportData, _net: StreetNetwork | None) -> str:
    # cases outside every unit grid have no street or community code
    named = [{**r, "unit": r["unit"] or "无编码 no code"} for r in rows]
    streets = [r for r in named if r["level"] == "street"]
    communities = [r for r in named if r["level"] == "community"]
    bars = bars_svg([(r["unit"], float(r["opened"])) for r in streets], "cases per street")
    return (
        f"<h3>街道 streets</h3>{table_html(streets, UNITS)}"
        f"<h3>各街道立案 cases opened per street</h3>{bars}"
        f"<h3>社区 communities</h3>{table_html(communities, UNITS)}"
    )


def _intake(section: Mapping[str, Rows], data: ReportData, _n: StreetNetwork | None) -> str:
    return (
        f"{table_html(section['channels'], INTAKE)}"
        "<h3>死信（无法受理的上报）dead letters</h3>"
        f"{table_html(section['dead_letters'], DEAD_LETTERS)}"
    )


def _local(ts_s: int, tz: str) -> str:
    return datetime.fromtimestamp(ts_s, UTC).astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def _overdue(section: Mapping[str, Rows], data: ReportData, tz: str) -> str:
    cases = [
        {**r, "deadline": _local(int(r["deadline_s"]), tz),
         "state": "已处置 handled late" if r["is_handled"] else "未处置 unhandled",
         "top_level": LEVEL_NAMES.get(str(r["top_level"]), str(r["top_level"]))}
        for r in section["cases"]
    ]  # fmt: skip
    counts = [{**r, "department": r["department"] or "全区 district",
               "level": LEVEL_NAMES.get(str(r["level"]), str(r["level"]))}
              for r in section["counts"]]  # fmt: skip
    least = data.period.meeting.overdue_from_level
    scope = f"督办级别 ≥ {LEVEL_NAMES[least]} escalation level at least {least}; " if least else ""
    total = sum(int(r["cases"]) for r in section["departments"])
    shown = f"列出前 {len(cases)} 件 the first {len(cases)} listed; " if len(cases) < total else ""
    return (
        f'<p class="note">{scope}{total} 件 cases; {shown}截至 as of {_local(data.asof_s, tz)}</p>'
        f"{table_html(cases, OVERDUE, empty='无超期或督办案件 none overdue or escalated')}"
        f"<h3>各部门超期与督办案件 per department</h3>"
        f"{table_html(section['departments'], OVERDUE_DEPARTMENTS)}"
        f"<h3>督办次数 escalations per department and level</h3>{table_html(counts, ESCALATIONS)}"
    )


def _chronic(section: Mapping[str, Rows], data: ReportData, _n: StreetNetwork | None) -> str:
    places = section["places"]
    chronic = [{**r, "label": "顽疾 chronic"} for r in places if r["chronic"]]
    once = sum(1 for r in places if r["grid_code"] and not r["chronic"])
    no_grid = sum(int(r["recurrences"]) for r in places if not r["grid_code"])
    rates = [{**r, "unit": r["unit"] or "全区 district"} for r in section["rates"]]
    return (
        "<h3>顽疾：同一网格同类问题反复复发 places where the same problem came back "
        f"repeatedly</h3>{table_html(chronic, CHRONIC, empty='无顽疾 none')}"
        f'<p class="note">另有 {once} 处复发一次 {once} more places (grid and category) '
        f"recurred once; {no_grid} 次复发无网格编码 recurrences without a unit grid code</p>"
        f"<h3>复发率 recurrence rate</h3>{table_html(rates, RATES)}"
    )


def _hotspots(rows: Rows, data: ReportData, network: StreetNetwork | None) -> str:
    gridded = [r for r in rows if r["grid_code"]]
    no_grid = sum(int(r["cases"]) for r in rows if not r["grid_code"])
    note = (
        f'<p class="note">另有 {no_grid} 件无网格编码（不在任何单元网格内）, {no_grid} cases '
        "without a unit grid code, not ranked</p>"
        if no_grid
        else ""
    )
    return (
        f'<p class="note">前 {MAP_HOTSPOTS} 个热点网格 the {MAP_HOTSPOTS} busiest unit grids</p>'
        f"{district_map_svg(network, gridded[:MAP_HOTSPOTS])}{note}"
        f"<h3>热点网格 top unit grids</h3>{table_html(gridded[:15], HOTSPOTS)}"
    )


def _surge(surge: Mapping[str, Any], data: ReportData, tz: str) -> str:
    from_s = data.period.bounds_s(tz)[0]
    first, clear = int(surge["first_surge"]), int(surge["hours_to_clear"])
    cleared = (
        f"积压在 {clear} 小时后回落 the backlog cleared {clear} h after the surge began "
        f"({_local(from_s + 3600 * (int(surge['cleared_hour']) + 1), tz)})"
        if clear >= 0
        else "本期内积压未回落 the backlog had not cleared by the end of the period"
    )
    return (
        f"<p>高峰始于 surge began {_local(from_s + 3600 * first, tz)}; "
        f"{len(surge['surge_hours'])} 个高峰小时 surge hours; 积压峰值 peak backlog "
        f"{surge['peak_backlog']} 件 cases (基线 baseline {surge['baseline']}); {cleared}</p>"
        '<p class="note">每小时立案（蓝）与结案（绿），积压（红线） cases opened (blue) and '
        "closed (green) per hour, backlog (red line)</p>"
        f"{hourly_svg(surge['opened'], surge['closed'], surge['backlog'])}"
    )


# (column, header, format) of the campaign table; after-shares are the cases of the N days
# after the campaign per 100 of the N days before it (长效保持: lower is better)
CAMPAIGN_COLUMNS: Columns = (
    ("name_zh", "专项行动 campaign", "{}"),
    ("name_en", "theme", "{}"),
    ("start_date", "开始 start", "{}"),
    ("end_date", "结束 end", "{}"),
    ("found", "发现 found", "{}"),
    ("fixed", "解决 fixed", "{}"),
    ("closure_rate", "结案率 closure %", "{:.1f}"),
    ("on_time_closure_rate", "按期结案率 on-time %", "{:.1f}"),
    ("after_share_30", "30天后/前 after/before 30 d %", "{:.1f}"),
    ("after_share_60", "60天 60 d %", "{:.1f}"),
    ("after_share_90", "90天 90 d %", "{:.1f}"),
    ("target_text", "目标 target", "{}"),
)


def _campaign(rows: Rows, data: ReportData, _n: StreetNetwork | None) -> str:
    shown = [{**r, "target_text": _target_text(r)} for r in rows]
    note = (
        '<p class="note">30/60/90 天后与前同样天数的案件数之比 cases in the N days after the '
        "campaign per 100 in the N days before it (长效保持, lower is better)</p>"
    )
    return note + table_html(shown, CAMPAIGN_COLUMNS, empty="本期无专项行动 no campaign ran")


def _target_text(row: Mapping[str, Any]) -> str:
    if not row.get("target_metric"):
        return "—"
    goal = f"{row['target_metric']} {row['target_value']:g}"
    if not row.get("target_judged"):
        return f"{goal}: 未到期 not judged yet"
    return f"{goal}: {'达成 met' if row.get('target_met') else '未达成 missed'}"


def _render(key: str, data: ReportData, network: StreetNetwork | None, tz: str) -> str:
    value = data.sections[key]
    by_tz: dict[str, Callable[[Any, ReportData, str], str]] = {
        "overdue": _overdue,
        "surge": _surge,
    }
    if key in by_tz:
        return by_tz[key](value, data, tz)
    plain: dict[str, Callable[[Any, ReportData, StreetNetwork | None], str]] = {
        "league": _league, "trend": _trend, "streets": _streets, "intake": _intake,
        "chronic": _chronic, "hotspots": _hotspots, "campaign": _campaign,
    }  # fmt: skip
    if key == "patrol":
        return patrol_html(value, network)
    return plain[key](value, data, network)


def meeting_html(data: ReportData, network: StreetNetwork | None, tz: str) -> str:
    """The whole report of ``data``'s meeting and period as one HTML document."""
    m, p = data.period.meeting, data.period
    title = f"{m.title_zh} {m.title_en} · {p.label}"
    parts = []
    for key, zh, en in SECTIONS:
        if key not in data.sections or (key == "surge" and not data.surge_happened):
            continue
        parts.append(
            f'<section id="sec-{key}"><h2>{escape(zh)} {escape(en)}</h2>'
            f"{_render(key, data, network, tz)}</section>"
        )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="note">时区 time zone {escape(tz)}; 数据来自 KPI 视图 figures from the KPI '
        "views (docs/bi/kpis.md, docs/bi/reports.md)</p>"
        f"{''.join(parts)}</body></html>"
    )
