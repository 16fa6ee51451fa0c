"""The patrol terminals' feed (``raw.patrol_track``): batches of pings per device, with truth.

Each inspector carries one terminal (``CGT-<number>``; its fix period, upload period and time
format are its own, the same in every run). During each walked patrol the terminal takes
fixes (:mod:`streams.simulator.tracks`) and uploads what it has every minute or so; an
upload may fail and a network outage may hold the pings for minutes, so the next batch is
larger and late; the closing upload follows the patrol's end. A batch arrives (its Kafka
timestamp) a few seconds after its upload.

A share of pings and of batches is damaged (:mod:`streams.simulator.bad_pings`); every sent
ping has a :class:`~streams.simulator.records.PingTruth` row naming the reason intake must
give it, with the intake's default settings. Deterministic by seed.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from streams.contracts.reasons import Reason
from streams.reference.geo import gcj02_to_bd09, wgs84_to_gcj02
from streams.simulator.bad_pings import (
    BATCH_KINDS,
    JUMP_MAX_GAP_MS,
    POINT_KINDS,
    KindCycle,
    damage_batch,
    damage_point,
    jump_position,
)
from streams.simulator.district import District, Inspector
from streams.simulator.geo import to_declared_crs
from streams.simulator.patrols import Patrol
from streams.simulator.records import PingTruth, TrackRecord
from streams.simulator.tracks import Track, record_track

__all__ = ["Terminal", "TrackFeed"]

FIX_INTERVAL_S = (10.0, 30.0)
UPLOAD_S = (45.0, 90.0)
UPLOAD_FAIL_PROB = 0.05
OUTAGE_PROB = 0.01
OUTAGE_S = (300.0, 1200.0)
NETWORK_S = (0.2, 3.0)
RESEND_S = (5.0, 30.0)
MAX_BATCH_POINTS = 200

# A truth row before its batch goes out: PingTruth's fields from ``point`` to ``detail``.
_Row = tuple[int, str, str, str, int, str, int, float, float, str, int, str]
_Declared = tuple[list[Any], list[float], list[float]]  # ts, lat, lon as sent


@dataclass(frozen=True)
class Terminal:
    device_id: str
    inspector: Inspector
    fix_interval_s: float
    upload_s: float
    epoch_ts: bool  # sends epoch ms, else ISO 8601 with the zone

    @classmethod
    def of(cls, who: Inspector) -> Terminal:
        rng = random.Random(f"terminal:{who.inspector_id}")
        number = int(who.inspector_id.rpartition("-")[2])
        interval, upload = rng.uniform(*FIX_INTERVAL_S), rng.uniform(*UPLOAD_S)
        return cls(f"CGT-{number:04d}", who, interval, upload, rng.random() < 0.5)


@dataclass(frozen=True, slots=True)
class _Good:
    """A device's latest ping that intake accepts: to send it again, or to jump from it."""

    t_ms: int
    point: dict[str, Any]
    row: _Row


@dataclass(frozen=True, slots=True)
class _Batch:
    """One upload being built: the device, the patrol and what goes in it."""

    term: Terminal
    patrol: Patrol
    track: Track
    arrival: int
    points: list[dict[str, Any]]
    rows: list[_Row]


