"""The report's queries (``sinks/kpi/*.sql``), rendered with validated values and run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sinks.migrate import MODERN_MIN_VERSION, server_version
from sinks.sql import Executor, SqlError, check_identifier, render

__all__ = [
    "BI_VIEWS",
    "QUERY_DIR",
    "VIEW_PERIODS",
    "campaign_results",
    "hotspots",
    "league_table",
    "load_query",
    "overdue_list",
    "patrol_section",
    "trend",
]

QUERY_DIR = Path(__file__).resolve().parent

# The views BI queries (docs/bi/kpis.md; each created by a migration in sinks/migrations).
# 0002_kpi_views.sql also defines the building blocks case_facts and kpi_case_counts, and
# 0009_patrol_kpis.sql the patrol_* ones and 0012_campaigns.sql campaign_case_facts,
# which are not part of the BI surface.
BI_VIEWS: tuple[str, ...] = (
    "kpi_units",
    "kpi_department_score",
    "kpi_intake",
    "kpi_durations",
    "kpi_hotspots",
    "kpi_patrol_coverage",
    "kpi_patrol_grids",
    "kpi_patrol_rule",
    "kpi_street_coverage",
    "kpi_streets_not_walked",
    "kpi_patrol_findings",
    "kpi_verification",
    "kpi_escalations",
    "kpi_returns",
    "kpi_satisfaction",
    "kpi_recurrences",
    "kpi_campaigns",
    "kpi_campaign_recurrence",
    "intake_minute",
    "deadletter_daily",
    "report_lateness",
)


# the values a {period} placeholder may take: the periods of the KPI views
VIEW_PERIODS = frozenset({"day", "week", "half_month", "month"})


@dataclass(frozen=True)
class _Expression:
    """SQL this module built from validated names and integers, filled in as it is."""

    text: str


def _literal(key: str, value: object) -> str:
    if isinstance(value, _Expression):
        return value.text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | str | tuple):
        raise TypeError(f"{key} must be a date, an int, a period or a tuple of names")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if value not in VIEW_PERIODS:
            raise SqlError(f"{key}: {value!r} is not one of {sorted(VIEW_PERIODS)}")
        return value
    names = [check_identifier(str(v), key) for v in value]
    return "[" + ", ".join(f"'{n}'" for n in names) + "]"


def load_query(name: str, *, database: str, tz: str, **values: object) -> str:
    """``sinks/kpi/<name>.sql`` with ``{db}``, ``{tz}`` and the other placeholders filled
    in: dates, integers (epoch seconds), a view period, or a tuple of identifiers (an
    array of strings). Every value is validated, so no text reaches the SQL unchecked.
    Whole-line comments are left out: they document the file, and filled in they carried
    whole expressions into the server's query log."""
    text = (QUERY_DIR / f"{name}.sql").read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    sql = render(code, database=database, tz=tz)
    for key, value in values.items():
        sql = sql.replace("{" + key + "}", _literal(key, value))
    if "{" in sql.replace("{db}", ""):
        left = sql[sql.index("{") : sql.index("{") + 20]
        raise SqlError(f"{name}.sql: placeholder left unfilled near {left!r}")
    return sql


def league_table(
    ex: Executor, database: str, tz: str, period: str, start: date
) -> list[dict[str, Any]]:
    """Department scores of the ``period`` ('week', 'half_month', 'month') starting
    ``start``, best first."""
    return ex.query(load_query("league", database=database, tz=tz, period=period, start=start))


def trend(ex: Executor, database: str, tz: str, start: date, end: date) -> list[dict[str, Any]]:
    """District cases and rates per day from ``start`` to ``end`` (inclusive)."""
    return ex.query(load_query("trend", database=database, tz=tz, **{"from": start, "to": end}))


def hotspots(ex: Executor, database: str, tz: str, start: date, end: date) -> list[dict[str, Any]]:
    """Unit grids by cases opened from ``start`` to ``end``, busiest first (cases without
    a grid code last, as grid '')."""
    return ex.query(load_query("hotspots", database=database, tz=tz, **{"from": start, "to": end}))


# overdue.sql's per-department arrays and the list row's keys they fill, in order
_OVERDUE_ARRAYS = (
    ("case_ids", "case_id"),
    ("category_keys", "category_key"),
    ("streets", "street"),
    ("grid_codes", "grid_code"),
    ("deadlines_s", "deadline_s"),
    ("handled", "is_handled"),
    ("late_hours", "late_h"),
    ("top_levels", "top_level"),
)


def _levels_from(levels: tuple[str, ...], min_rank: int) -> list[tuple[int, str]]:
    """``(rank, level)`` of the levels from ``min_rank`` up (every level for 0), highest
    first, each name checked."""
    if not 0 <= min_rank <= len(levels):
        raise ValueError(f"min_rank {min_rank} is not between 0 and {len(levels)}")
    return [
        (rank, check_identifier(levels[rank - 1], "levels"))
        for rank in range(len(levels), max(min_rank, 1) - 1, -1)
    ]


