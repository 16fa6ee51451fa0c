"""Intake benchmarks: batch normalization and fused-batch decode beside per-record peers.

Run: ``citystream bench --suites intake`` (``--smoke`` for tiny sizes); the harness turns the
declarations below into events/s and ratios (docs/benchmarks.md). Paths:

* ``normalize``: :class:`Normalizer` in 4096-record batches (subject) beside a per-record
  ``json.loads`` + Python checks peer (``per-record``); events = raw records per round (a
  gateway batch counts each of its alarms). Goal: >= 50,000 records/s on the ~80/10/10
  sensor/hotline/patrol mix.
* ``decode``: fused-batch decode of the fixed columns the dedup core reads (subject) beside
  per-record orjson decode of the same events (``per-record-json``).
* ``decode-all-columns``: fused-batch decode that also materialises every string column,
  beside per-record orjson decode that also collects every string field.

Both members of a path get the same seeded input.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest

from bench.harness import SUBJECT, BenchScale, peer, record
from streams.contracts.fused import STRING_COLUMNS, FusedBatch, decode_batch, encode_batch
from streams.intake.normalize import Normalizer, NormalizerConfig, SeenIds
from streams.reference import geo
from streams.reference.categories import (
    CategoryTable,
    SensorAlarmMap,
    ServiceCodeMap,
    default_data_dir,
)
from streams.reference.geo import District

pytestmark = pytest.mark.bench

SEED = 20230731
N_RECORDS = 20_000  # raw records per round (full size)
SMOKE_RECORDS = 2_000
BATCH = 4096
ROUNDS = 5  # rounds of the pedantic (normalize) benchmarks at full size
NOW_MS = 1_690_765_200_000  # 2023-07-31T09:00+08:00
_ZONE = ZoneInfo("Asia/Shanghai")


# -- the seeded input ------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    payloads: dict[str, list[bytes]]
    records: int
    district: District


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, _ZONE).isoformat()


_SENSOR_KINDS = [
    ("manhole_cover", "cover_tilt", "0101"),
    ("manhole_cover", "cover_open", "0103"),
    ("water_level_gauge", "water_level_high", "0103"),
    ("smart_pole", "light_failure", "0118"),
    ("smart_pole", "waterlogging", "0118"),
]
_HOTLINE_CODES = ["SW-GARB", "RD-WATER", "RD-COVER", "LT-OUT", "EN-PARK", "EN-VEND"]
_PATROL_KEYS = ["E0102", "E0104", "E0505", "E0501", "C0305", "E0507"]


@dataclass
class _Draw:
    """The seeded draws the three sources share: positions, times, addresses."""

    rng: random.Random
    addresses: list[str]

    def pos(self) -> tuple[float, float]:
        return 35.66 + self.rng.random() * 0.15, 114.17 + self.rng.random() * 0.25

    def when(self) -> int:
        return NOW_MS - self.rng.randrange(0, 6 * 3_600_000)


def _bench_district(folder: Path, draw: _Draw) -> District:
    lines = ["address,lat,lon"] + [
        f"{a},{35.70 + draw.rng.random() * 0.08:.6f},{114.25 + draw.rng.random() * 0.1:.6f}"
        for a in draw.addresses
    ]
    (folder / "gaz.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = orjson.loads((default_data_dir() / "districts" / "qibin.json").read_bytes())
    spec["gazetteer"] = "gaz.csv"
    # the unit grid and street files sit beside the real district file, not here, and
    # normalization uses neither
    del spec["unit_grids"], spec["streets"]
    (folder / "bench.json").write_bytes(orjson.dumps(spec))
    return District.load(folder / "bench.json")


def _alarms(draw: _Draw, n: int) -> list[dict[str, Any]]:
    rng, alarms = draw.rng, []
    for i in range(n):
        device_type, alarm_type, code = rng.choice(_SENSOR_KINDS)
        lat, lon = draw.pos()
        alarms.append(
            {
                "alarm_id": f"GW{i % 40:02d}-{i:07d}",
                "device_id": f"410611{code}{rng.randrange(10**6):06d}",
                "device_type": device_type,
                "alarm_type": alarm_type,
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "ts": draw.when(),
                "readings": {"value": round(rng.random() * 30, 2)},
            }
        )
    return alarms


def _sensor_messages(draw: _Draw, alarms: list[dict[str, Any]]) -> list[bytes]:
    sensor: list[bytes] = []
    k = 0
    while k < len(alarms):  # a quarter of the alarms come through gateway batches of 8
        if draw.rng.random() < 0.04:  # 8p / (8p + 1 - p) = 1/4
            sensor.append(orjson.dumps({"gateway_id": "GW03", "alarms": alarms[k : k + 8]}))
            k += 8
        else:
            sensor.append(orjson.dumps(alarms[k]))
            k += 1
    return sensor


def _hotline(draw: _Draw, n: int) -> list[bytes]:
    hotline = []
    for i in range(n):
        req: dict[str, Any] = {
            "service_request_id": f"HL-{i:07d}",
            "status": "open",
            "service_code": draw.rng.choice(_HOTLINE_CODES),
            "description": "市民来电反映问题",
            "requested_datetime": _iso(draw.when()),
            "agency_responsible": "sanitation",
        }
        if draw.rng.random() < 0.3:
            req["address"] = draw.rng.choice(draw.addresses)
        else:
            req["lat"], req["long"] = draw.pos()
        hotline.append(orjson.dumps(req))
    return hotline


def _patrol(draw: _Draw, n: int) -> list[bytes]:
    rng, patrol = draw.rng, []
    for i in range(n):
        lat, lon = draw.pos()
        crs = rng.choice(["gcj02", "gcj02", "bd09", "wgs84"])  # drawn before the category
        report = {
            "report_id": f"P{i:07d}",
            "inspector_id": f"INS-{i % 60:03d}",
            "department": "sanitation",
            "category": rng.choice(_PATROL_KEYS),
            "lat": lat,
            "lon": lon,
            "crs": crs,
            "ts": _iso(draw.when()),
            "fixed_on_spot": rng.random() < 0.36,
            "note": "巡查发现",
            "photos": ["p/1.jpg"],
        }
        patrol.append(orjson.dumps(report))
    return patrol


def _make_feed(folder: Path, n_records: int) -> Feed:
    rng = random.Random(SEED)
    draw = _Draw(rng, [f"淇河路{i}号" for i in range(1, 201)])
    district = _bench_district(folder, draw)
    alarms = _alarms(draw, int(n_records * 0.8))
    sensor = _sensor_messages(draw, alarms)
    hotline = _hotline(draw, n_records // 10)
    patrol = _patrol(draw, n_records // 10)
    for payloads in (sensor, hotline, patrol):  # ~1% broken records of assorted kinds
        for j in rng.sample(range(len(payloads)), len(payloads) // 100):
            payloads[j] = rng.choice([b"", b"{bad", b"[]", payloads[j][:-5]])
    records = len(alarms) + len(hotline) + len(patrol)
    return Feed({"sensor": sensor, "hotline": hotline, "patrol": patrol}, records, district)


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory, bench_scale: BenchScale) -> Feed:
    n_records = bench_scale.pick(N_RECORDS, smoke=SMOKE_RECORDS)
    return _make_feed(tmp_path_factory.mktemp("bench_intake"), n_records)


# -- normalization ---------------------------------------------------------------------


def _normalizer(district: District) -> Normalizer:
    return Normalizer(NormalizerConfig(), CategoryTable.load(), district, lambda: NOW_MS)


def _run_batches(normalizer: Normalizer, feed: Feed) -> int:
    events = 0
    for source, payloads in feed.payloads.items():
        for start in range(0, len(payloads), BATCH):
            events += len(normalizer.normalize(source, payloads[start : start + BATCH]).batch)
    return events


def test_normalize_batch(benchmark: Any, feed: Feed, bench_scale: BenchScale) -> None:
    record(benchmark, path="normalize", role=SUBJECT, events=feed.records)
    normalizer = _normalizer(feed.district)

    def fresh() -> tuple[tuple[Normalizer, Feed], dict[str, Any]]:
        normalizer.seen = SeenIds(normalizer.config.seen_capacity)  # same work every round
        return (normalizer, feed), {}

    rounds = bench_scale.pick(ROUNDS, smoke=1)
    events = benchmark.pedantic(_run_batches, setup=fresh, rounds=rounds, iterations=1)
    assert events >= feed.records * 0.95


@dataclass
class _Event:
    source: str
    source_ref: str
    category: int
    lat: float
    lon: float
    event_time_ms: int
    event_id: int
    device_hash: int
    device_id: str
    reporter: str
    department: str
    text: str
    address: str
    fixed: bool


class _Baseline:
    """The per-record pure-python peer: json.loads, per-field isinstance checks, scalar
    coordinate conversion and bounds checks, one dataclass per event."""

    def __init__(self, district: District) -> None:
        table = CategoryTable.load()
        self.table, self.district = table, district
        self.sensor_map = SensorAlarmMap.load(table).mapping
        self.service_map = ServiceCodeMap.load(table).mapping
        self.components = {c.code: c.id for c in table.by_id.values() if c.kind == "component"}
        self.seen: set[int] = set()

    def run(self, source: str, payloads: list[bytes]) -> tuple[list[_Event], int]:
        events, dead = [], 0
        for payload in payloads:
            try:
                obj = json.loads(payload.decode("utf-8"))
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                items = obj["alarms"] if source == "sensor" and "alarms" in obj else [obj]
            except (ValueError, UnicodeDecodeError, KeyError):
                dead += 1
                continue
            for item in items:
                try:
                    events.append(self.one(source, item))
                except (ValueError, KeyError, TypeError):
                    dead += 1
        return events, dead

    def one(self, source: str, r: dict[str, Any]) -> _Event:
        address, device, reporter, fixed, device_hash = "", "", "", False, 0
        if source == "sensor":
            ref, device = _s(r, "alarm_id"), _s(r, "device_id")
            cat = self.sensor_map[(_s(r, "alarm_type"), _s(r, "device_type"))]
            if cat < 0:
                cat = self.components[device[6:10]]
            lat, lon, t = _f(r, "lat"), _f(r, "lon"), _t(r["ts"], self.district)
            text = f"{r['alarm_type']} {json.dumps(r['readings'], separators=(',', ':'))}"
            device_hash = _hash8(device.encode())
        elif source == "hotline":
            ref, cat = _s(r, "service_request_id"), self.service_map[_s(r, "service_code")]
            t, text = _t(r["requested_datetime"], self.district), r.get("description") or ""
            address = r.get("address") or ""
            if "lat" in r:
                lat, lon = _f(r, "lat"), _f(r, "long")
            else:
                lat, lon = self.district.gazetteer[geo.normalize_address(address)]
        else:
            ref, cat = _s(r, "report_id"), self.table.by_key[_s(r, "category")].id
            lat, lon, t = _f(r, "lat"), _f(r, "lon"), _t(r["ts"], self.district)
            lat, lon = _to_wgs84(lat, lon, _s(r, "crs"))
            reporter, text, fixed = _s(r, "inspector_id"), r.get("note") or "", r["fixed_on_spot"]
        d = self.district
        if not (d.lat_min <= lat <= d.lat_max and d.lon_min <= lon <= d.lon_max):
            raise ValueError("out of district")
        if not NOW_MS - 400 * 86_400_000 <= t <= NOW_MS + 300_000:
            raise ValueError("time")
        eid = _hash8(f"{source}:{ref}".encode())
        if eid in self.seen:
            raise ValueError("duplicate")
        self.seen.add(eid)
        department = self.table.by_id[cat].department
        return _Event(
            source, ref, cat, lat, lon, t, eid, device_hash, device, reporter, department, text,
            address, fixed,
        )  # fmt: skip


def _hash8(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data).digest()[:8], "little") or 1


def _s(r: dict[str, Any], name: str) -> str:
    value = r[name]
    if not isinstance(value, str) or not value:
        raise TypeError(name)
    return value


def _f(r: dict[str, Any], name: str) -> float:
    value = r[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(name)
    return float(value)


def _t(value: Any, district: District) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=district.timezone)
    return round(dt.timestamp() * 1000)


def _to_wgs84(lat: float, lon: float, crs: str) -> tuple[float, float]:
    if crs == "wgs84":
        return lat, lon
    if crs == "bd09":  # scalar BD-09 -> GCJ-02, then the iterative GCJ-02 inverse
        x, y = lon - 0.0065, lat - 0.006
        z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * math.pi * 3000.0 / 180.0)
        theta = math.atan2(y, x) - 0.000003 * math.cos(x * math.pi * 3000.0 / 180.0)
        lat, lon = z * math.sin(theta), z * math.cos(theta)
    elif crs != "gcj02":
        raise ValueError(crs)
    w_lat, w_lon = lat, lon
    for _ in range(20):
        f_lat, f_lon = _gcj_forward(w_lat, w_lon)
        e_lat, e_lon = f_lat - lat, f_lon - lon
        w_lat, w_lon = w_lat - e_lat, w_lon - e_lon
        if max(abs(e_lat), abs(e_lon)) < 1e-10:
            break
    return w_lat, w_lon


def _gcj_forward(lat: float, lon: float) -> tuple[float, float]:
    x, y, pi = lon - 105.0, lat - 35.0, math.pi
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += common + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += common + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - 0.00669342162296594323 * math.sin(radlat) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = dlat * 180.0 / ((6378245.0 * (1 - 0.00669342162296594323)) / (magic * sqrt_magic) * pi)
    dlon = dlon * 180.0 / (6378245.0 / sqrt_magic * math.cos(radlat) * pi)
    return lat + dlat, lon + dlon


def test_normalize_per_record_baseline(benchmark: Any, feed: Feed, bench_scale: BenchScale) -> None:
    record(benchmark, path="normalize", role=peer("per-record"), events=feed.records)
    baseline = _Baseline(feed.district)

    def run() -> int:
        baseline.seen = set()
        return sum(len(baseline.run(s, p)[0]) for s, p in feed.payloads.items())

    events = benchmark.pedantic(run, rounds=bench_scale.pick(ROUNDS, smoke=1), iterations=1)
    batch_events = _run_batches(_normalizer(feed.district), feed)
    assert events == batch_events  # both members accept the same records


def test_peers_agree_on_positions(feed: Feed) -> None:
    """Not timed: the baseline's scalar conversion matches the vectorised one."""
    baseline = _Baseline(feed.district)
    ref = {e.source_ref: (e.lat, e.lon) for e in baseline.run("patrol", feed.payloads["patrol"])[0]}
    batch = _normalizer(feed.district).normalize("patrol", feed.payloads["patrol"]).batch
    for ref_id, lat, lon in zip(
        batch.column("source_ref"), batch.events["lat"], batch.events["lon"], strict=True
    ):
        assert ref[ref_id] == pytest.approx((lat, lon), abs=1e-9)


