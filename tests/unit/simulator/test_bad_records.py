from __future__ import annotations

from collections import Counter

import orjson
import pytest

from streams.contracts.reasons import Reason
from streams.simulator import SimRecord, Simulation
from streams.simulator.bad import COMMON_KINDS, SOURCE_KINDS
from streams.simulator.district import District
from streams.simulator.engine import DEFAULT_MAX_PAYLOAD

ALL_KINDS = set(COMMON_KINDS) | {k for v in SOURCE_KINDS.values() for k in v}


def _bad(records: list[SimRecord]) -> list[SimRecord]:
    return [r for r in records if r.truth[0].expected_reason]


def test_at_least_fifteen_kinds_all_present(small_run: tuple[Simulation, list[SimRecord]]) -> None:
    _, records = small_run
    kinds = {r.truth[0].expected_reason for r in _bad(records)}
    assert len(ALL_KINDS) >= 15
    assert kinds == {k.value for k in ALL_KINDS}


def test_bad_share_is_the_configured_share(district: District) -> None:
    for share in (0.01, 0.05):
        sim = Simulation("ordinary", seed=3, scale=0.1, bad_share=share, district=district)
        records = list(sim.records())
        bad = len(_bad(records))
        assert bad == pytest.approx(share * len(records), rel=0.15, abs=3)
    clean = list(
        Simulation("ordinary", seed=3, scale=0.02, bad_share=0.0, district=district).records()
    )
    assert not _bad(clean)


def _loads(value: bytes) -> object:
    return orjson.loads(value)


@pytest.mark.parametrize("reason", sorted(k.value for k in ALL_KINDS))
def test_each_bad_record_shows_its_defect(
    reason: str, small_run: tuple[Simulation, list[SimRecord]], district: District
) -> None:
    _, records = small_run
    mine = [r for r in _bad(records) if r.truth[0].expected_reason == reason]
    assert mine
    good_refs = Counter(
        t.source_ref for r in records if not r.truth[0].expected_reason for t in r.truth
    )
    for r in mine:
        _assert_defect(Reason(reason), r, district, good_refs)


def _assert_defect(
    reason: Reason, r: SimRecord, district: District, good_refs: Counter[str]
) -> None:
    v = r.value
    if reason is Reason.EMPTY_PAYLOAD:
        assert v == b""
        return
    if reason is Reason.OVERSIZE:
        assert len(v) > DEFAULT_MAX_PAYLOAD and isinstance(_loads(v), dict)
        return
    if reason is Reason.NOT_UTF8:
        with pytest.raises(UnicodeDecodeError):
            v.decode("utf-8")
        return
    if reason is Reason.MALFORMED_JSON:
        v.decode("utf-8")
        with pytest.raises(orjson.JSONDecodeError):
            _loads(v)
        return
    if reason is Reason.NOT_AN_OBJECT:
        assert isinstance(_loads(v), list)
        return
    if reason is Reason.DUPLICATE_SOURCE_ID:
        assert all(good_refs[t.source_ref] == 1 for t in r.truth)  # its original went through
        return
    obj = _loads(v)
    assert isinstance(obj, dict)
    _assert_field_defect(reason, r.source, obj, district)


def _assert_field_defect(reason: Reason, source: str, obj: dict, district: District) -> None:  # type: ignore[type-arg]
    lat_f, lon_f = ("lat", "long") if source == "hotline" else ("lat", "lon")
    time_f = "requested_datetime" if source == "hotline" else "ts"
    if reason is Reason.MISSING_FIELD:
        required = {
            "sensor": {"alarm_id", "device_id", "alarm_type", "ts"},
            "hotline": {"service_request_id", "service_code", "requested_datetime"},
            "patrol": {"report_id", "category", "ts"},
        }[source]
        assert required - set(obj)
    elif reason is Reason.WRONG_TYPE:
        assert isinstance(obj[lat_f], dict)
    elif reason is Reason.BAD_COORDINATES:
        assert abs(obj[lat_f]) > 90 or abs(obj[lon_f]) > 180
    elif reason is Reason.OUT_OF_DISTRICT:
        assert not district.inside(obj[lat_f], obj[lon_f]) and abs(obj[lat_f]) <= 90
    elif reason in (Reason.BAD_TIME, Reason.FUTURE_TIME, Reason.STALE_TIME):
        value = obj[time_f]
        year = str(value)[:4] if isinstance(value, str) else None
        if reason is Reason.FUTURE_TIME:
            assert year == "2099" or (isinstance(value, int) and value > 4e12)
        elif reason is Reason.STALE_TIME:
            assert year == "2001" or (isinstance(value, int) and value < 1e12)
        else:
            assert isinstance(value, str) and "2023-07-2" not in value
    elif reason is Reason.UNKNOWN_CATEGORY:
        field = {"sensor": "alarm_type", "hotline": "service_code", "patrol": "category"}[source]
        assert obj[field] in ("unknown_alarm_77", "XX-NOPE", "E9999")
    elif reason is Reason.UNKNOWN_DEVICE_TYPE:
        assert obj["device_type"] in ("drone", "weather_station")
    elif reason is Reason.BAD_DEVICE_ID:
        assert not (len(obj["device_id"]) == 16 and obj["device_id"].isdigit())
    elif reason is Reason.UNKNOWN_ADDRESS:
        assert "lat" not in obj and obj["address"] not in {a.text for a in district.addresses}
    elif reason is Reason.UNKNOWN_CRS:
        assert obj["crs"] not in ("wgs84", "gcj02", "bd09")
    else:  # pragma: no cover - a new kind without a check
        raise AssertionError(f"no check for {reason}")