class TrackFeed:
    """Stateful across days: terminals, the bad-ping cycles, pending batches."""

    def __init__(self, district: District, seed: int, bad_share: float) -> None:
        if not 0.0 <= bad_share <= 1.0:
            raise ValueError(f"bad share {bad_share} outside [0, 1]")
        self.district, self.seed, self.bad_share = district, seed, bad_share
        self.tz = ZoneInfo(district.timezone)
        self.terminals = {w.inspector_id: Terminal.of(w) for w in district.inspectors}
        self.rng_bad = random.Random(f"bad-pings:{seed}")
        self.point_kinds = KindCycle(POINT_KINDS, self.rng_bad)
        self.batch_kinds = KindCycle(BATCH_KINDS, self.rng_bad)
        self.last_good: dict[str, _Good] = {}
        self.pending: list[tuple[int, int, bytes, bytes, list[_Row]]] = []
        self.counter = self.seq = 0

    def walk_day(self, patrols: Iterable[Patrol]) -> None:
        """The batches of the walked ``patrols`` of a day (in schedule order)."""
        for p in patrols:
            rng = random.Random(f"track:{self.seed}:{p.patrol_id}")
            term = self.terminals[p.inspector.inspector_id]
            track = record_track(self.district, p, rng, term.fix_interval_s)
            declared = self._declared(term, track)
            for send_ms, lo, hi in self._uploads(term, p, track, rng):
                arrival = send_ms + int(rng.uniform(*NETWORK_S) * 1000)
                batch = _Batch(term, p, track, arrival, [], [])
                self._fill(batch, range(lo, hi), declared, rng)

    def _declared(self, term: Terminal, track: Track) -> _Declared:
        """The times, lat and lon of ``track`` as the terminal writes them."""
        lat, lon = track.lat, track.lon
        if term.inspector.crs in ("gcj02", "bd09"):
            lat, lon = wgs84_to_gcj02(lat, lon)
        if term.inspector.crs == "bd09":
            lat, lon = gcj02_to_bd09(lat, lon)
        ts: list[Any] = track.t_ms.tolist()
        if not term.epoch_ts:
            ts = [
                datetime.fromtimestamp(t / 1000, self.tz).isoformat(timespec="seconds") for t in ts
            ]
        return ts, np.round(lat, 6).tolist(), np.round(lon, 6).tolist()

    def _uploads(
        self, term: Terminal, patrol: Patrol, track: Track, rng: random.Random
    ) -> Iterator[tuple[int, int, int]]:
        """(upload time, first, end) fix index range of each batch that got through."""
        times, t = [], patrol.start_ms + int(rng.uniform(30, 90) * 1000)
        while t < patrol.end_ms:
            times.append(t)
            t += int(term.upload_s * rng.uniform(0.9, 1.1) * 1000)
        closing = patrol.end_ms + int(rng.uniform(5, 60) * 1000)
        sends, offline_until = [], 0
        for t in times:
            if t < offline_until or rng.random() < UPLOAD_FAIL_PROB:
                continue
            if rng.random() < OUTAGE_PROB:
                offline_until = t + int(rng.uniform(*OUTAGE_S) * 1000)
                continue
            sends.append(t)
        sends.append(max(closing, offline_until))  # the closing upload waits for the network
        ends = np.searchsorted(track.t_ms, sends, side="right").tolist()
        lo = 0
        for send, hi in zip(sends, ends, strict=True):
            for start in range(lo, hi, MAX_BATCH_POINTS):
                yield send, start, min(start + MAX_BATCH_POINTS, hi)
            lo = hi

    # -- batches -------------------------------------------------------------------------
    def _fill(
        self,
        batch: _Batch,
        fixes: range,
        declared: _Declared,
        rng: random.Random,
    ) -> None:
        ts, lat, lon = declared
        head = {
            "device_id": batch.term.device_id,
            "inspector_id": batch.term.inspector.inspector_id,
            "crs": batch.term.inspector.crs,
        }
        accuracy = batch.track.accuracy_m.tolist()
        points = [
            {"ts": ts[i], "lat": lat[i], "lon": lon[i], "accuracy_m": accuracy[i]} for i in fixes
        ]
        kind = self.batch_kinds.pop() if self.rng_bad.random() < self.bad_share else None
        if kind is not None and kind is not Reason.DUPLICATE_POINT:
            value, detail = damage_batch(kind, {**head, "points": points}, self.rng_bad)
            rows = [self._row(batch, i, k, kind.value, 1, detail) for k, i in enumerate(fixes)]
            self._push(batch.arrival, batch.term, value, rows)
            return
        for i, point in zip(fixes, points, strict=True):
            damaged = kind is None and self.rng_bad.random() < self.bad_share
            self._ping(batch, i, point, damaged, rng)
        value = orjson.dumps({**head, "points": batch.points})
        self._push(batch.arrival, batch.term, value, batch.rows)
        if kind is Reason.DUPLICATE_POINT:  # uploaded again: the acknowledgement was lost
            again = batch.arrival + int(rng.uniform(*RESEND_S) * 1000)
            copies = [(*r[:9], kind.value, 0, "batch uploaded again") for r in batch.rows]
            self._push(again, batch.term, value, copies)

    def _ping(
        self, batch: _Batch, i: int, point: dict[str, Any], damaged: bool, rng: random.Random
    ) -> None:
        """Append fix ``i`` as sent (and, for a duplicate, the repeated ping before it)."""
        device, t_ms = batch.term.device_id, int(batch.track.t_ms[i])
        last = self.last_good.get(device)
        kind = self.point_kinds.peek() if damaged else None
        if kind is Reason.SPEED_JUMP and not (last and 0 < t_ms - last.t_ms <= JUMP_MAX_GAP_MS):
            kind = None  # nothing to jump from: a good ping, the jump waits for the next one
        own = last is not None and last.row[3] == batch.patrol.patrol_id
        if kind is Reason.DUPLICATE_POINT and not own:
            kind = None  # only the patrol's own previous ping is sent again
        if kind is not None:
            self.point_kinds.pop()
        if kind is Reason.DUPLICATE_POINT and last is not None:
            batch.points.append(dict(last.point))
            again = "previous ping sent again"
            batch.rows.append((len(batch.rows), *last.row[1:9], kind.value, 0, again))
            kind = None
        detail = ""
        if kind is Reason.SPEED_JUMP and last is not None:
            track = batch.track
            x, y = float(track.x[i]), float(track.y[i])
            lat, lon, accuracy = jump_position(self.district, x, y, t_ms - last.t_ms, rng)
            lat, lon = to_declared_crs(batch.term.inspector.crs, lat, lon)
            point.update(lat=round(lat, 6), lon=round(lon, 6), accuracy_m=accuracy)
            detail = f"a fix {accuracy} m accurate thrown far off"
        elif kind is not None:
            crs, epoch = batch.term.inspector.crs, batch.term.epoch_ts
            detail = damage_point(kind, point, crs, t_ms, epoch, self.rng_bad)
        reason = "" if kind is None else kind.value
        row = self._row(batch, i, len(batch.rows), reason, 0, detail)
        batch.points.append(point)
        batch.rows.append(row)
        if kind is None:
            self.last_good[device] = _Good(t_ms, dict(point), row)

    def _row(
        self, batch: _Batch, i: int, point: int, reason: str, whole_batch: int, detail: str
    ) -> _Row:
        track, patrol = batch.track, batch.patrol
        leg = int(track.leg[i])
        street = self.district.streets[patrol.legs[leg].street].name if leg >= 0 else ""
        lat, lon = self.district.lat_lon(float(track.x[i]), float(track.y[i]))
        return (
            point,
            batch.term.device_id,
            batch.term.inspector.inspector_id,
            patrol.patrol_id,
            leg,
            street,
            int(track.t_ms[i]),
            round(lat, 7),
            round(lon, 7),
            reason,
            whole_batch,
            detail,
        )

    def _push(self, arrival: int, term: Terminal, value: bytes, rows: list[_Row]) -> None:
        self.counter += 1
        key = term.device_id.encode()
        heapq.heappush(self.pending, (arrival, self.counter, key, value, rows))

    def pop_until(self, limit: int | None) -> Iterator[TrackRecord]:
        """The pending batches arriving before ``limit`` (all for None), by arrival."""
        while self.pending and (limit is None or self.pending[0][0] < limit):
            arrival, _, key, value, rows = heapq.heappop(self.pending)
            truth = tuple(PingTruth(self.seq, *row, arrival) for row in rows)
            self.seq += 1
            yield TrackRecord(key, value, arrival, truth)
