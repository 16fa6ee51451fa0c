"""Fixtures for the intake tests: the packaged table and district, record builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.intake.categories import CategoryTable, default_data_dir
from streams.intake.geo import District
from streams.intake.normalize import Normalizer, NormalizerConfig

# 2023-07-31T09:00:00+08:00: the Doksuri typhoon week; tests run "now" at this instant.
NOW_MS = 1_690_765_200_000
T_EVENT_MS = NOW_MS - 3_600_000  # one hour before now


def sensor_alarm(**changes: Any) -> dict[str, Any]:
    alarm = {
        "alarm_id": "GW03-0000123",
        "device_id": "4106110101000123",
        "device_type": "manhole_cover",
        "alarm_type": "cover_tilt",
        "lat": 35.7331,
        "lon": 114.2972,
        "ts": T_EVENT_MS,
        "readings": {"tilt_deg": 21.5},
    }
    alarm.update(changes)
    return alarm


def hotline_request(**changes: Any) -> dict[str, Any]:
    req = {
        "service_request_id": "HL-20230731-0001",
        "status": "open",
        "service_code": "SW-GARB",
        "service_name": "exposed garbage",
        "description": "路边垃圾堆积",
        "requested_datetime": "2023-07-31T08:00:00+08:00",
        "address": "淇河路12号",
        "lat": 35.7402,
        "long": 114.2911,
        "agency_responsible": "sanitation",
        "media_url": "",
    }
    req.update(changes)
    return req


def patrol_report(**changes: Any) -> dict[str, Any]:
    rep = {
        "report_id": "P20230731-0042",
        "inspector_id": "INS-017",
        "department": "sanitation",
        "category": "E0102",
        "lat": 35.7331,
        "lon": 114.2972,
        "crs": "wgs84",
        "ts": "2023-07-31T08:12:00+08:00",
        "fixed_on_spot": True,
        "note": "清理完毕",
        "photos": ["p/2023/07/31/0042-1.jpg"],
    }
    rep.update(changes)
    return rep


def drop(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in names}


def dumps(record: Any) -> bytes:
    return orjson.dumps(record)


@pytest.fixture(scope="session")
def table() -> CategoryTable:
    return CategoryTable.load()


@pytest.fixture(scope="session")
def district_with_gazetteer(tmp_path_factory: pytest.TempPathFactory) -> District:
    """Qibin's bounds with a small gazetteer of our own (the real one is generated)."""
    folder: Path = tmp_path_factory.mktemp("district")
    spec = orjson.loads((default_data_dir() / "districts" / "qibin.json").read_bytes())
    spec["gazetteer"] = "gaz.csv"
    (folder / "qibin_test.json").write_bytes(orjson.dumps(spec))
    (folder / "gaz.csv").write_text(
        "address,lat,lon\n淇河路12号,35.7402,114.2911\n华夏南路 3 号,35.7120,114.3050\n",
        encoding="utf-8",
    )
    return District.load(folder / "qibin_test.json")


@pytest.fixture
def make_normalizer(
    table: CategoryTable, district_with_gazetteer: District
) -> Callable[..., Normalizer]:
    def make(**config: Any) -> Normalizer:
        return Normalizer(
            NormalizerConfig(**config), table, district_with_gazetteer, now_fn=lambda: NOW_MS
        )

    return make


@pytest.fixture
def normalizer(make_normalizer: Callable[..., Normalizer]) -> Normalizer:
    return make_normalizer()
