"""Open311 GeoReport v2 on the api core: services, POST checked as the intake checks,
requests read back from their cases; every refusal in the spec's error form, nothing written."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import orjson
import pytest

from streams.contracts.fused import event_id_for
from streams.contracts.topics import API_AUDIT
from streams.intake.normalize import Normalizer
from streams.settings import Settings
from tests.unit.api.conftest import NOW_MS, Client, FakeReads, RecordingWriter, case_row

GOOD = {"service_code": "RD-COVER", "lat": "35.7063", "long": "114.2670", "description": "盖板丢失"}


def _form(**fields: str) -> bytes:
    return urlencode(fields).encode()


async def test_services_list_every_mapped_code_with_its_department(client: Client) -> None:
    r = await client.call("GET", "/open311/v2/services.json")
    assert r.status == 200
    by_code = {s["service_code"]: s for s in r.json()}
    assert by_code["RD-COVER"]["group"] == "municipal"
    assert by_code["SW-GARB"]["group"] == "sanitation"
    assert by_code["RD-COVER"]["metadata"] is False and by_code["RD-COVER"]["type"] == "realtime"
    xml = await client.call("GET", "/open311/v2/services.xml")
    assert xml.body.startswith(b'<?xml version="1.0" encoding="utf-8"?><services><service>')
    assert b"<service_code>RD-COVER</service_code>" in xml.body


async def test_service_definition_and_unknown_code(client: Client) -> None:
    r = await client.call("GET", "/open311/v2/services/RD-COVER.json")
    assert r.json() == {"service_code": "RD-COVER", "attributes": []}
    xml = await client.call("GET", "/open311/v2/services/RD-COVER.xml")
    assert b"<service_definition><service_code>RD-COVER</service_code>" in xml.body
    missing = await client.call("GET", "/open311/v2/services/NOPE.json")
    assert missing.status == 404 and missing.json()[0]["code"] == 404


async def test_post_writes_the_intakes_record_and_its_audit(
    client: Client, writer: RecordingWriter, api_settings: Settings
) -> None:
    r = await client.call(
        "POST",
        "/open311/v2/requests.json",
        key="hotline",
        body=_form(**GOOD),
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status == 201, r.body
    request_id = r.json()[0]["service_request_id"]
    [(topic, key, value), (audit_topic, _, audit)] = writer.sent
    assert (topic, key) == ("raw.hotline", request_id.encode())
    record = orjson.loads(value)
    assert record["service_code"] == "RD-COVER" and record["lat"] == 35.7063
    assert "api_key" not in record
    # the hotline intake accepts it as it is
    result = Normalizer.from_settings(api_settings).normalize("hotline", [value], now_ms=NOW_MS)
    assert not result.dead_letters and len(result.batch) == 1
    row = orjson.loads(audit)
    assert audit_topic == API_AUDIT and row["key_id"] == "hotline"
    assert row["audit_id"] == f"open311:{request_id}" and orjson.loads(row["record"]) == record


async def test_post_takes_json_and_the_key_in_the_body(
    client: Client, writer: RecordingWriter
) -> None:
    body = orjson.dumps({**GOOD, "lat": 35.7063, "long": 114.267, "api_key": "demo-hotline"})
    r = await client.call(
        "POST", "/open311/v2/requests.xml", body=body, content_type="application/json"
    )
    assert r.status == 201
    assert b"<service_requests><request><service_request_id>API-" in r.body
    assert b"demo-hotline" not in writer.sent[0][2] + writer.sent[1][2]


async def test_post_by_gazetteer_address(client: Client, writer: RecordingWriter) -> None:
    body = _form(service_code="SW-GARB", address_string="淮河路1号")
    r = await client.call("POST", "/open311/v2/requests.json", key="hotline", body=body)
    assert r.status == 201, r.body
    assert orjson.loads(writer.sent[0][2])["address"] == "淮河路1号"


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b'{"service_code": "RD-COVER", ', "application/json", "malformed JSON"),
        (b"[1, 2]", "application/json", "must be an object"),
        (orjson.dumps({**GOOD, "lat": "north"}), "application/json", "lat must be a number"),
        (orjson.dumps({**GOOD, "lat": True}), "application/json", "lat must be a number"),
        (orjson.dumps({**GOOD, "description": 7}), "application/json", "must be a string"),
        (_form(**{**GOOD, "service_code": "NOPE"}), "", "not a service"),
        (_form(**{**GOOD, "lat": "39.9", "long": "116.4"}), "", "outside the district"),
        (_form(service_code="RD-COVER"), "", "a location is required"),
        (_form(service_code="RD-COVER", lat="35.7"), "", "lat and long go together"),
        (_form(service_code="RD-COVER", address_string="nowhere 1"), "", "gazetteer"),
        (_form(**{**GOOD, "media_url": "javascript:alert(1)"}), "", "media_url"),
        (_form(**{**GOOD, "description": "x" * 4001}), "", "longer than 4000"),
        (b"<xml/>", "text/xml", "send a form or JSON"),
    ],
)
async def test_bad_posts_are_refused_and_write_nothing(
    client: Client, writer: RecordingWriter, body: bytes, content_type: str, words: str
) -> None:
    r = await client.call(
        "POST", "/open311/v2/requests.json", key="hotline", body=body, content_type=content_type
    )
    assert 400 <= r.status < 500, r.body
    [error] = r.json()
    assert error["code"] == r.status and words in error["description"], error
    assert writer.sent == []


@pytest.mark.parametrize(
    ("key", "status"), [(None, 401), ("wrong-key", 401), ("reader", 403), ("municipal", 403)]
)
async def test_post_needs_a_key_with_write_scope(
    client: Client, writer: RecordingWriter, key: str | None, status: int
) -> None:
    r = await client.call("POST", "/open311/v2/requests.json", key=key, body=_form(**GOOD))
    assert r.status == status
    assert (r.headers.get("WWW-Authenticate") is not None) == (status == 401)
    assert writer.sent == []


async def test_get_request_reads_its_case(
    client: Client, writer: RecordingWriter, reads: FakeReads
) -> None:
    posted = await client.call(
        "POST", "/open311/v2/requests.json", key="hotline", body=_form(**GOOD)
    )
    request_id = posted.json()[0]["service_request_id"]
    audit = orjson.loads(writer.sent[1][2])
    reads.audit.append({**audit, "accepted_at": NOW_MS})
    path = f"/open311/v2/requests/{request_id}.json"
    [fresh] = (await client.call("GET", path, key="reader")).json()
    assert fresh["status"] == "open" and fresh["agency_responsible"] == "municipal"
    assert fresh["expected_datetime"] is None
    reads.link_rows[event_id_for("hotline", request_id)] = 42
    reads.case_rows[42] = case_row(42, "closed", closed_at=NOW_MS + 7_200_000)
    reads.notes[42] = "cover replaced"
    [closed] = (await client.call("GET", path, key="reader")).json()
    assert closed["status"] == "closed" and closed["status_notes"] == "cover replaced"
    assert closed["updated_datetime"] == "2026-11-30T02:53:20+00:00"
    assert closed["expected_datetime"] == "2026-11-30T01:53:20+00:00"
    listing = await client.call(
        "GET",
        "/open311/v2/requests.json",
        key="reader",
        query={"status": "closed", "service_code": "RD-COVER"},
    )
    assert [v["service_request_id"] for v in listing.json()] == [request_id]
    none = await client.call(
        "GET", "/open311/v2/requests.json", key="reader", query={"status": "open"}
    )
    assert none.json() == []
    assert (await client.call("GET", path, key=None)).status == 401
    assert (
        await client.call("GET", "/open311/v2/requests/API-NONE.json", key="reader")
    ).status == 404
    bad = await client.call(
        "GET", "/open311/v2/requests.json", key="reader", query={"start_date": "yesterday"}
    )
    assert bad.status == 400


async def test_no_key_in_the_logs(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await client.call("GET", "/open311/v2/requests.json", query={"api_key": "demo-reader"})
    await client.call(
        "POST", "/open311/v2/requests.json", body=_form(**GOOD, api_key="demo-hotline")
    )
    await client.call("GET", "/open311/v2/requests.json", key="not-a-key-at-all")
    assert caplog.records
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "demo-" not in text and "not-a-key" not in text


async def test_unknown_paths_and_methods(client: Client) -> None:
    assert (await client.call("GET", "/open311/v2/nothing.json")).status == 404
    r = await client.call("DELETE", "/open311/v2/requests.json")
    assert r.status == 405 and r.headers["Allow"] == "GET, POST"
