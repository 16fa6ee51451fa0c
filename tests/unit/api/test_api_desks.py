"""The department and supervisor desks on the api core: each sees only its own, each
action checked against the case loop, a retried Idempotency-Key applied once."""

from __future__ import annotations

import orjson
import pytest

from streams.cases.transitions import CaseUpdate
from streams.contracts.topics import API_AUDIT, UPDATES
from tests.unit.api.conftest import NOW_MS, Client, FakeReads, RecordingWriter, case_row

ACTIONS = "/desk/v1/departments/municipal/cases/{}/actions"
VERDICT = "/desk/v1/supervisors/SUP-001-01/tasks/{}/verdict"


def _task(case_id: int, supervisor: str = "SUP-001-01") -> dict:
    return {
        "task_id": f"{case_id}:v0",
        "case_id": case_id,
        "rework_round": 0,
        "supervisor": supervisor,
        "department": "municipal",
        "category_key": "C0102",
        "grid_code": "410611001001001",
        "street": "410611001",
        "area": "urban",
        "issued_at": NOW_MS - 60_000,
        "due_at": NOW_MS + 3_540_000,
    }


async def _act(client: Client, case_id: int, body: dict, idem: str = "k1", key: str = "municipal"):
    return await client.call(
        "POST",
        ACTIONS.format(case_id),
        key=key,
        body=orjson.dumps(body),
        headers={"Idempotency-Key": idem},
    )


async def test_department_sees_its_open_cases_overdue_and_escalated_first(
    client: Client, reads: FakeReads
) -> None:
    reads.case_rows[1] = case_row(1, "dispatched")
    reads.case_rows[2] = case_row(2, "signed", deadline=NOW_MS - 60_000)
    reads.case_rows[3] = case_row(3, "dispatched", department="sanitation")
    reads.escalation_rows[2] = [{"level": "supervise", "escalated_at": NOW_MS - 1000}]
    r = await client.call("GET", "/desk/v1/departments/municipal/cases", key="municipal")
    assert r.status == 200
    cases = r.json()["cases"]
    assert [c["case_id"] for c in cases] == [2, 1]
    assert cases[0]["overdue"] and cases[0]["time_left_s"] == -60
    assert cases[0]["escalations"] == [{"level": "supervise", "escalated_at_ms": NOW_MS - 1000}]
    assert cases[0]["allowed_actions"] == ["handle", "return", "hold"]
    assert cases[1]["allowed_actions"] == ["sign", "return", "hold"]
    other = await client.call("GET", "/desk/v1/departments/municipal/cases", key="sanitation")
    assert other.status == 403
    assert (await client.call("GET", "/desk/v1/departments/municipal/cases")).status == 401


