"""Position pings (``raw.patrol_track``) to WGS84 columns, and bad pings to dead letters.

A batch (streams/contracts/tracks.py) is checked in three passes:

1. per payload, in Python: the envelope and the batch fields (``device_id``,
   ``inspector_id`` in the roster, ``crs``, a non-empty ``points`` list); a failure here
   dead-letters the whole payload, since no ping of it can be trusted. Then each point's
   fields (``ts``, ``lat``, ``lon``, optional ``accuracy_m``): a bad point dead-letters
   only itself;
2. per batch, on numpy columns: impossible positions, conversion of the declared CRS to
   WGS84, the district's bounds, clock skew against the batch's arrival (too far ahead or
   too old), as the normalizer does for reports;
3. per device in time order, with a bounded memory across calls: a ping at a time the
   device already sent one is a duplicate; a ping implying a speed above the setting from
   the device's previous accepted ping (less than the jump window before or after it,
   net of both pings' accuracy) is a GPS jump. A rejected ping never becomes the
   "previous" ping: the one after a jump is compared with the one before it.

A dead letter of one ping carries as ``original`` a one-point batch of the same shape
(the batch's fields and that point), so it can be read and replayed like any batch, and
its message starts with the ping's place in its batch (``points[3]: ...``). Every
ping of every payload ends as exactly one accepted point or in exactly one dead letter
(its own, or its payload's). Nothing raises out of :meth:`TrackIntake.parse`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import numpy as np
import orjson

from streams.contracts.deadletter import DeadLetter
from streams.contracts.reasons import Reason
from streams.contracts.tracks import FEED, POINT_DTYPE, TrackPoints
from streams.intake.adapters.common import (
    Reject,
    as_bytes,
    decode_envelope,
    req_num,
    req_str,
    time_ms,
)
from streams.intake.columns import (
    POSITION_REASONS,
    VECTOR_REASONS,
    check_columns,
    position_message,
)
from streams.intake.normalize import wall_clock_ms
from streams.reference.geo import CRS, District
from streams.reference.inspectors import InspectorRoster
from streams.settings import Settings

__all__ = ["TrackConfig", "TrackIntake", "TrackResult"]

_CRS_CODE = {name: i for i, name in enumerate(CRS)}
_M_PER_DEG = 111_195.0  # metres per degree of latitude (mean Earth radius)
K = TypeVar("K")
V = TypeVar("V")
_Origin = tuple[int, int, int]  # raw partition, offset + 1 (0: unknown), point index


@dataclass(frozen=True)
class TrackConfig:
    max_payload_bytes: int = 64 * 1024
    max_speed_mps: float = 8.0
    jump_window_ms: int = 120_000
    max_future_skew_ms: int = 300_000
    max_age_ms: int = 3 * 86_400_000
    seen_capacity: int = 1_000_000

    @classmethod
    def from_settings(cls, s: Settings) -> TrackConfig:
        p = s.patrol
        return cls(
            max_payload_bytes=s.pipeline.max_payload_bytes,
            max_speed_mps=p.track_max_speed_mps,
            jump_window_ms=p.track_jump_window_s * 1000,
            max_future_skew_ms=p.track_max_future_skew_s * 1000,
            max_age_ms=p.track_max_age_s * 1000,
            seen_capacity=p.track_seen_points,
        )


class _Generations(Generic[K, V]):
    """A dict bounded to ``capacity`` entries in two generations: every entry among the
    last ``capacity // 2`` written is kept (older ones may be forgotten, oldest first)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity}")
        self.half = capacity // 2
        self.current: dict[K, V] = {}
        self.previous: dict[K, V] = {}

    def get(self, key: K) -> V | None:
        found = self.current.get(key)
        return self.previous.get(key) if found is None else found

    def put(self, key: K, value: V) -> None:
        if key not in self.current and len(self.current) >= self.half:
            self.previous, self.current = self.current, {}
        self.current[key] = value

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)


@dataclass(frozen=True, slots=True)
class _Fix:
    """A device's latest accepted ping."""

    t_ms: int
    lat: float
    lon: float
    accuracy_m: float  # 0 when unknown


@dataclass
class TrackResult:
    points: TrackPoints
    dead_letters: list[DeadLetter]


