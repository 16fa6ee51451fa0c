"""Returns (退单) live: real broker, ClickHouse and worker processes. Departments return
dispatched cases (sent to ``case.updates`` by the test, no simulated desks, so nothing races
with them); the lifecycle re-dispatches them, the new orders go out on ``dispatch``, and
the returns, re-dispatches and 退单率 land in ClickHouse; every bad return is a dead letter
with its reason and changes nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from clickhouse_driver import Client

from sinks import reference_stages
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.cases.calendar import WorkCalendar
from streams.contracts.fused import Source
from streams.contracts.topics import DISPATCH, UPDATES
from streams.runner import WorkerProcess, free_port, read_topic, wait_until
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.pipeline_runs import produce_feed
from tests.kpi_rows import assert_rows_equal

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup,dispatch,lifecycle,sink"
DESKS = ("enforcement", "landscaping", "municipal", "sanitation")
MIN = 60_000


def _stable(probe: Any, polls: int = 4) -> Any:
    seen: list[Any] = []

    def check() -> bool:
        seen.append(probe())
        # a tuple of counts is truthy even when all are 0: stable only once something came
        value = seen[-1]
        started = any(value) if isinstance(value, tuple) else bool(value)
        return started and seen[-polls:] == [value] * polls

    return check, seen


def _return(order: dict[str, Any], uid: str, ts: int, **fields: Any) -> dict[str, Any]:
    other = next(d for d in DESKS if d != order["department"])
    return {
        "update_id": uid,
        "case_id": order["case_id"],
        "action": "return",
        "actor": f"{order['department']}-07",
        "department": order["department"],
        "ts": ts,
        "note": "misrouted",
        "to_department": other,
    } | fields


def _send(s: Settings, updates: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=s.kafka.bootstrap_servers, acks="all")
    try:
        for u in updates:
            key = str(u["case_id"]).encode()
            producer.send(s.kafka.topic(UPDATES), key=key, value=orjson.dumps(u))
        producer.flush(60)
    finally:
        producer.close(30)


def _table(client: Client, sql: str) -> dict[str, list[Any]]:
    rows, columns = client.execute(sql, with_column_types=True)
    return {name: [r[i] for r in rows] for i, (name, _) in enumerate(columns)}


def _ms(values: list[Any]) -> list[int]:
    return [int(v.timestamp()) * 1000 for v in values]


def _invalid(bad: list[dict[str, Any]], valid: dict[str, Any]) -> list[dict[str, Any]]:
    """Bad returns for the orders ``bad`` (and after the valid return ``valid``); their
    dead-letter reasons are BAD_REASONS."""
    return [
        _return(bad[0], "late", bad[0]["return_due_ms"] + MIN),
        _return(bad[1], "wrong-dept", bad[1]["dispatched_at_ms"] + MIN, department="x"),
        _return(bad[2], "no-reason", bad[2]["dispatched_at_ms"] + MIN, note=""),
        _return(bad[3], "nowhere", bad[3]["dispatched_at_ms"] + MIN, to_department="port"),
        _return(bad[4], "unknown", bad[4]["dispatched_at_ms"] + MIN, case_id=10**12),
        # names nobody, and the category rule points back to the returning department
        _return(bad[5], "by-rule", bad[5]["dispatched_at_ms"] + MIN, to_department=""),
        # a returned case's old department may not return it again
        valid | {"update_id": "again", "ts": valid["ts"] + MIN},
    ]


BAD_REASONS = {
    "return_too_late": 1,
    "illegal_transition": 3,
    "missing_field": 1,
    "unknown_department": 1,
    "unknown_case": 1,
}


def _check_redispatched(
    s: Settings, client: Client, valid: list[dict[str, Any]], good: list[dict[str, Any]]
) -> None:
    """The re-dispatch orders went out keyed by their department, with the deadline
    restarted at the return, and moved the dispatches and cases rows."""
    db = s.clickhouse.database
    redispatched = [
        orjson.loads(r.value) | {"key": r.key.decode()}
        for r in read_topic(s, s.kafka.topic(DISPATCH))
    ]
    again = {o["case_id"]: o for o in redispatched if o["round"] == 1}
    assert {c: (o["department"], o["key"]) for c, o in again.items()} == {
        u["case_id"]: (u["to_department"], u["to_department"]) for u in valid
    }
    calendar = WorkCalendar.from_settings(s)
    for u, o in zip(valid, good, strict=True):
        restarted = calendar.deadline_for(
            u["ts"], o["deadline_value"], o["deadline_unit"], o["urgent"]
        )
        assert again[o["case_id"]]["deadline_ms"] == restarted
        assert again[o["case_id"]]["dispatched_at_ms"] == u["ts"]
    for table in ("dispatches", "cases"):
        rows = dict(client.execute(f"SELECT case_id, department FROM {db}.{table} FINAL"))
        assert {c: rows[c] for c in again} == {c: o["department"] for c, o in again.items()}


def _check_returns_kpi(s: Settings, client: Client, returned: int) -> None:
    """退单率 in ClickHouse (the server, not chdb) equals the Python reference."""
    db = s.clickhouse.database
    tables = {
        "case_stages": _table(client, f"SELECT * FROM {db}.case_stages"),
        "cases": _table(client, f"SELECT case_id, version, category_key FROM {db}.cases"),
    }
    tables["case_stages"]["ts"] = _ms(tables["case_stages"]["ts"])
    want = reference_stages.returns(tables, s.calendar.timezone)
    got = assert_rows_equal(DriverExecutor(client).query(f"SELECT * FROM {db}.kpi_returns"), want)
    month = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    assert sum(r["returned"] for r in month) == returned


def test_returns_redispatches_dead_letters_and_kpi_in_clickhouse(
    pipeline_settings: Settings, clickhouse: Client, tmp_path: Path
) -> None:
    s, db = pipeline_settings, pipeline_settings.clickhouse.database
    ensure_topics(s)
    records = Simulation("ordinary", seed=7, scale=0.02).records()
    worker = WorkerProcess(s, ROLES, free_port(), tmp_path / "worker.log").start()
    try:
        produce_feed(s, records)
        count = f"SELECT count() FROM {db}.case_stages WHERE action = 'dispatch'"
        check, seen = _stable(lambda: clickhouse.execute(count)[0][0])
        assert wait_until(check, 240.0, 2.0), (seen[-3:], worker.log_path.read_text()[-3000:])
        orders = [orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(DISPATCH))]
        assert len(orders) >= 12
        good, bad = orders[:6], orders[6:12]
        valid = [_return(o, f"ret-{o['case_id']}", o["dispatched_at_ms"] + MIN) for o in good]
        _send(s, valid + _invalid(bad, valid[0]))
        probe = (
            f"SELECT (SELECT count() FROM {db}.case_stages FINAL WHERE action = 'redispatch'),"
            f" (SELECT count() FROM {db}.dead_letters FINAL WHERE source = 'department')"
        )
        check, seen = _stable(lambda: clickhouse.execute(probe)[0])
        assert wait_until(check, 120.0, 2.0), (seen[-3:], worker.log_path.read_text()[-3000:])
        assert worker.alive, worker.log_path.read_text()[-3000:]
    finally:
        worker.stop()

    stages = clickhouse.execute(
        f"SELECT case_id, action, department, note FROM {db}.case_stages FINAL "
        "WHERE action IN ('return', 'redispatch') ORDER BY case_id, seq"
    )
    want_stages = []
    for u, o in zip(valid, good, strict=True):
        want_stages.append((o["case_id"], "return", o["department"], "misrouted"))
        note = f"returned by {o['department']}: misrouted"
        want_stages.append((o["case_id"], "redispatch", u["to_department"], note))
    assert stages == sorted(want_stages, key=lambda row: row[0])  # stable: return first
    _check_redispatched(s, clickhouse, valid, good)

    reasons = Counter(
        r
        for (r,) in clickhouse.execute(
            f"SELECT reason FROM {db}.dead_letters FINAL WHERE source = 'department'"
        )
    )
    assert reasons == BAD_REASONS
    statuses = dict(
        clickhouse.execute(
            f"SELECT case_id, status FROM {db}.cases FINAL WHERE case_id IN "
            f"({','.join(str(o['case_id']) for o in bad)})"
        )
    )
    assert set(statuses.values()) == {"dispatched"}  # the bad returns changed nothing
    _check_returns_kpi(s, clickhouse, len(valid))


FULL_ROLES = "normalize,dedup,dispatch,lifecycle,departments,supervisors,sink"


def test_simulated_desks_return_call_back_and_reopen(
    pipeline_settings: Settings, clickhouse: Client, tmp_path: Path
) -> None:
    """The demo's desks end to end: departments return some cases (re-dispatched and
    handled by the next department), the callback desk calls back every closed hotline
    case, unsatisfied callbacks reopen cases that are handled and verified again; every
    answer is legal and 满意度 in ClickHouse equals the reference."""
    s, db = pipeline_settings, pipeline_settings.clickhouse.database
    ensure_topics(s)
    records = Simulation("ordinary", seed=11, scale=0.05).records()
    worker = WorkerProcess(s, FULL_ROLES, free_port(), tmp_path / "worker.log").start()
    probe = (
        f"SELECT countIf(action = 'callback'), countIf(action = 'reopen'), "
        f"countIf(action = 'redispatch'), count() FROM {db}.case_stages FINAL"
    )
    try:
        produce_feed(s, records)
        check, seen = _stable(lambda: clickhouse.execute(probe)[0], polls=5)
        assert wait_until(check, 300.0, 2.0), (seen[-3:], worker.log_path.read_text()[-3000:])
        assert worker.alive, worker.log_path.read_text()[-3000:]
    finally:
        worker.stop()
    callbacks, reopens, redispatches, _ = seen[-1]
    # seeded desks: this feed has a few returns and unsatisfied callbacks (3 and 2)
    assert callbacks >= 10 and reopens >= 1 and redispatches >= 1, seen[-1]
    stages = _table(clickhouse, f"SELECT * FROM {db}.case_stages FINAL")
    by_action = Counter(stages["action"])
    assert by_action["return"] == redispatches
    unsatisfied = {
        c
        for c, a, r in zip(stages["case_id"], stages["action"], stages["result"], strict=True)
        if a == "callback" and r == "unsatisfied"
    }
    assert reopens == len(unsatisfied)  # each once (MAX_REOPENS)
    # callbacks only for hotline cases: the linked reports of each called-back case
    called = {
        c for c, a in zip(stages["case_id"], stages["action"], strict=True) if a == "callback"
    }
    sources = dict(
        clickhouse.execute(
            f"SELECT case_id, groupUniqArray(source) FROM {db}.links FINAL "
            f"WHERE is_new = 1 GROUP BY case_id"
        )
    )
    assert all(sources[c] == [Source.HOTLINE] for c in called)
    wrong = clickhouse.execute(
        f"SELECT reason, count() FROM {db}.dead_letters FINAL WHERE source = 'department' "
        "GROUP BY reason"
    )
    assert wrong == []  # every simulated answer is legal
    open_cases = clickhouse.execute(
        f"SELECT count() FROM {db}.cases FINAL "
        "WHERE dispatched_at > 0 AND status NOT IN ('closed', 'voided')"
    )
    assert open_cases == [(0,)]  # reopened and returned cases were closed again

    _check_satisfaction_kpi(s, clickhouse, stages)


def _check_satisfaction_kpi(s: Settings, client: Client, stages: dict[str, list[Any]]) -> None:
    """满意度 in ClickHouse (the server, not chdb) equals the Python reference."""
    stages = stages | {"ts": _ms(stages["ts"])}
    want = reference_stages.satisfaction({"case_stages": stages}, s.calendar.timezone)
    rows = DriverExecutor(client).query(f"SELECT * FROM {s.clickhouse.database}.kpi_satisfaction")
    assert_rows_equal(rows, want)