async def test_sign_is_written_once_per_idempotency_key(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    reads.case_rows[7] = case_row(7, "dispatched")
    first = await _act(client, 7, {"action": "sign"})
    assert first.status == 202, first.body
    [update] = writer.on(UPDATES)
    parsed = CaseUpdate.from_dict(update)
    assert (parsed.case_id, parsed.action.value, parsed.department) == (7, "sign", "municipal")
    assert parsed.update_id == "desk:municipal:k1" and parsed.ts_ms == NOW_MS
    [audit] = writer.on(API_AUDIT)
    assert audit["audit_id"] == "desk:municipal:k1" and audit["case_id"] == 7
    again = await _act(client, 7, {"action": "sign"})
    assert (again.status, again.body) == (202, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(writer.sent) == 2  # nothing more
    other = await _act(client, 7, {"action": "hold"})
    assert other.status == 422 and len(writer.sent) == 2


async def test_handled_with_photos_keeps_them_in_the_audit(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    reads.case_rows[8] = case_row(8, "signed")
    urls = ["https://photos.example/8/after.jpg"]
    r = await _act(client, 8, {"action": "handle", "note": "cover replaced", "media_urls": urls})
    assert r.status == 202
    assert writer.on(UPDATES)[0]["note"] == "cover replaced"
    assert orjson.loads(writer.on(API_AUDIT)[0]["media_urls"]) == urls


@pytest.mark.parametrize(
    ("case", "body", "headers", "status", "words"),
    [
        (case_row(9, "dispatched"), b"{not json", {"Idempotency-Key": "a"}, 400, "malformed"),
        (case_row(9, "dispatched"), b'{"action": 5}', {"Idempotency-Key": "a"}, 400, "string"),
        (
            case_row(9, "dispatched"),
            b'{"action": "fly"}',
            {"Idempotency-Key": "a"},
            400,
            "action must be",
        ),
        (
            case_row(9, "dispatched"),
            b'{"action": "return"}',
            {"Idempotency-Key": "a"},
            400,
            "reason",
        ),
        (
            case_row(9, "dispatched"),
            b'{"action": "sign", "x": 1}',
            {"Idempotency-Key": "a"},
            400,
            "unknown fields",
        ),
        (case_row(9, "dispatched"), b'{"action": "sign"}', {}, 400, "Idempotency-Key"),
        (
            case_row(9, "dispatched"),
            b'{"action": "handle"}',
            {"Idempotency-Key": "a"},
            409,
            "is dispatched",
        ),
        (case_row(9, "closed"), b'{"action": "sign"}', {"Idempotency-Key": "a"}, 409, "is closed"),
        (
            case_row(9, "dispatched", department="sanitation"),
            b'{"action": "sign"}',
            {"Idempotency-Key": "a"},
            403,
            "not with municipal",
        ),
        (
            case_row(10, "dispatched"),
            b'{"action": "sign"}',
            {"Idempotency-Key": "a"},
            404,
            "no case 9",
        ),
        (
            case_row(9, "dispatched"),
            b'{"action": "sign", "media_urls": "x"}',
            {"Idempotency-Key": "a"},
            400,
            "media_urls",
        ),
    ],
)
async def test_bad_actions_are_refused_and_write_nothing(
    client: Client,
    reads: FakeReads,
    writer: RecordingWriter,
    case: dict,
    body: bytes,
    headers: dict,
    status: int,
    words: str,
) -> None:
    reads.case_rows[case["case_id"]] = case
    r = await client.call("POST", ACTIONS.format(9), key="municipal", body=body, headers=headers)
    [error] = r.json()
    assert (r.status, error["code"]) == (status, status) and words in error["description"], error
    assert writer.sent == []


async def test_a_refused_action_may_be_retried_under_the_same_key(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    reads.case_rows[11] = case_row(11, "dispatched")
    assert (await _act(client, 11, {"action": "handle"})).status == 409
    reads.case_rows[11] = case_row(11, "signed")  # the state caught up
    assert (await _act(client, 11, {"action": "handle"})).status == 202


async def test_a_return_after_its_limit_is_refused(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    reads.case_rows[12] = case_row(12, "dispatched")
    reads.orders[12] = {
        "case_id": 12,
        "department": "municipal",
        "urgent": 1,
        "dispatched_at": NOW_MS - 3 * 3_600_000,
    }
    late = await _act(client, 12, {"action": "return", "note": "not ours"})
    assert late.status == 409 and "return limit" in late.json()[0]["description"]
    reads.orders[12]["dispatched_at"] = NOW_MS - 600_000
    ok = await _act(
        client,
        12,
        {"action": "return", "note": "not ours", "to_department": "sanitation"},
        idem="k2",
    )
    assert ok.status == 202
    assert writer.on(UPDATES)[0]["to_department"] == "sanitation"


async def test_supervisor_sees_and_settles_only_its_tasks(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    reads.case_rows[20] = case_row(20, "handled")
    reads.case_rows[21] = case_row(21, "handled")
    reads.tasks += [_task(20), _task(21, supervisor="SUP-002-01")]
    listing = await client.call("GET", "/desk/v1/supervisors/SUP-001-01/tasks", key="sup")
    assert [t["case_id"] for t in listing.json()["tasks"]] == [20]
    assert (
        await client.call("GET", "/desk/v1/supervisors/SUP-002-01/tasks", key="sup")
    ).status == 403
    h = {"Idempotency-Key": "v1"}
    other = await client.call(
        "POST", VERDICT.format(21), key="sup", headers=h, body=b'{"result": "pass"}'
    )
    assert other.status == 403
    no_reason = await client.call(
        "POST", VERDICT.format(20), key="sup", headers=h, body=b'{"result": "fail"}'
    )
    assert no_reason.status == 400
    missing = await client.call(
        "POST", VERDICT.format(99), key="sup", headers=h, body=b'{"result": "pass"}'
    )
    assert missing.status == 404
    assert writer.sent == []
    body = b'{"result": "fail", "reason": "still open", "media_urls": ["https://p.example/1.jpg"]}'
    r = await client.call("POST", VERDICT.format(20), key="sup", headers=h, body=body)
    assert r.status == 202
    update = CaseUpdate.from_dict(writer.on(UPDATES)[0])
    assert (update.action.value, update.actor, update.note) == (
        "verify_fail",
        "SUP-001-01",
        "still open",
    )
    assert update.department == "municipal"


async def test_an_unavailable_store_or_broker_is_a_503_and_no_replay(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    def down(*args: object) -> None:
        raise OSError("Connection refused")

    reads.case_rows[30] = case_row(30, "dispatched")
    reads.department_cases = down  # type: ignore[method-assign]
    listing = await client.call("GET", "/desk/v1/departments/municipal/cases", key="municipal")
    assert listing.status == 503 and listing.headers["Retry-After"] == "5"

    async def refused(topic: str, key: bytes, value: bytes) -> None:
        raise TimeoutError("no ack")

    send, writer.send = writer.send, refused  # type: ignore[method-assign]
    failed = await _act(client, 30, {"action": "sign"}, idem="k-503")
    assert failed.status == 503 and "retry" in failed.json()[0]["description"]
    writer.send = send  # type: ignore[method-assign]
    retried = await _act(client, 30, {"action": "sign"}, idem="k-503")
    assert retried.status == 202 and "Idempotent-Replayed" not in retried.headers
    assert len(writer.on(UPDATES)) == 1
