"""The api role live: a real HTTP client against a running ``api`` worker process, beside
the pipeline's roles (no simulated departments or supervisors: the desks are the api's).

A request posted through Open311 becomes a case, is dispatched, signed and reported handled
through the department desk, verified through the supervisor desk, and reads closed with
the department's notes; every kind of bad input is refused with a 4xx in the spec's error
form and writes nothing (the topics hold exactly the accepted writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from clickhouse_driver import Client

from streams.app.kafka_admin import ensure_topics
from streams.contracts.topics import RAW_TOPICS, UPDATES
from streams.runner import WorkerProcess, free_port, read_topic, wait_until
from streams.settings import Settings
from tests.integration.api_client import Answer, Http, write_keys

pytestmark = pytest.mark.integration

PIPELINE = "normalize,dedup,dispatch,lifecycle,sink"
POSITION = {"lat": "35.706257", "long": "114.266988"}  # 淮河路1号
NOTES = "cover replaced, area cordoned off until the mortar set"


def _form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def _refused(answer: Answer, status: int, words: str) -> None:
    assert answer.status == status, (answer.status, answer.body)
    [error] = answer.json()
    assert error["code"] == status and words in error["description"], error


class Loop:
    """The steps of the test, each waiting for the pipeline where it must."""

    def __init__(self, http: Http, clickhouse: Client, db: str, workers: list[WorkerProcess]):
        self.http, self.clickhouse, self.db, self.workers = http, clickhouse, db, workers

    def wait(self, what: str, predicate: Any, timeout_s: float = 120.0) -> None:
        def alive_and(pred: Any) -> bool:
            for w in self.workers:
                assert w.alive, w.log_path.read_text()[-3000:]
            return bool(pred())

        assert wait_until(lambda: alive_and(predicate), timeout_s, 0.5), what

    def request(self, request_id: str) -> dict[str, Any]:
        answer = self.http.call("GET", f"/open311/v2/requests/{request_id}.json", key="reader")
        return answer.json()[0] if answer.status == 200 else {}

    def desk_case(self, department: str) -> dict[str, Any]:
        answer = self.http.call("GET", f"/desk/v1/departments/{department}/cases", key=department)
        assert answer.status == 200, answer.body
        cases = answer.json()["cases"]
        return cases[0] if cases else {}

    def act(
        self,
        case_id: int,
        body: dict[str, Any],
        idem: str,
        key: str | None = "municipal",
        department: str = "municipal",
    ) -> Answer:
        return self.http.call(
            "POST",
            f"/desk/v1/departments/{department}/cases/{case_id}/actions",
            key=key,
            body=orjson.dumps(body),
            headers={"Idempotency-Key": idem},
        )

    def status(self, case_id: int) -> str:
        rows = self.clickhouse.execute(
            f"SELECT status FROM {self.db}.cases FINAL WHERE case_id = {case_id}"
        )
        return str(rows[0][0]) if rows else ""


def test_open311_request_worked_through_the_desks_reads_closed(
    pipeline_settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    s = pipeline_settings.replace(
        api_port=free_port(), api_keys_file=str(write_keys(tmp_path / "keys.toml"))
    )
    ensure_topics(s)
    http = Http(s.api.port)
    workers = [
        WorkerProcess(s, PIPELINE, free_port(), tmp_path / "pipeline.log").start(),
        WorkerProcess(s, "api", free_port(), tmp_path / "api.log").start(),
    ]
    loop = Loop(http, clickhouse, ch_database, workers)
    try:
        loop.wait("api up", http.healthy, 180.0)
        _bad_posts(http)
        request_id = _post(http)
        loop.wait("dispatched", lambda: loop.request(request_id).get("expected_datetime"))
        case = loop.desk_case("municipal")
        assert case["status"] == "dispatched" and case["allowed_actions"] == [
            "sign",
            "return",
            "hold",
        ]
        case_id = int(case["case_id"])
        _bad_actions(loop, case_id)
        assert loop.act(case_id, {"action": "sign"}, "sign-1").status == 202
        replay = loop.act(case_id, {"action": "sign"}, "sign-1")
        assert replay.status == 202 and replay.headers["Idempotent-Replayed"] == "true"
        loop.wait("signed", lambda: loop.status(case_id) == "signed")
        photos = ["https://desk.qibin.example/photos/after-1.jpg"]
        handled = loop.act(
            case_id, {"action": "handle", "note": NOTES, "media_urls": photos}, "h-1"
        )
        assert handled.status == 202, handled.body
        loop.wait("handled", lambda: loop.status(case_id) == "handled")
        _verify(loop, case_id)
        loop.wait("closed", lambda: loop.request(request_id).get("status") == "closed")
        view = loop.request(request_id)
    finally:
        for w in workers:
            w.stop()
    assert view["status_notes"] == NOTES and view["agency_responsible"] == "municipal"
    assert view["expected_datetime"] and view["updated_datetime"] > view["requested_datetime"]
    _check_writes(s, clickhouse, ch_database, request_id, case_id)


def _post(http: Http) -> str:
    body = _form(service_code="RD-COVER", description="井盖丢失, 淮河路1号门口", **POSITION)
    answer = http.call(
        "POST",
        "/open311/v2/requests.json",
        key="hotline",
        body=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status == 201, answer.body
    return str(answer.json()[0]["service_request_id"])


def _bad_posts(http: Http) -> None:
    path, form = "/open311/v2/requests.json", "application/x-www-form-urlencoded"
    good = {"service_code": "RD-COVER", **POSITION}
    _refused(http.call("POST", path, body=_form(**good), content_type=form), 401, "required")
    _refused(
        http.call("POST", path, key="no-such-key", body=_form(**good), content_type=form),
        401,
        "not valid",
    )
    _refused(
        http.call("POST", path, key="reader", body=_form(**good), content_type=form),
        403,
        "open311:write",
    )
    _refused(http.call("POST", path, key="hotline", body=b'{"service_code": '), 400, "malformed")
    _refused(
        http.call(
            "POST",
            path,
            key="hotline",
            body=orjson.dumps({"service_code": "RD-COVER", "lat": "x", "long": 1}),
        ),
        400,
        "lat must be a number",
    )
    _refused(
        http.call("POST", path, key="hotline", body=b"x" * (80 * 1024), content_type=form),
        413,
        "larger than",
    )
    _refused(
        http.call(
            "POST",
            path,
            key="hotline",
            content_type=form,
            body=_form(**{**good, "service_code": "NO-SUCH"}),
        ),
        400,
        "not a service",
    )
    _refused(
        http.call(
            "POST",
            path,
            key="hotline",
            content_type=form,
            body=_form(service_code="RD-COVER", lat="39.90", long="116.40"),
        ),
        400,
        "outside the district",
    )
    xml = http.call(
        "POST",
        "/open311/v2/requests.xml",
        key="hotline",
        content_type=form,
        body=_form(service_code="RD-COVER"),
    )
    assert xml.status == 400 and b"<errors><error><code>400</code>" in xml.body


def _bad_actions(loop: Loop, case_id: int) -> None:
    _refused(loop.act(case_id, {"action": "handle"}, "bad-1"), 409, "is dispatched")
    _refused(loop.act(case_id + 10**9, {"action": "sign"}, "bad-2"), 404, "no case")
    _refused(
        loop.act(case_id, {"action": "sign"}, "bad-3", key="sanitation"), 403, "desk:municipal"
    )
    _refused(
        loop.act(case_id, {"action": "sign"}, "bad-4", key="sanitation", department="sanitation"),
        403,
        "not with sanitation",
    )
    _refused(loop.act(case_id, {"action": "sign", "note": 3}, "bad-5"), 400, "must be a string")
    missing = loop.http.call(
        "POST",
        f"/desk/v1/departments/municipal/cases/{case_id}/actions",
        key="municipal",
        body=b'{"action": "sign"}',
    )
    _refused(missing, 400, "Idempotency-Key")
    _refused(loop.act(case_id, {"action": "sign"}, "bad-6", key=None), 401, "required")


def _verify(loop: Loop, case_id: int) -> None:
    rows: list[Any] = []

    def task_issued() -> bool:
        rows[:] = loop.clickhouse.execute(
            f"SELECT supervisor FROM {loop.db}.verify_tasks FINAL "
            f"WHERE case_id = {case_id} AND status = 'open'"
        )
        return bool(rows)

    loop.wait("verify task", task_issued)
    supervisor = rows[0][0]
    listing = loop.http.call("GET", f"/desk/v1/supervisors/{supervisor}/tasks", key="supervisors")
    assert [t["case_id"] for t in listing.json()["tasks"]] == [case_id]
    path = f"/desk/v1/supervisors/{supervisor}/tasks/{case_id}/verdict"
    headers = {"Idempotency-Key": "verify-1"}
    _refused(
        loop.http.call("POST", path, key="municipal", headers=headers, body=b'{"result": "pass"}'),
        403,
        "verify:",
    )
    _refused(
        loop.http.call(
            "POST", path, key="supervisors", headers=headers, body=b'{"result": "fail"}'
        ),
        400,
        "reason",
    )
    body = orjson.dumps({"result": "pass", "media_urls": ["https://sup.example/v1.jpg"]})
    answer = loop.http.call("POST", path, key="supervisors", headers=headers, body=body)
    assert answer.status == 202, answer.body


def _check_writes(s: Settings, clickhouse: Client, db: str, request_id: str, case_id: int) -> None:
    raw = [r.key.decode() for r in read_topic(s, s.kafka.topic(RAW_TOPICS["hotline"]))]
    assert raw == [request_id]  # the refused posts wrote nothing
    desk = [orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(UPDATES))]
    desk = [u for u in desk if str(u.get("update_id", "")).startswith("desk:")]
    assert [(u["action"], u["case_id"]) for u in desk] == [
        ("sign", case_id),
        ("handle", case_id),
        ("verify_ok", case_id),
    ]
    audit = clickhouse.execute(
        f"SELECT action, key_id, case_id, media_urls FROM {db}.api_audit FINAL"
    )
    assert sorted(audit) == [
        ("desk_handle", "municipal", case_id, '["https://desk.qibin.example/photos/after-1.jpg"]'),
        ("desk_sign", "municipal", case_id, "[]"),
        ("desk_verify_ok", "supervisors", case_id, '["https://sup.example/v1.jpg"]'),
        ("open311_request", "hotline", 0, "[]"),
    ]
    stages = clickhouse.execute(
        f"SELECT action, note FROM {db}.case_stages FINAL WHERE case_id = {case_id} ORDER BY seq"
    )
    assert [a for a, _ in stages] == ["open", "dispatch", "sign", "handle", "verify_ok"]
    assert (stages[3][1]) == NOTES
    dead = clickhouse.execute(f"SELECT reason FROM {db}.dead_letters FINAL")
    assert dead == []