def _level_rank(
    database: str, levels: tuple[str, ...], min_rank: int, asof_s: int, *, join: bool
) -> tuple[_Expression, _Expression]:
    """overdue.sql's {level_rank} and {level_join}: a case's highest level by ``asof_s`` of
    those from ``min_rank`` up, as its 1-based place in ``levels`` (0 none). ``join``: the
    escalations grouped per case and joined, what a current release runs fastest; else one
    set of case ids per level, highest first, for 18.16: on the bench's store its grouping
    and join of a million cases took 1.6 s for a month's list, the sets 1.0 s
    (docs/bi/rollups.md, "The overdue list's levels")."""
    check_identifier(database)
    wanted = _levels_from(levels, min_rank)
    before = f"escalated_at < toDateTime({int(asof_s)})"
    if join:
        names = ", ".join(f"'{level}'" for _, level in wanted)
        return _Expression("joined_rank"), _Expression(
            f"ANY LEFT JOIN (SELECT case_id, max(indexOf({_literal('levels', levels)}, level)) "
            "AS joined_rank "
            f"FROM {database}.escalation_levels WHERE {before} AND level IN ({names}) "
            "GROUP BY case_id) AS e USING case_id"
        )
    branches = ", ".join(
        f"case_id IN (SELECT case_id FROM {database}.escalation_levels "
        f"WHERE level = '{level}' AND {before}), {rank}"
        for rank, level in wanted
    )
    return _Expression(f"multiIf({branches}, 0)"), _Expression("")


def _overdue_order(row: dict[str, Any], levels: tuple[str, ...]) -> tuple[int, float, int]:
    rank = levels.index(row["top_level"]) + 1 if row["top_level"] else 0
    return -rank, -float(row["late_h"]), int(row["case_id"])


def overdue_list(
    ex: Executor,
    database: str,
    tz: str,
    *,
    levels: tuple[str, ...],
    rows: int,
    asof_s: int,
    min_rank: int,
    **window: int,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The overdue and escalated cases of a period (``overdue.sql``; ``window``: its
    from_s and to_s), judged at ``asof_s``, of those whose highest level is at least the
    ``min_rank``-th of ``levels`` (0: every case): the first ``rows`` of the list (highest
    level, then latest, then case id) and, per department, how many it has (cases,
    unhandled)."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, not {rows}")
    join = server_version(ex)[:2] >= MODERN_MIN_VERSION
    level_rank, level_join = _level_rank(database, levels, min_rank, asof_s, join=join)
    sql = load_query(
        "overdue",
        database=database,
        tz=tz,
        levels=levels,
        rows=rows,
        asof_s=asof_s,
        min_rank=min_rank,
        level_rank=level_rank,
        level_join=level_join,
        **window,
    )
    departments, listed = [], []
    for dept in ex.query(sql):
        departments.append({key: dept[key] for key in ("department", "cases", "unhandled")})
        columns = [dept[array] for array, _ in _OVERDUE_ARRAYS]
        for values in zip(*columns, strict=True):
            case = {key: value for (_, key), value in zip(_OVERDUE_ARRAYS, values, strict=True)}
            listed.append({**case, "department": dept["department"]})
    listed.sort(key=lambda row: _overdue_order(row, levels))
    return listed[:rows], departments


def patrol_section(
    ex: Executor, database: str, tz: str, period: str, start: date
) -> dict[str, list[dict[str, Any]]]:
    """The report's patrol section for the ``period`` starting ``start``: ``rule`` (who
    met the rule of their level), ``streets`` (streets walked, least covered first),
    ``gaps`` (streets nobody walked) and ``segments`` (the segments walked, for the map)."""
    return {
        key: ex.query(load_query(name, database=database, tz=tz, period=period, start=start))
        for key, name in (
            ("rule", "patrol_rule"),
            ("streets", "street_coverage"),
            ("gaps", "street_gaps"),
            ("segments", "walked_segments"),
        )
    }


def campaign_results(
    ex: Executor, database: str, tz: str, start: date, end: date
) -> list[dict[str, Any]]:
    """The campaigns running at some time from ``start`` to ``end`` (inclusive), earliest
    first: each a row of ``kpi_campaigns`` (found and fixed during it, closure and on-time
    closure rates, its target) with ``recurrence``, its rows of ``kpi_campaign_recurrence``
    (30, 60 and 90 days after it against as many before it)."""
    period = {"from": start, "to": end}
    campaigns = ex.query(load_query("campaigns", database=database, tz=tz, **period))
    windows: dict[str, list[dict[str, Any]]] = {}
    for row in ex.query(load_query("campaign_recurrence", database=database, tz=tz, **period)):
        windows.setdefault(row["campaign_id"], []).append(row)
    return [{**c, "recurrence": windows.get(c["campaign_id"], [])} for c in campaigns]