# -- decode ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fused_frames(feed: Feed) -> list[bytes]:
    normalizer = _normalizer(feed.district)
    batches = [
        normalizer.normalize(source, payloads[start : start + BATCH]).batch
        for source, payloads in feed.payloads.items()
        for start in range(0, len(payloads), BATCH)
    ]
    return [encode_batch(b) for b in batches]


@pytest.fixture(scope="module")
def json_events(fused_frames: list[bytes]) -> list[bytes]:
    out = []
    for frame in fused_frames:
        batch = decode_batch(frame)
        cols = {name: batch.column(name) for name in batch.strings}
        for i, row in enumerate(batch.events.tolist()):
            event = dict(zip(batch.events.dtype.names or (), row, strict=True))
            event.update({name: values[i] for name, values in cols.items()})
            out.append(orjson.dumps(event))
    return out


def _fixed_columns(batch: FusedBatch) -> float:
    ev = batch.events
    # What the dedup core reads per message: whole columns.
    return float(ev["lat"].sum() + ev["lon"].sum()) + int(ev["category"].max(initial=0))


def _decoded_events(frames: list[bytes]) -> int:
    return sum(len(decode_batch(f)) for f in frames)


def test_decode_fused_fixed(benchmark: Any, fused_frames: list[bytes]) -> None:
    record(benchmark, path="decode", role=SUBJECT, events=_decoded_events(fused_frames))
    benchmark(lambda: [_fixed_columns(decode_batch(f)) for f in fused_frames])


