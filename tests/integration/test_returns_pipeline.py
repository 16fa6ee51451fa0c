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

from sinks import reference
from sinks.migrate import migrate
from sinks.sql import DriverExecutor
from streams.app.kafka_admin import ensure_topics
from streams.cases.calendar import WorkCalendar
from streams.contracts.topics import DISPATCH, UPDATES
from streams.runner import WorkerProcess, free_port, produce_records, read_topic, wait_until
from streams.settings import Settings
from streams.simulator import Simulation

pytestmark = pytest.mark.integration

ROLES = "normalize,dedup,dispatch,lifecycle,sink"
DESKS = ("enforcement", "landscaping", "municipal", "sanitation")
MIN = 60_000


def _stable(probe: Any, polls: int = 4) -> Any:
    seen: list[Any] = []

    def check() -> bool:
        seen.append(probe())
        return bool(seen[-1]) and seen[-polls:] == [seen[-1]] * polls

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


def test_returns_redispatches_dead_letters_and_kpi_in_clickhouse(
    settings: Settings, topic_name: str, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    s = settings.replace(
        topic_prefix=f"{topic_name}.", app_id=f"{topic_name}-app", clickhouse_database=ch_database
    )
    db = ch_database
    migrate(DriverExecutor(clickhouse), db, s.calendar.timezone)
    ensure_topics(s)
    records = Simulation("ordinary", seed=7, scale=0.02).records()
    worker = WorkerProcess(s, ROLES, free_port(), tmp_path / "worker.log").start()
    try:
        produce_records(s, [(r.source, r.key, r.value, r.arrival_ms) for r in records])
        count = f"SELECT count() FROM {db}.case_stages WHERE action = 'dispatch'"
        check, seen = _stable(lambda: clickhouse.execute(count)[0][0])
        assert wait_until(check, 240.0, 2.0), (seen[-3:], worker.log_path.read_text()[-3000:])
        orders = [orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(DISPATCH))]
        assert len(orders) >= 12
        good, bad = orders[:6], orders[6:12]
        valid = [_return(o, f"ret-{o['case_id']}", o["dispatched_at_ms"] + MIN) for o in good]
        invalid = [
            _return(bad[0], "late", bad[0]["return_due_ms"] + MIN),
            _return(bad[1], "wrong-dept", bad[1]["dispatched_at_ms"] + MIN, department="x"),
            _return(bad[2], "no-reason", bad[2]["dispatched_at_ms"] + MIN, note=""),
            _return(bad[3], "nowhere", bad[3]["dispatched_at_ms"] + MIN, to_department="port"),
            _return(bad[4], "unknown", bad[4]["dispatched_at_ms"] + MIN, case_id=10**12),
            # names nobody, and the category rule points back to the returning department
            _return(bad[5], "by-rule", bad[5]["dispatched_at_ms"] + MIN, to_department=""),
            # a returned case's old department may not return it again
            valid[0] | {"update_id": "again", "ts": valid[0]["ts"] + MIN},
        ]
        _send(s, valid + invalid)
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
    # the re-dispatch orders went out, keyed by their department, and replaced the rows
    redispatched = [
        orjson.loads(r.value) | {"key": r.key.decode()}
        for r in read_topic(s, s.kafka.topic(DISPATCH))
    ]
    again = {o["case_id"]: o for o in redispatched if o["round"] == 1}
    assert {c: (o["department"], o["key"]) for c, o in again.items()} == {
        u["case_id"]: (u["to_department"], u["to_department"]) for u in valid
    }
    calendar = WorkCalendar.from_settings(s)
    for u, o in zip(valid, good, strict=True):  # the deadline restarts at the return
        restarted = calendar.deadline_for(
            u["ts"], o["deadline_value"], o["deadline_unit"], o["urgent"]
        )
        assert again[o["case_id"]]["deadline_ms"] == restarted
        assert again[o["case_id"]]["dispatched_at_ms"] == u["ts"]
    rows = dict(clickhouse.execute(f"SELECT case_id, department FROM {db}.dispatches FINAL"))
    assert {c: rows[c] for c in again} == {c: o["department"] for c, o in again.items()}
    cases = dict(clickhouse.execute(f"SELECT case_id, department FROM {db}.cases FINAL"))
    assert {c: cases[c] for c in again} == {c: o["department"] for c, o in again.items()}

    reasons = Counter(
        r
        for (r,) in clickhouse.execute(
            f"SELECT reason FROM {db}.dead_letters FINAL WHERE source = 'department'"
        )
    )
    assert reasons == {
        "return_too_late": 1,
        "illegal_transition": 3,
        "missing_field": 1,
        "unknown_department": 1,
        "unknown_case": 1,
    }
    statuses = dict(
        clickhouse.execute(
            f"SELECT case_id, status FROM {db}.cases FINAL WHERE case_id IN "
            f"({','.join(str(o['case_id']) for o in bad)})"
        )
    )
    assert set(statuses.values()) == {"dispatched"}  # the bad returns changed nothing

    # 退单率 in ClickHouse (the server, not chdb) equals the Python reference
    tables = {
        "case_stages": _table(clickhouse, f"SELECT * FROM {db}.case_stages"),
        "cases": _table(clickhouse, f"SELECT case_id, version, category_key FROM {db}.cases"),
    }
    tables["case_stages"]["ts"] = _ms(tables["case_stages"]["ts"])
    want = reference.returns(tables, s.calendar.timezone)
    got = {
        (r["period"], r["period_start"], r["level"], r["unit"]): r
        for r in DriverExecutor(clickhouse).query(f"SELECT * FROM {db}.kpi_returns")
    }
    assert set(got) == set(want)
    for key, row in want.items():
        for name, value in row.items():
            assert got[key][name] == pytest.approx(value), (key, name)
    month = [r for k, r in got.items() if k[0] == "month" and k[2] == "district"]
    assert sum(r["returned"] for r in month) == len(valid)
