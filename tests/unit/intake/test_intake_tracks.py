"""Position pings (raw.patrol_track): columns in WGS84, and a dead letter per bad ping."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest
from intake_records import NOW_MS

from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.contracts.tracks import FEED, POINT_DTYPE, TrackPoints
from streams.intake.tracks import TrackConfig, TrackIntake, TrackResult
from streams.reference import geo
from streams.reference.geo import District
from streams.settings import Settings

LAT, LON = 35.7330, 114.2950  # the district's origin
STEP = 13.0 / 111_195.0  # 13 m north in degrees: a brisk walk over 10 s
T0 = NOW_MS - 600_000  # ten minutes before "now"


@pytest.fixture(scope="module")
def qibin() -> District:
    return District.load("qibin")


@pytest.fixture
def intake(qibin: District) -> TrackIntake:
    return TrackIntake(TrackConfig(), qibin, {"INS-017", "INS-018"}, now_fn=lambda: NOW_MS)


def ping(k: int, **changes: Any) -> dict[str, Any]:
    """The k-th ping of a walk north, every 10 s."""
    point = {"ts": T0 + k * 10_000, "lat": LAT + k * STEP, "lon": LON, "accuracy_m": 5.0}
    point.update(changes)
    return point


def batch(pings: Any, **changes: Any) -> bytes:
    """A batch of ``pings``; a change to None drops the field."""
    obj: dict[str, Any] = {
        "device_id": "CGT-0017",
        "inspector_id": "INS-017",
        "crs": "wgs84",
        "points": pings,
    }
    obj.update(changes)
    return orjson.dumps({k: v for k, v in obj.items() if v is not None})


def walk(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [ping(k) for k in range(start, start + n)]


def only_dead(result: TrackResult) -> DeadLetter:
    assert len(result.dead_letters) == 1, result.dead_letters
    return result.dead_letters[0]


def test_a_good_batch_becomes_columns(intake: TrackIntake) -> None:
    points = walk(3)
    points[1]["ts"] = "2023-07-31T08:50:10+08:00"  # the same instant as ISO 8601
    del points[2]["accuracy_m"]
    result = intake.parse([batch(points)], ingest_ms=[NOW_MS - 5000], origins=[(3, 41)])
    assert result.dead_letters == []
    got = result.points
    assert isinstance(got, TrackPoints) and len(got) == 3 and got.points.dtype == POINT_DTYPE
    assert got.points["t_ms"].tolist() == [T0, T0 + 10_000, T0 + 20_000]
    assert got.points["lat"] == pytest.approx([LAT, LAT + STEP, LAT + 2 * STEP])
    assert got.points["accuracy_m"][0] == 5.0 and math.isnan(got.points["accuracy_m"][2])
    assert got.points["ingest_ms"].tolist() == [NOW_MS - 5000] * 3
    assert got.points["origin_partition"].tolist() == [3, 3, 3]
    assert got.points["origin_seq"].tolist() == [42, 42, 42]  # offset + 1
    assert got.points["origin_point"].tolist() == [0, 1, 2]
    assert got.device_id.tolist() == ["CGT-0017"] * 3
    assert got.inspector_id.tolist() == ["INS-017"] * 3
    assert intake.accepted == 3


def test_points_come_out_by_device_then_time(intake: TrackIntake) -> None:
    a = batch([ping(2), ping(0), ping(1)])
    b = batch([ping(0)], device_id="CGT-0018", inspector_id="INS-018")
    got = intake.parse([a, b]).points
    assert got.device_id.tolist() == ["CGT-0017"] * 3 + ["CGT-0018"]
    assert got.points["t_ms"].tolist() == [T0, T0 + 10_000, T0 + 20_000, T0]
    assert got.points["origin_point"].tolist() == [1, 2, 0, 0]
    assert got.points["origin_seq"].tolist() == [0, 0, 0, 0]  # no origins given: unknown


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_declared_crs_is_converted_to_wgs84(intake: TrackIntake, crs: str) -> None:
    lat, lon = geo.wgs84_to_gcj02(np.array([LAT]), np.array([LON]))
    if crs == "bd09":
        lat, lon = geo.gcj02_to_bd09(lat, lon)
    point = ping(0, lat=float(lat[0]), lon=float(lon[0]))
    got = intake.parse([batch([point], crs=crs)]).points.points
    assert got["lat"][0] == pytest.approx(LAT, abs=2e-6)  # ~0.2 m
    assert got["lon"][0] == pytest.approx(LON, abs=2e-6)


GOOD = orjson.loads(batch(walk(2)))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", Reason.EMPTY_PAYLOAD),
        (b'{"device_id": "CGT-0017", "points": [', Reason.MALFORMED_JSON),
        (b"[]", Reason.NOT_AN_OBJECT),
        (batch(walk(2), device_id=""), Reason.MISSING_FIELD),
        (batch(walk(2), inspector_id=None), Reason.MISSING_FIELD),
        (batch(walk(2), crs=None), Reason.MISSING_FIELD),
        (batch(None), Reason.MISSING_FIELD),
        (batch([]), Reason.MISSING_FIELD),
        (batch(walk(2), device_id=17), Reason.WRONG_TYPE),
        (batch({"0": GOOD["points"][0]}), Reason.WRONG_TYPE),
        (batch(walk(2), crs="cgcs2000"), Reason.UNKNOWN_CRS),
        (batch(walk(2), inspector_id="INS-999"), Reason.UNKNOWN_INSPECTOR),
    ],
)
def test_a_bad_batch_is_one_dead_letter_with_the_payload(
    intake: TrackIntake, payload: bytes, reason: Reason
) -> None:
    result = intake.parse([payload, batch(walk(2, start=5))])
    dead = only_dead(result)
    assert (dead.source, dead.reason, dead.original, dead.index) == (FEED, reason, payload, 0)
    assert len(result.points) == 2  # the next batch is untouched
    assert intake.reasons == {reason: 1}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("not a point", Reason.NOT_AN_OBJECT),
        ({"lat": LAT, "lon": LON}, Reason.MISSING_FIELD),
        (ping(2, ts="2023-07-31 25:61"), Reason.BAD_TIME),
        (ping(2, ts=True), Reason.WRONG_TYPE),
        (ping(2, lat="35.7"), Reason.WRONG_TYPE),
        (ping(2, lon=None), Reason.MISSING_FIELD),
        (ping(2, accuracy_m="5"), Reason.WRONG_TYPE),
        (ping(2, accuracy_m=-1.0), Reason.BAD_COORDINATES),
        (ping(2, lat=95.0), Reason.BAD_COORDINATES),
        (ping(2, lat=0.0, lon=0.0), Reason.BAD_COORDINATES),
        (ping(2, lat=LON, lon=LAT), Reason.BAD_COORDINATES),  # swapped: lat 114
        (ping(2, lat=34.7466, lon=113.6254), Reason.OUT_OF_DISTRICT),  # Zhengzhou
        (ping(2, ts=NOW_MS + 3_600_000), Reason.FUTURE_TIME),
        (ping(2, ts=NOW_MS - 4 * 86_400_000), Reason.STALE_TIME),
        (ping(2, lat=LAT + 0.01), Reason.SPEED_JUMP),  # 1.1 km in 10 s
        (ping(1), Reason.DUPLICATE_POINT),
    ],
)
def test_a_bad_ping_is_its_own_dead_letter_and_the_rest_is_kept(
    intake: TrackIntake, bad: Any, reason: Reason
) -> None:
    points = [ping(0), ping(1), bad, ping(3), ping(4)]
    result = intake.parse([batch(points)], origins=[(0, 7)])
    dead = only_dead(result)
    assert (dead.source, dead.reason, dead.index) == (FEED, reason, 0)
    original = orjson.loads(dead.original)  # a one-point batch, readable like any batch
    assert original == {**orjson.loads(batch([])), "points": [bad]}
    assert result.points.points["origin_point"].tolist() == [0, 1, 3, 4]


def test_jumps_are_judged_net_of_accuracy_and_against_the_last_good_ping(
    intake: TrackIntake,
) -> None:
    fuzzy = ping(2, lat=LAT + 2 * STEP + 150 / 111_195.0, accuracy_m=80.0)  # 150 m off, +-80 m
    jump = ping(3, lat=LAT + 0.02)  # 2.2 km away
    points = [ping(0), ping(1), fuzzy, jump, ping(4), ping(5)]
    result = intake.parse([batch(points)])
    assert [d.reason for d in result.dead_letters] == [Reason.SPEED_JUMP]
    assert "m/s > 8.0 m/s" in result.dead_letters[0].message
    # ping 4 is compared with the fuzzy ping 2, not with the jump
    assert result.points.points["origin_point"].tolist() == [0, 1, 2, 4, 5]


def test_jumps_after_a_pause_longer_than_the_window_are_not_judged(qibin: District) -> None:
    intake = TrackIntake(TrackConfig(jump_window_ms=60_000), qibin, {"INS-017"})
    far = ping(9, lat=LAT + 0.02)  # 2.2 km in 90 s (driven to the next street)
    result = intake.parse([batch([ping(0), far, ping(10, lat=LAT + 0.02)])], now_ms=NOW_MS)
    assert result.dead_letters == [] and len(result.points) == 3


def test_the_device_memory_spans_calls(intake: TrackIntake) -> None:
    assert len(intake.parse([batch(walk(3))]).points) == 3
    again = intake.parse([batch([ping(2), ping(3, lat=LAT + 0.02), ping(4)])])
    assert [d.reason for d in again.dead_letters] == [
        Reason.DUPLICATE_POINT,
        Reason.SPEED_JUMP,
    ]
    assert again.points.points["t_ms"].tolist() == [T0 + 40_000]
    # another device may be anywhere
    other = batch([ping(3, lat=LAT + 0.02)], device_id="CGT-0018", inspector_id="INS-018")
    assert len(intake.parse([other]).points) == 1


def test_a_redelivered_payload_is_not_a_duplicate_a_resent_one_is(intake: TrackIntake) -> None:
    payload = batch(walk(3))
    assert len(intake.parse([payload], origins=[(1, 100)]).points) == 3
    redelivered = intake.parse([payload], origins=[(1, 100)])
    assert redelivered.dead_letters == [] and len(redelivered.points) == 3
    resent = intake.parse([payload], origins=[(1, 101)])
    assert [d.reason for d in resent.dead_letters] == [Reason.DUPLICATE_POINT] * 3
    unknown = intake.parse([payload])
    assert [d.reason for d in unknown.dead_letters] == [Reason.DUPLICATE_POINT] * 3


def test_duplicate_memory_is_bounded(qibin: District) -> None:
    intake = TrackIntake(TrackConfig(seen_capacity=4), qibin, {"INS-017"}, lambda: NOW_MS)
    intake.parse([batch(walk(10))])
    assert len(intake.seen) <= 4
    assert [d.reason for d in intake.parse([batch([ping(9)])]).dead_letters] == [
        Reason.DUPLICATE_POINT
    ]  # the newest are remembered


def test_clock_skew_is_judged_against_each_batch_arrival(intake: TrackIntake) -> None:
    late = batch([ping(0)])  # sent ten minutes after the ping: fine
    early = batch([ping(1)], device_id="CGT-0018", inspector_id="INS-018")
    result = intake.parse([late, early], ingest_ms=[NOW_MS, T0 - 600_000])
    assert [d.reason for d in result.dead_letters] == [Reason.FUTURE_TIME]
    assert result.dead_letters[0].index == 1


def test_every_ping_is_a_point_or_in_one_dead_letter(intake: TrackIntake) -> None:
    payloads = [
        batch([ping(0), ping(1), ping(2, lat=95.0), "x", ping(3)]),
        batch(walk(4), inspector_id="INS-404"),
        batch([ping(0), ping(1)], device_id="CGT-0018", inspector_id="INS-018"),
        b"{",
    ]
    result = intake.parse(payloads)
    per_payload = {d.index for d in result.dead_letters if d.original in payloads}
    pings = len(result.points) + sum(1 for d in result.dead_letters if d.original not in payloads)
    assert per_payload == {1, 3}
    assert pings == 5 + 2
    assert intake.reasons.total() == len(result.dead_letters) == 4


def test_arguments_and_settings(qibin: District) -> None:
    intake = TrackIntake.from_settings(Settings().replace(track_max_speed_mps=3.0))
    assert intake.config.max_speed_mps == 3.0 and "INS-056" in intake.inspectors
    assert intake.district.name == qibin.name
    with pytest.raises(ValueError, match="ingest times"):
        intake.parse([b"{}"], ingest_ms=[1, 2])
    with pytest.raises(ValueError, match="origins"):
        intake.parse([b"{}"], origins=[(0, 1), (0, 2)])
    with pytest.raises(ValueError, match="partitions"):
        intake.parse([b"{}"], origins=[(-1, 1)])
    assert len(intake.parse([]).points) == 0


def test_a_restored_memory_judges_a_jump_that_arrives_first(
    intake: TrackIntake, qibin: District
) -> None:
    accepted = intake.parse([batch(walk(3))], origins=[(0, 7)]).points.points
    after_jump = [ping(3, lat=LAT + 0.02), ping(4), ping(5)]
    # a fresh memory takes the jump for the device's position and rejects the good pings
    fresh = TrackIntake(TrackConfig(), qibin, {"INS-017"}, now_fn=lambda: NOW_MS)
    wrong = fresh.parse([batch(after_jump)], origins=[(0, 8)])
    assert [d.reason for d in wrong.dead_letters] == [Reason.SPEED_JUMP] * 2
    # given back what was accepted before, it rejects the jump and only the jump
    restored = TrackIntake(TrackConfig(), qibin, {"INS-017"}, now_fn=lambda: NOW_MS)
    restored.restore("CGT-0017", accepted[::-1])  # any order
    result = restored.parse([batch(after_jump)], origins=[(0, 8)])
    assert [d.reason for d in result.dead_letters] == [Reason.SPEED_JUMP]
    assert result.points.points["origin_point"].tolist() == [1, 2]
    # and the restored times are duplicates for another message, not for their own
    again = restored.parse([batch(walk(3)), batch([ping(2)])], origins=[(0, 7), (0, 9)])
    assert [(d.reason, d.index) for d in again.dead_letters] == [(Reason.DUPLICATE_POINT, 1)]
    assert len(again.points) == 3


def test_restore_refuses_other_columns(intake: TrackIntake) -> None:
    with pytest.raises(ValueError, match="POINT_DTYPE"):
        intake.restore("CGT-0017", np.zeros(2, dtype=np.int64))