def test_decode_fused_all_columns(benchmark: Any, fused_frames: list[bytes]) -> None:
    n = _decoded_events(fused_frames)
    record(benchmark, path="decode-all-columns", role=SUBJECT, events=n)

    def run() -> int:
        total = 0
        for frame in fused_frames:
            batch = decode_batch(frame)
            _fixed_columns(batch)
            total += sum(len(batch.column(name)) for name in batch.strings)
        return total

    assert benchmark(run) == n * len(STRING_COLUMNS)


@pytest.mark.parametrize("path", ["decode", "decode-all-columns"])
def test_decode_per_record_json(
    benchmark: Any, fused_frames: list[bytes], json_events: list[bytes], path: str
) -> None:
    """The same peer for both decode paths; for ``decode-all-columns`` it also gathers
    every string field into its column, as the fused decode does."""
    assert len(json_events) == _decoded_events(fused_frames)  # the same events as the subject
    record(benchmark, path=path, role=peer("per-record-json"), events=len(json_events))
    strings = STRING_COLUMNS if path == "decode-all-columns" else ()

    def run() -> float:
        lat, lon, cat = [], [], []
        columns: dict[str, list[str]] = {name: [] for name in strings}
        for raw in json_events:
            event = orjson.loads(raw)
            lat.append(event["lat"])
            lon.append(event["lon"])
            cat.append(event["category"])
            for name, values in columns.items():
                values.append(event[name])
        return float(np.array(lat).sum() + np.array(lon).sum()) + int(np.array(cat).max())

    benchmark(run)