@dataclass
class _Pings:
    """Column lists of the pings that passed the per-point field checks."""

    index: list[int] = field(default_factory=list)  # payload position
    point: list[int] = field(default_factory=list)  # position in the payload's points
    head: list[dict[str, Any]] = field(default_factory=list)  # the batch fields
    obj: list[Any] = field(default_factory=list)  # the point object, for dead letters
    device: list[str] = field(default_factory=list)
    inspector: list[str] = field(default_factory=list)
    crs: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def _one_point(head: dict[str, Any], point: Any) -> bytes:
    """The dead letter's original for one ping: a one-point batch of the same shape."""
    try:
        return orjson.dumps({**head, "points": [point]})
    except TypeError:  # not JSON-serialisable (cannot come from orjson.loads): say what
        return repr(point).encode()


def _accuracy(point: dict[str, Any]) -> float:
    value = point.get("accuracy_m")
    if value is None:
        return math.nan
    if value.__class__ not in (int, float):
        raise Reject(Reason.WRONG_TYPE, f"'accuracy_m' is {type(value).__name__}, not a number")
    if not (math.isfinite(value) and value >= 0):
        raise Reject(Reason.BAD_COORDINATES, f"accuracy_m={value!r} is not a distance")
    return float(value)


class TrackIntake:
    """Raw ``raw.patrol_track`` payloads to :class:`TrackPoints` and dead letters.

    Stateful: per device, the latest accepted ping (for the jump check) and the times of
    the pings accepted (for duplicates), bounded by ``seen_capacity``. It is process
    memory, so whoever keeps the accepted pings durably gives them back with
    :meth:`restore` after a restart or a rebalance: a fresh memory would take a jump
    arriving first for the device's position and then reject the good pings after it.
    A payload Kafka delivers again (the same ``origins`` entry) is not a duplicate: its
    pings pass again with the same raw origin, for the consumer to drop; the consumer
    should not hand in what it already applied, since its pings would be judged against
    the device's later pings.
    """

    def __init__(
        self,
        config: TrackConfig,
        district: District,
        inspectors: Collection[str],
        now_fn: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.config, self.district, self.now_fn = config, district, now_fn
        self.inspectors = frozenset(inspectors)
        # (device, ping time) -> raw origin of the ping accepted for it
        self.seen: _Generations[tuple[str, int], _Origin] = _Generations(config.seen_capacity)
        self.last: _Generations[str, _Fix] = _Generations(config.seen_capacity)
        self.reasons: Counter[Reason] = Counter()  # dead letters per reason
        self.accepted = 0

    def restore(self, device: str, points: np.ndarray) -> None:
        """Take back pings of ``device`` accepted earlier (``POINT_DTYPE``, any order), as
        if this instance had accepted them: their times for duplicates, and the latest one
        becomes the device's previous ping for jumps (the caller's record is the truth)."""
        if points.dtype != POINT_DTYPE:
            raise ValueError(f"restore takes POINT_DTYPE pings, got {points.dtype}")
        if not len(points):
            return
        for p in points:
            origin = (int(p["origin_partition"]), int(p["origin_seq"]), int(p["origin_point"]))
            self.seen.put((device, int(p["t_ms"])), origin)
        latest = points[int(np.argmax(points["t_ms"]))]
        accuracy = _known(float(latest["accuracy_m"]))
        fix = _Fix(int(latest["t_ms"]), float(latest["lat"]), float(latest["lon"]), accuracy)
        self.last.put(device, fix)

    @classmethod
    def from_settings(
        cls, settings: Settings, now_fn: Callable[[], int] = wall_clock_ms
    ) -> TrackIntake:
        roster = InspectorRoster.load(settings.patrol.roster_file)
        district = District.load(settings.pipeline.district)
        return cls(TrackConfig.from_settings(settings), district, roster.ids(), now_fn)

    def parse(
        self,
        payloads: Sequence[bytes],
        now_ms: int | None = None,
        ingest_ms: Sequence[int] | np.ndarray | None = None,
        origins: Sequence[tuple[int, int]] | None = None,
    ) -> TrackResult:
        """Accepted pings and dead letters of ``payloads``.

        A ping's reference "now" for the clock-skew checks, kept as its ``ingest_ms``, is
        ``ingest_ms[i]`` of its payload when given (the Kafka timestamps: a replay judges
        each batch as when it arrived), else ``now_ms``, else ``now_fn()``. ``origins``:
        per payload, the raw ``(partition, offset)`` it was read from.
        """
        if ingest_ms is not None and len(ingest_ms) != len(payloads):
            raise ValueError(f"{len(ingest_ms)} ingest times for {len(payloads)} payloads")
        if origins is not None and len(origins) != len(payloads):
            raise ValueError(f"{len(origins)} origins for {len(payloads)} payloads")
        if ingest_ms is not None:
            arrival = np.asarray(ingest_ms, dtype=np.int64)
        else:
            single = self.now_fn() if now_ms is None else now_ms
            arrival = np.full(len(payloads), single, dtype=np.int64)
        origin = np.zeros((len(payloads), 2), dtype=np.int64)
        if origins is not None and len(payloads):
            origin = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
            if (origin[:, 0] < 0).any() or (origin[:, 0] > 0xFFFF).any() or (origin < 0).any():
                raise ValueError("raw origins must be partitions in [0, 65535] and offsets >= 0")
            origin[:, 1] += 1
        dead: list[DeadLetter] = []
        pings = _Pings()
        for i, payload in enumerate(payloads):
            self._read_payload(i, payload, pings, dead)
        points = self._finish(pings, arrival, origin, dead)
        self.accepted += len(points)
        self.reasons.update(d.reason for d in dead)
        return TrackResult(points, dead)

    # -- pass 1: fields ------------------------------------------------------------------
    def _read_payload(self, i: int, payload: Any, pings: _Pings, dead: list[DeadLetter]) -> None:
        try:
            obj = decode_envelope(payload, self.config.max_payload_bytes)
            head, points = self._batch_fields(obj)
        except Reject as rej:
            dead.append(DeadLetter(FEED, rej.reason, rej.message, as_bytes(payload), index=i))
            return
        except Exception as exc:  # see Reason.INTERNAL_ERROR
            dead.append(
                DeadLetter(FEED, Reason.INTERNAL_ERROR, repr(exc), as_bytes(payload), index=i)
            )
            return
        crs = _CRS_CODE[head["crs"]]
        for k, point in enumerate(points):
            try:
                if point.__class__ is not dict:
                    raise Reject(Reason.NOT_AN_OBJECT, f"point is {type(point).__name__}")
                t = time_ms(point.get("ts"), "ts", self.district.timezone)
                lat, lon = req_num(point, "lat"), req_num(point, "lon")
                accuracy = _accuracy(point)
            except Reject as rej:
                original = _one_point(head, point)
                message = f"points[{k}]: {rej.message}"
                dead.append(DeadLetter(FEED, rej.reason, message, original, index=i))
                continue
            except Exception as exc:  # see Reason.INTERNAL_ERROR
                original = _one_point(head, point)
                message = f"points[{k}]: {exc!r}"
                dead.append(DeadLetter(FEED, Reason.INTERNAL_ERROR, message, original, index=i))
                continue
            pings.index.append(i)
            pings.point.append(k)
            pings.head.append(head)
            pings.obj.append(point)
            pings.device.append(head["device_id"])
            pings.inspector.append(head["inspector_id"])
            pings.crs.append(crs)
            pings.t.append(t)
            pings.lat.append(lat)
            pings.lon.append(lon)
            pings.accuracy.append(accuracy)

    def _batch_fields(self, obj: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        device = req_str(obj, "device_id")
        inspector = req_str(obj, "inspector_id")
        crs = req_str(obj, "crs")
        if crs not in _CRS_CODE:
            raise Reject(Reason.UNKNOWN_CRS, f"crs {crs[:20]!r} is not one of {CRS}")
        points = obj.get("points")
        if points is None:
            raise Reject(Reason.MISSING_FIELD, "missing field 'points'")
        if points.__class__ is not list:
            raise Reject(Reason.WRONG_TYPE, f"'points' is {type(points).__name__}, not a list")
        if not points:
            raise Reject(Reason.MISSING_FIELD, f"batch of {device[:40]!r} has no points")
        if inspector not in self.inspectors:
            raise Reject(
                Reason.UNKNOWN_INSPECTOR, f"inspector {inspector[:40]!r} is not in the roster"
            )
        return {"device_id": device, "inspector_id": inspector, "crs": crs}, points

    # -- pass 2: columns -----------------------------------------------------------------
    def _finish(
        self, pings: _Pings, arrival: np.ndarray, origin: np.ndarray, dead: list[DeadLetter]
    ) -> TrackPoints:
        if not pings.index:
            return TrackPoints.empty()
        index = np.array(pings.index, dtype=np.int64)
        lat = np.array(pings.lat, dtype=np.float64)
        lon = np.array(pings.lon, dtype=np.float64)
        t = np.array(pings.t, dtype=np.int64)
        now = arrival[index]
        crs, cfg = np.array(pings.crs, dtype=np.int8), self.config
        reject = check_columns(
            self.district, crs, lat, lon, t, now, cfg.max_age_ms, cfg.max_future_skew_ms
        )
        for j in np.flatnonzero(reject).tolist():
            reason = VECTOR_REASONS[int(reject[j])]
            message = self._message(reason, float(lat[j]), float(lon[j]), int(t[j]), int(now[j]))
            self._dead_ping(pings, j, reason, message, dead)
        keep = self._sequential(pings, np.flatnonzero(reject == 0), lat, lon, t, origin, dead)
        out = np.zeros(len(keep), dtype=POINT_DTYPE)
        out["t_ms"], out["lat"], out["lon"] = t[keep], lat[keep], lon[keep]
        out["accuracy_m"] = np.array(pings.accuracy, dtype=np.float64)[keep]
        out["ingest_ms"] = now[keep]
        out["origin_partition"] = origin[index[keep], 0]
        out["origin_seq"] = origin[index[keep], 1]
        out["origin_point"] = np.array(pings.point, dtype=np.int64)[keep]
        devices = np.array([pings.device[j] for j in keep], dtype=np.str_)
        inspectors = np.array([pings.inspector[j] for j in keep], dtype=np.str_)
        return TrackPoints(out, devices, inspectors)

    def _message(self, reason: Reason, lat: float, lon: float, t: int, now: int) -> str:
        if reason in POSITION_REASONS:
            return position_message(self.district, reason, lat, lon)
        stamp = datetime.fromtimestamp(t / 1000, UTC).isoformat()
        if reason is Reason.FUTURE_TIME:
            return f"ping time {stamp} is {(t - now) / 1000:.0f} s after its batch arrived"
        return f"ping time {stamp} is {(now - t) / 3_600_000:.1f} h before its batch arrived"

    def _dead_ping(
        self, pings: _Pings, j: int, reason: Reason, message: str, dead: list[DeadLetter]
    ) -> None:
        original = _one_point(pings.head[j], pings.obj[j])
        message = f"points[{pings.point[j]}]: {message}"
        dead.append(DeadLetter(FEED, reason, message, original, index=pings.index[j]))

    # -- pass 3: per device, in time order -------------------------------------------------
    def _sequential(
        self,
        pings: _Pings,
        ok: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        t: np.ndarray,
        origin: np.ndarray,
        dead: list[DeadLetter],
    ) -> list[int]:
        """The pings of ``ok`` that are neither duplicates nor jumps, by (device, time)."""
        codes: dict[str, int] = {}
        device_code = np.array([codes.setdefault(pings.device[j], len(codes)) for j in ok])
        order = ok[np.lexsort((ok, t[ok], device_code))] if len(ok) else ok
        keep: list[int] = []
        for j in order.tolist():
            device, t_j = pings.device[j], int(t[j])
            i = pings.index[j]
            here = (int(origin[i, 0]), int(origin[i, 1]), pings.point[j])
            before = self.seen.get((device, t_j))
            # an unknown origin (offset 0) is never taken for a redelivery
            if before is not None and (here[1] == 0 or before != here):
                stamp = datetime.fromtimestamp(t_j / 1000, UTC).isoformat()
                message = f"device {device[:40]!r} already sent a ping at {stamp}"
                self._dead_ping(pings, j, Reason.DUPLICATE_POINT, message, dead)
                continue
            fix = _Fix(t_j, float(lat[j]), float(lon[j]), _known(pings.accuracy[j]))
            jump = self._jump(self.last.get(device), fix)
            if jump:
                self._dead_ping(pings, j, Reason.SPEED_JUMP, jump, dead)
                continue
            self.seen.put((device, t_j), here)
            last = self.last.get(device)
            if last is None or t_j >= last.t_ms:
                self.last.put(device, fix)
            keep.append(j)
        return keep

    def _jump(self, last: _Fix | None, fix: _Fix) -> str:
        """Why ``fix`` is a jump from ``last`` ("" when it is not, or cannot be told)."""
        if last is None:
            return ""
        dt_ms = abs(fix.t_ms - last.t_ms)
        if dt_ms == 0 or dt_ms > self.config.jump_window_ms:
            return ""
        dy = (fix.lat - last.lat) * _M_PER_DEG
        dx = (fix.lon - last.lon) * _M_PER_DEG * math.cos(math.radians((fix.lat + last.lat) / 2))
        metres = math.hypot(dx, dy)
        slack = last.accuracy_m + fix.accuracy_m
        speed = (metres - slack) / (dt_ms / 1000)
        if speed <= self.config.max_speed_mps:
            return ""
        return (
            f"{metres:.0f} m in {dt_ms / 1000:.0f} s from the device's previous ping "
            f"(accuracy {slack:.0f} m): {speed:.1f} m/s > {self.config.max_speed_mps} m/s"
        )


def _known(accuracy: float) -> float:
    return 0.0 if math.isnan(accuracy) else accuracy
