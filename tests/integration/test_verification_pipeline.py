"""Verification (核查) live: real broker, ClickHouse and worker processes with the
department and supervisor desks. Every handled case gets a verify task; passes close
cases, failures send them back and the department's rework is verified again; the
verify tasks, their results and 按期核查率 land in ClickHouse and match the Python KPI."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from clickhouse_driver import Client

from sinks import reference
from sinks.records import verify_task_row
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.cases.verification import VerifyTask
from streams.contracts.topics import VERIFY_TASKS
from streams.runner import WorkerProcess, free_port, read_topic, wait_until
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import produce_feed
from tests.kpi_rows import assert_rows_equal

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup,dispatch,lifecycle,departments,supervisors,sink"


def _tasks_settled(client: Client, db: str) -> tuple[int, int]:
    rows = client.execute(
        f"SELECT countIf(status = 'open'), countIf(status != 'open') FROM {db}.verify_tasks FINAL"
    )
    return int(rows[0][0]), int(rows[0][1])


def test_verify_tasks_results_and_kpi_in_clickhouse(
    pipeline_settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    s = pipeline_settings
    ex = DriverExecutor(clickhouse)
    ensure_topics(s)
    records = Simulation("ordinary", seed=7, scale=0.03).records()
    worker = WorkerProcess(s, ROLES, free_port(), tmp_path / "worker.log").start()
    last: list[tuple[int, int]] = []

    def done() -> bool:
        assert worker.alive, worker.log_path.read_text()[-3000:]
        now = _tasks_settled(clickhouse, ch_database)
        last.append(now)
        # every task answered, and nothing new for a few polls (reworks come in waves)
        return now[1] > 0 and now[0] == 0 and last[-4:] == [now] * 4

    try:
        produce_feed(s, records)
        assert wait_until(done, 300.0, 2.0), (last[-3:], worker.log_path.read_text()[-3000:])
    finally:
        worker.stop()

    statuses = dict(
        clickhouse.execute(
            f"SELECT status, count() FROM {ch_database}.verify_tasks FINAL GROUP BY status"
        )
    )
    assert statuses.get("passed", 0) > 20 and statuses.get("failed", 0) >= 1, statuses
    # each failure was reworked and verified again: the next round's task exists
    rounds = Counter(
        r for (r,) in clickhouse.execute(f"SELECT rework_round FROM {ch_database}.verify_tasks")
    )
    assert rounds[1] >= 1
    open_cases = clickhouse.execute(
        f"SELECT count() FROM {ch_database}.cases FINAL "
        "WHERE dispatched_at > 0 AND status NOT IN ('closed', 'voided')"
    )
    assert open_cases == [(0,)]
    wrong = clickhouse.execute(
        f"SELECT count() FROM {ch_database}.dead_letters FINAL WHERE source = 'department'"
    )
    assert wrong == [(0,)]  # the desks' answers are all legal

    # 按期核查率 in ClickHouse equals the Python KPI over the topic's own records
    tasks = [
        verify_task_row(VerifyTask.from_dict(orjson.loads(r.value)))
        for r in read_topic(s, s.kafka.topic(VERIFY_TASKS))
    ]
    columns = {k: [t[k] for t in tasks] for k in tasks[0]}
    want = reference.verification(
        {"verify_tasks": columns}, s.calendar.timezone, int(time.time() * 1000)
    )
    got = assert_rows_equal(ex.query(f"SELECT * FROM {ch_database}.kpi_verification"), want)
    district = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    assert 0 < sum(r["verified_on_time"] for r in district) < sum(r["verified"] for r in district)
