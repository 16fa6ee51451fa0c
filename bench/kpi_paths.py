"""The KPI bench's queries, named once: bench/test_bench_sinks.py times each query of
bench/kpi_queries.py as ``kpi-<name>`` on the server and ``kpi-chdb-<name>`` in chdb, and
bench/harness/goals.py holds every one to issue 15's "under 1 s"."""

from __future__ import annotations

from sinks.kpi.queries import BI_VIEWS

__all__ = ["KPI_NAMES", "MONTH", "REPORT_SECTIONS", "WEEK"]

WEEK = "2023-07-10"
MONTH = "2023-08-01"  # a month of the packaged campaign calendar
# the report sections (sinks/kpi/sections.py) of `citystream report --meeting ...` that no
# other path times: the weekly meeting's, and the monthly's whose windows are a month long
REPORT_SECTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("weekly", WEEK): ("streets", "intake", "overdue", "chronic", "hotspots", "surge"),
    ("monthly", MONTH): ("overdue", "chronic", "surge", "campaign"),
}
# the report's queries (sinks/kpi/*.sql through sinks.kpi.queries), its sections, then a
# dashboard read of each BI view
KPI_NAMES: tuple[str, ...] = (
    "league-table",
    "trend-90-days",
    "hotspots-90-days",
    "patrol-week",
    "intake-weeks",
    "durations-months",
    *(
        f"report-{meeting}-{key}"
        for (meeting, _day), keys in REPORT_SECTIONS.items()
        for key in keys
    ),
    *(f"view-{name}" for name in BI_VIEWS),
)
