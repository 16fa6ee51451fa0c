"""The meeting reports over a typhoon week run through the whole pipeline: real broker,
worker processes and the ClickHouse server. The simulator's typhoon scenario for seven
days goes through normalize, dedup, dispatch, the desks, lifecycle, escalation and the
sink; then every section of the weekly, half-monthly and monthly reports (the default
period, which holds the newest case, and the period of the typhoon's first day) equals the
Python reference computed from the stored rows, and ``citystream report`` writes each
meeting's page for the newest case's period."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from sinks.kpi.meetings import MEETINGS, SECTIONS, period_of
from sinks.kpi.sections import latest_case_day, report_data
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.cli import main
from streams.runner import wait_until
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import produce_feed, start_workers
from tests.report_figures import assert_report_matches

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup,dispatch,lifecycle,departments,supervisors,escalation,sink"
TABLES = (
    "cases",
    "dispatches",
    "links",
    "events",
    "escalations",
    "dead_letters",
    "campaigns",  # the seed calendar, loaded by the sink at its start
    "campaign_scope",
    "campaign_loads",  # and committed (migration 0023)
)
TYPHOON_DAY = date(2023, 7, 31)  # the scenario's first day (a Monday)
TIMEOUT_S = 900.0


def _count(ch: Client, db: str, table: str) -> int:
    return int(ch.execute(f"SELECT count() FROM {db}.{table} FINAL")[0][0])


def stored_tables(ex: DriverExecutor, db: str) -> dict[str, dict[str, list[Any]]]:
    """The stored rows (``FINAL`` on a replacing table: one per key; the campaign calendar
    is plain MergeTree, every load's rows and commits, migrations 0022 and 0023) as the
    reference takes them: columns, with times in epoch ms."""
    out: dict[str, dict[str, list[Any]]] = {}
    for table in TABLES:
        types = ex.query(
            f"SELECT name, type FROM system.columns WHERE database = '{db}' AND table = '{table}'"
        )
        select = ", ".join(
            f"toUInt64(toUnixTimestamp({c['name']})) * 1000 AS {c['name']}"
            if c["type"].startswith("DateTime")
            else c["name"]
            for c in types
        )
        engine = ex.query(
            f"SELECT engine FROM system.tables WHERE database = '{db}' AND name = '{table}'"
        )[0]["engine"]
        final = " FINAL" if str(engine).startswith("Replacing") else ""
        rows = ex.query(f"SELECT {select} FROM {db}.{table}{final}")
        out[table] = {c["name"]: [r[c["name"]] for r in rows] for c in types}
    return out


def _settled(ch: Client, db: str, total: int, alive: Callable[[], None]) -> bool:
    """Every record stored (linked or dead-lettered), and the desks, the lifecycle and the
    escalation ladder quiet for a few seconds."""
    alive()
    if _count(ch, db, "links") + _count(ch, db, "dead_letters") < total:
        return False
    before = (_count(ch, db, "case_stages"), _count(ch, db, "escalations"))
    time.sleep(5)
    return (_count(ch, db, "case_stages"), _count(ch, db, "escalations")) == before


def test_typhoon_week_reports_equal_the_reference(
    pipeline_settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    s = pipeline_settings.replace(partitions=1)
    db, tz = ch_database, s.calendar.timezone
    records = list(Simulation("typhoon", seed=3, scale=0.003, days=7).records())
    total = sum(Counter(t.expected_reason for r in records for t in r.truth).values())
    ensure_topics(s)
    workers = start_workers(s, ROLES, 1, tmp_path)

    def alive() -> None:
        assert workers[0].alive, workers[0].log_path.read_text()[-3000:]

    try:
        produce_feed(s, records)
        assert wait_until(lambda: _settled(clickhouse, db, total, alive), TIMEOUT_S, 2.0), workers[
            0
        ].log_path.read_text()[-3000:]
    finally:
        workers[0].stop()

    ex = DriverExecutor(clickhouse)
    tables = stored_tables(ex, db)
    assert tables["escalations"]["escalation_id"], "the typhoon week raised no escalation"
    now_s = int(time.time())
    latest = latest_case_day(ex, db, tz)
    assert latest > TYPHOON_DAY
    for meeting in MEETINGS.values():
        for day in sorted({latest, TYPHOON_DAY}):
            data = report_data(ex, db, tz, period_of(meeting, day), now_s)
            checked = assert_report_matches(data, tables, tz, now_s * 1000)
            assert {"league", "overdue", "hotspots", "surge"} <= set(checked), meeting.name
            assert data.sections["league"] and data.sections["hotspots"], (meeting.name, day)
        # the command, for the default period (the newest case's)
        page = tmp_path / f"{meeting.name}.html"
        argv = ["report", "--meeting", meeting.name, "--database", db, "--out", str(page)]
        assert main(argv) == 0
        text = page.read_text(encoding="utf-8")
        shown = re.findall(r'<section id="sec-([a-z]+)">', text)
        assert set(shown) >= {k for k, _, _ in SECTIONS if k in meeting.sections} - {"surge"}
        assert period_of(meeting, latest).label in text
    # the typhoon's afternoon rain peak on its first day is a surge in its week's report
    weekly = report_data(ex, db, tz, period_of(MEETINGS["weekly"], TYPHOON_DAY), now_s)
    assert weekly.surge_happened
