"""The normalizer: envelope checks, duplicates, counters, injected time, and fuzzing."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_records import NOW_MS, dumps, hotline_request, patrol_report, sensor_alarm

from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import FLAG_FIXED_ON_SPOT, FLAG_LATE, decode_batch, encode_batch
from streams.contracts.reasons import Reason
from streams.contracts.sources import SOURCES
from streams.intake.adapters.common import record_parser
from streams.intake.normalize import Normalizer, NormalizerConfig, SeenIds
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.settings import load_settings


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", Reason.EMPTY_PAYLOAD),
        (b"{" + b" " * 2000 + b"}", Reason.OVERSIZE),
        (b'{"a": "\xff\xfe"}', Reason.NOT_UTF8),
        (b'{"a": ', Reason.MALFORMED_JSON),
        (b"NaN", Reason.MALFORMED_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'"text"', Reason.NOT_AN_OBJECT),
    ],
)
def test_envelope_problems(
    make_normalizer: Callable[..., Normalizer], source: str, payload: bytes, reason: Reason
) -> None:
    normalizer = make_normalizer(max_payload_bytes=1024)
    result = normalizer.normalize(source, [payload], NOW_MS)
    assert [d.reason for d in result.dead_letters] == [reason]
    assert result.dead_letters[0].original == payload
    assert result.dead_letters[0].source == source


def test_unknown_source_is_a_programming_error(normalizer: Normalizer) -> None:
    with pytest.raises(ValueError, match="unknown source"):
        normalizer.normalize("fax", [b"{}"], NOW_MS)


def test_duplicates_within_and_across_batches(normalizer: Normalizer) -> None:
    payloads = [dumps(sensor_alarm(alarm_id=f"A{i % 3}")) for i in range(5)]
    first = normalizer.normalize("sensor", payloads, NOW_MS)
    assert first.batch.column("source_ref") == ["A0", "A1", "A2"]
    assert [d.index for d in first.dead_letters] == [3, 4]
    assert {d.reason for d in first.dead_letters} == {Reason.DUPLICATE_SOURCE_ID}
    second = normalizer.normalize("sensor", payloads[:1], NOW_MS)
    assert len(second.batch) == 0
    assert normalizer.reasons[Reason.DUPLICATE_SOURCE_ID] == 3
    assert normalizer.accepted["sensor"] == 3


def test_rejected_record_is_not_remembered(normalizer: Normalizer) -> None:
    late = normalizer.normalize("patrol", [dumps(patrol_report(lat=1.0))], NOW_MS)
    assert late.dead_letters[0].reason is Reason.OUT_OF_DISTRICT
    fixed = normalizer.normalize("patrol", [dumps(patrol_report())], NOW_MS)
    assert len(fixed.batch) == 1


def test_seen_ids_are_bounded() -> None:
    seen = SeenIds(10)
    for i in range(100):
        seen.add(i)
        assert len(seen) <= 10
    assert all(i in seen for i in range(95, 100))  # the last capacity // 2 are kept
    assert 0 not in seen
    with pytest.raises(ValueError):
        SeenIds(1)


def test_reference_time_makes_2023_replays_work(normalizer: Normalizer) -> None:
    payload = [dumps(patrol_report())]
    today = normalizer.normalize("patrol", payload, now_ms=NOW_MS + 3 * 365 * 86_400_000)
    assert today.dead_letters[0].reason is Reason.STALE_TIME
    replay = normalizer.normalize("patrol", payload)  # now_fn: the 2023 reference clock
    assert len(replay.batch) == 1
    assert replay.batch.events[0]["ingest_time_ms"] == NOW_MS


def test_from_settings_uses_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(env={}, max_payload_bytes=100, intake_seen_ids=64)
    n = Normalizer.from_settings(s, now_fn=lambda: NOW_MS)
    assert n.config == NormalizerConfig(100, 300_000, 400 * 86_400_000, 64)
    assert n.seen.half == 32
    result = n.normalize("sensor", [dumps(sensor_alarm())], NOW_MS)
    assert result.dead_letters[0].reason is Reason.OVERSIZE


def test_an_adapter_bug_becomes_an_internal_error(
    normalizer: Normalizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(
        "streams.intake.normalize._PARSERS", {"hotline": record_parser("hotline", broken)}
    )
    result = normalizer.normalize("hotline", [dumps(hotline_request())], NOW_MS)
    assert result.dead_letters[0].reason is Reason.INTERNAL_ERROR
    assert "boom" in result.dead_letters[0].message


def test_dead_letter_json_round_trip() -> None:
    dl = DeadLetter("sensor", Reason.NOT_UTF8, "bad", b"\xff\x00", "raw.sensor", 2, 99)
    raw = orjson.loads(dl.to_json())
    assert raw["reason"] == "not_utf8" and raw["original"] == "/wA="
    back = DeadLetter.from_json(dl.to_json())
    assert (back.original, back.offset, back.reason) == (b"\xff\x00", 99, Reason.NOT_UTF8)


def test_mixed_batch_conserves_records_and_encodes(normalizer: Normalizer) -> None:
    good = [dumps(sensor_alarm(alarm_id=f"G{i}")) for i in range(20)]
    bad = [b"", b"[]", dumps(sensor_alarm(alarm_id="X", lat=None))]
    result = normalizer.normalize("sensor", good + bad, NOW_MS)
    assert len(result.batch) + len(result.dead_letters) == len(good) + len(bad)
    back = decode_batch(encode_batch(result.batch))
    assert back.column("source_ref") == [f"G{i}" for i in range(20)]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_TEMPLATES = {"sensor": sensor_alarm(), "hotline": hotline_request(), "patrol": patrol_report()}


def _mutations(source: str) -> st.SearchStrategy[bytes]:
    template = _TEMPLATES[source]
    changes = st.dictionaries(st.sampled_from(sorted(template)), _JSON, max_size=3)
    mutated = changes.map(lambda c: _dumps({**template, **c}))
    gateway = st.lists(_JSON | changes.map(lambda c: {**template, **c}), max_size=3).map(
        lambda alarms: _dumps({"gateway_id": "GW", "alarms": alarms})
    )
    return mutated | gateway | st.binary(max_size=64) | _JSON.map(_dumps)


def _dumps(value: Any) -> bytes:
    # The stdlib writes integers of any size (orjson refuses > 64 bits): real feeds might.
    return json.dumps(value, ensure_ascii=False).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SOURCES).flatmap(
        lambda s: st.tuples(st.just(s), st.lists(_mutations(s), max_size=6))
    )
)
def test_fuzz_nothing_raises_and_nothing_is_lost(case: tuple[str, list[bytes]]) -> None:
    source, payloads = case
    table, district = _fixtures()
    normalizer = Normalizer(
        NormalizerConfig(max_payload_bytes=4096), table, district, now_fn=lambda: NOW_MS
    )
    result = normalizer.normalize(source, payloads, NOW_MS)
    assert all(d.reason is not Reason.INTERNAL_ERROR for d in result.dead_letters)
    assert all(0 <= d.index < len(payloads) for d in result.dead_letters)
    outcomes = len(result.batch) + len(result.dead_letters)
    if source == "sensor":  # a gateway batch may yield several outcomes, never none
        assert outcomes >= len(payloads)
    else:
        assert outcomes == len(payloads)
    assert sum(normalizer.reasons.values()) == len(result.dead_letters)
    decode_batch(encode_batch(result.batch))


@functools.cache
def _fixtures() -> tuple[CategoryTable, District]:
    # Function-scoped fixtures do not mix with @given; these objects are read-only.
    return CategoryTable.load(), District.load("qibin")


def test_per_record_ingest_times_are_each_records_now(normalizer: Normalizer) -> None:
    payloads = [dumps(patrol_report(report_id=r)) for r in ("a", "b", "c")]
    arrival = [NOW_MS, NOW_MS - 3_600_000, NOW_MS + 500 * 86_400_000]  # b arrives before ts
    result = normalizer.normalize("patrol", payloads, ingest_ms=arrival)
    assert result.batch.column("source_ref") == ["a"]
    assert result.batch.events["ingest_time_ms"].tolist() == [NOW_MS]
    reasons = {d.index: d.reason for d in result.dead_letters}
    assert reasons == {1: Reason.FUTURE_TIME, 2: Reason.STALE_TIME}
    with pytest.raises(ValueError, match="ingest times"):
        normalizer.normalize("patrol", payloads, ingest_ms=arrival[:2])


def test_every_source_has_a_parser() -> None:
    from streams.intake import normalize

    assert tuple(normalize._PARSERS) == SOURCES


def test_records_arriving_long_after_their_event_are_flagged_late(
    make_normalizer: Callable[..., Normalizer],
) -> None:
    normalizer = make_normalizer(late_after_ms=6 * 3_600_000)
    hour = 3_600_000
    # requested 08:00; arrivals 1 h, exactly 6 h, 6 h + 1 ms and 3 days later
    arrivals = [NOW_MS, NOW_MS + 5 * hour, NOW_MS + 5 * hour + 1, NOW_MS + 71 * hour]
    payloads = [dumps(hotline_request(service_request_id=f"HL-{i}")) for i in range(4)]
    result = normalizer.normalize("hotline", payloads, ingest_ms=arrivals)
    assert not result.dead_letters  # late is not invalid
    assert (result.batch.events["flags"] & FLAG_LATE).tolist() == [0, 0, FLAG_LATE, FLAG_LATE]
    # the flag sits beside the other bits: a patrol fixed on the spot and reported late
    fixed = normalizer.normalize(
        "patrol", [dumps(patrol_report(fixed_on_spot=True))], ingest_ms=[NOW_MS + 71 * hour]
    )
    assert fixed.batch.events["flags"].tolist() == [FLAG_FIXED_ON_SPOT | FLAG_LATE]


def test_origins_are_kept_and_a_redelivery_is_no_duplicate(
    make_normalizer: Callable[..., Normalizer],
) -> None:
    normalizer = make_normalizer()
    payloads = [dumps(hotline_request(service_request_id=f"HL-O{i}")) for i in range(2)]
    first = normalizer.normalize("hotline", payloads, now_ms=NOW_MS, origins=[(3, 40), (3, 41)])
    assert first.batch.events["origin_partition"].tolist() == [3, 3]
    assert first.batch.events["origin_seq"].tolist() == [41, 42]  # offset + 1: 0 = unknown
    # Kafka redelivers offset 41 (a rebalance): not a duplicate, dedup absorbs it once
    again = normalizer.normalize("hotline", payloads[1:], now_ms=NOW_MS, origins=[(3, 41)])
    assert not again.dead_letters and len(again.batch) == 1
    # the source sends the same request again (a new offset): a duplicate
    resent = normalizer.normalize("hotline", payloads[1:], now_ms=NOW_MS, origins=[(3, 57)])
    assert [d.reason for d in resent.dead_letters] == [Reason.DUPLICATE_SOURCE_ID]
