"""The case board: overdue and escalated first, every open case on the map, a case's
history from every channel with its stages and photos; locked to board:read."""

from __future__ import annotations

import base64
import re

import orjson

from tests.unit.api.conftest import NOW_MS, Client, FakeReads, RecordingWriter, case_row


def _seed(reads: FakeReads) -> None:
    reads.case_rows[1] = case_row(1, "dispatched")
    reads.case_rows[2] = case_row(2, "signed", deadline=NOW_MS - 600_000)  # overdue
    reads.case_rows[3] = case_row(3, "dispatched", department="sanitation", lat=35.75)
    reads.case_rows[4] = case_row(4, "closed")
    reads.escalation_rows[3] = [{"level": "remind", "escalated_at": NOW_MS - 1000}]


async def test_board_lists_open_cases_overdue_and_escalated_first(
    client: Client, reads: FakeReads
) -> None:
    _seed(reads)
    r = await client.call("GET", "/board", key="operators")
    assert r.status == 200 and r.content_type.startswith("text/html")
    page = r.body.decode()
    rows = re.findall(r'<tr class="(\w+)"><td><a href="/board/cases/(\d+)">', page)
    assert rows == [("overdue", "2"), ("escalated", "3"), ("open", "1")]
    circles = re.findall(r'<circle class="case c-(\w+)"', page)
    assert sorted(circles) == ["escalated", "open", "overdue"]
    assert page.count('<path class="streets"') == 28  # every street of the district
    assert "<script" not in page


async def test_board_needs_board_read(client: Client, reads: FakeReads) -> None:
    _seed(reads)
    assert (await client.call("GET", "/board", key="municipal")).status == 403
    r = await client.call("GET", "/board")
    assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
    basic = base64.b64encode(b"operator:demo-operators").decode()
    ok = await client.call("GET", "/board", headers={"Authorization": f"Basic {basic}"})
    assert ok.status == 200


async def test_case_history_shows_reports_stages_and_photos(
    client: Client, reads: FakeReads, writer: RecordingWriter
) -> None:
    reads.case_rows[5] = case_row(5, "handled")
    reads.events[5] = [
        {
            "event_id": 1,
            "source": 1,
            "source_ref": "API-1",
            "event_time": NOW_MS - 7_000_000,
            "reporter": "",
            "text": "井盖<丢失>",
            "address": "淮河路1号",
            "device_id": "",
        },
        {
            "event_id": 2,
            "source": 0,
            "source_ref": "s-9",
            "event_time": NOW_MS - 6_900_000,
            "reporter": "",
            "text": "tilt",
            "address": "",
            "device_id": "4106110102000001",
        },
    ]
    reads.stages[5] = [
        {
            "seq": 0,
            "action": "open",
            "from_status": "",
            "to_status": "opened",
            "ts": NOW_MS - 6_800_000,
            "actor": "",
            "department": "municipal",
            "note": "",
            "result": "",
        },
        {
            "seq": 3,
            "action": "handle",
            "from_status": "signed",
            "to_status": "handled",
            "ts": NOW_MS - 60_000,
            "actor": "municipal",
            "department": "municipal",
            "note": "cover replaced",
            "result": "",
        },
    ]
    record = orjson.dumps({"service_request_id": "API-1", "media_url": "https://h.example/1.jpg"})
    reads.audit += [
        {
            "audit_id": "open311:API-1",
            "key_id": "hotline",
            "action": "open311_request",
            "case_id": 0,
            "media_urls": "[]",
            "record": record.decode(),
            "accepted_at": 0,
        },
        {
            "audit_id": "desk:m:1",
            "key_id": "municipal",
            "action": "desk_handle",
            "case_id": 5,
            "media_urls": '["https://d.example/after.jpg"]',
            "record": "{}",
            "accepted_at": 0,
        },
    ]
    r = await client.call("GET", "/board/cases/5", key="operators")
    page = r.body.decode()
    assert r.status == 200
    assert "井盖&lt;丢失&gt;" in page  # escaped
    assert ">hotline<" in page and ">sensor<" in page and "4106110102000001" in page
    assert "cover replaced" in page
    assert 'src="https://h.example/1.jpg"' in page and 'src="https://d.example/after.jpg"' in page
    assert (await client.call("GET", "/board/cases/77", key="operators")).status == 404
