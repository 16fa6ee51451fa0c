"""The normalizer: lists of raw payloads to one fused batch plus dead letters.

Per record only the unavoidable python runs (JSON parse, field reads, map lookups, list
appends, in the adapters); position and time checks and coordinate conversion run once
per batch on numpy columns. Nothing that arrives raises out of :meth:`Normalizer.normalize`:
every payload ends as exactly one row or (per alarm, for gateway batches) dead letter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from streams.contracts.deadletter import DeadLetter
from streams.contracts.fused import (
    EVENT_DTYPE,
    FLAG_LATE,
    FLAG_REQUEST_UPDATE,
    STRING_COLUMNS,
    FusedBatch,
    Source,
    device_hash,
)
from streams.contracts.fused import event_id_for as _event_id_for
from streams.contracts.reasons import Reason
from streams.contracts.requests import RequestUpdate
from streams.intake.adapters import hotline, patrol, sensor
from streams.intake.adapters.common import ParseContext, Rows
from streams.intake.columns import (
    POSITION_REASONS,
    VECTOR_REASONS,
    check_columns,
    position_message,
)
from streams.reference.categories import CategoryTable, SensorAlarmMap, ServiceCodeMap
from streams.reference.geo import District
from streams.settings import Settings

__all__ = ["NormalizeResult", "Normalizer", "NormalizerConfig", "SeenIds", "wall_clock_ms"]

_PARSERS = {sensor.SOURCE: sensor.parse, hotline.SOURCE: hotline.parse, patrol.SOURCE: patrol.parse}
_SOURCE_CODE = {name: int(Source[name.upper()]) for name in _PARSERS}


def wall_clock_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@dataclass(frozen=True)
class NormalizerConfig:
    max_payload_bytes: int = 64 * 1024
    max_future_skew_ms: int = 300_000
    max_event_age_ms: int = 400 * 86_400_000
    seen_capacity: int = 1_000_000
    late_after_ms: int = 6 * 3_600_000

    @classmethod
    def from_settings(cls, s: Settings) -> NormalizerConfig:
        return cls(
            max_payload_bytes=s.pipeline.max_payload_bytes,
            max_future_skew_ms=s.pipeline.max_future_skew_s * 1000,
            max_event_age_ms=s.pipeline.max_event_age_days * 86_400_000,
            seen_capacity=s.pipeline.intake_seen_ids,
            late_after_ms=s.pipeline.late_after_s * 1000,
        )


class SeenIds:
    """Bounded memory of accepted event ids and the raw record each came from, in two
    generations.

    Bound: at most ``capacity`` ids are held; every id among the last ``capacity // 2``
    accepted is remembered (older ones may be forgotten, oldest generation first). It is
    process memory: a restarted worker starts empty (Kafka replays are absorbed downstream
    by the raw origins, not here). The origin tells a source sending a record again (a
    duplicate) from Kafka redelivering the same record (not one: it passes, and dedup
    absorbs it once).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"seen-id capacity must be >= 2, got {capacity}")
        self.half = capacity // 2
        self.current: dict[int, int] = {}
        self.previous: dict[int, int] = {}

    def __contains__(self, event_id: int) -> bool:
        return event_id in self.current or event_id in self.previous

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    def origin_of(self, event_id: int) -> int | None:
        found = self.current.get(event_id)
        return self.previous.get(event_id) if found is None else found

    def add(self, event_id: int, origin: int = 0) -> None:
        if len(self.current) >= self.half:
            self.previous, self.current = self.current, {}
        self.current[event_id] = origin


def _origin_columns(
    origins: Sequence[tuple[int, int]] | np.ndarray | None, rows: Rows
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the raw partition and ``offset + 1`` of its payload (0, 0 when unknown)."""
    if origins is None or not len(rows):
        return np.zeros(len(rows), np.uint16), np.zeros(len(rows), np.int64)
    per_payload = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    index = np.asarray(rows.index, dtype=np.int64)
    partition, offset = per_payload[index, 0], per_payload[index, 1]
    if (partition < 0).any() or (partition > 0xFFFF).any() or (offset < 0).any():
        raise ValueError("raw origins must be partitions in [0, 65535] and offsets >= 0")
    return partition.astype(np.uint16), offset + 1


@dataclass
class NormalizeResult:
    batch: FusedBatch
    dead_letters: list[DeadLetter]
    # hotline requests published again with an update (streams/contracts/requests.py)
    request_updates: list[RequestUpdate] = field(default_factory=list)


class Normalizer:
    """Raw payloads of one source to a :class:`FusedBatch` and dead letters."""

    def __init__(
        self,
        config: NormalizerConfig,
        categories: CategoryTable,
        district: District,
        now_fn: Callable[[], int] = wall_clock_ms,
        sensor_map: SensorAlarmMap | None = None,
        service_map: ServiceCodeMap | None = None,
    ) -> None:
        self.config = config
        self.categories = categories
        self.district = district
        self.now_fn = now_fn
        sensor_map = sensor_map or SensorAlarmMap.load(categories)
        service_map = service_map or ServiceCodeMap.load(categories)
        components = {c.code: c.id for c in categories.by_id.values() if c.kind == "component"}
        self.ctx = ParseContext(
            config.max_payload_bytes,
            categories,
            district,
            sensor_map.mapping,
            service_map.mapping,
            components,
        )
        size = max(categories.by_id) + 1
        self._department = np.empty(size, dtype=object)
        # A device id identifies the problem only when the device is the faulty component
        # (a cover's own tilt sensor, a lamp); a camera on a pole sees many problems.
        self._is_component = np.zeros(size, dtype=bool)
        for cat in categories.by_id.values():
            self._is_component[cat.id] = cat.kind == "component"
        for cat in categories.by_id.values():
            self._department[cat.id] = cat.department
        self.seen = SeenIds(config.seen_capacity)
        self.reasons: Counter[Reason] = Counter()  # dead letters per reason
        self.accepted: Counter[str] = Counter()  # events per source

    @classmethod
    def from_settings(
        cls, settings: Settings, now_fn: Callable[[], int] = wall_clock_ms
    ) -> Normalizer:
        table = CategoryTable.load(
            settings.pipeline.categories_file, settings.pipeline.category_code_digits
        )
        district = District.load(settings.pipeline.district)
        return cls(NormalizerConfig.from_settings(settings), table, district, now_fn)

    def normalize(
        self,
        source: str,
        payloads: Sequence[bytes],
        now_ms: int | None = None,
        ingest_ms: Sequence[int] | np.ndarray | None = None,
        origins: Sequence[tuple[int, int]] | np.ndarray | None = None,
        at_event_time: bool = False,
    ) -> NormalizeResult:
        """Parse ``payloads`` of ``source`` into one batch and dead letters.

        The reference "now" of a record, used for the future/stale checks and stored as
        its ingest time, is ``ingest_ms[i]`` when given (one per payload, e.g. the Kafka
        message timestamps: a replay then judges each record as when it arrived), else its
        own event time with ``at_event_time`` (an export that does not say when each record
        arrived: judging it against today would make every old record stale), else
        ``now_ms``, else ``now_fn()``. ``origins``: per payload, the raw ``(partition,
        offset)`` it was read from, or an (n, 2) array of them (stored as ``origin_partition``
        / ``origin_seq``).
        """
        parse = _PARSERS.get(source)
        if parse is None:
            raise ValueError(f"unknown source {source!r}, expected one of {sorted(_PARSERS)}")
        if ingest_ms is not None and len(ingest_ms) != len(payloads):
            raise ValueError(f"{len(ingest_ms)} ingest times for {len(payloads)} payloads")
        if origins is not None and len(origins) != len(payloads):
            raise ValueError(f"{len(origins)} origins for {len(payloads)} payloads")
        rows = Rows()
        dead: list[DeadLetter] = []
        parse(payloads, self.ctx, rows, dead)
        if ingest_ms is not None:
            now = np.asarray(ingest_ms, dtype=np.int64)[np.array(rows.index, dtype=np.int64)]
        elif at_event_time:
            now = np.array(rows.time_ms, dtype=np.int64)
        else:
            single = self.now_fn() if now_ms is None else now_ms
            now = np.full(len(rows), single, dtype=np.int64)
        updates: list[RequestUpdate] = []
        origin = _origin_columns(origins, rows)
        batch = self._finish(source, rows, now, dead, origin, updates)
        self.accepted[source] += len(batch)
        self.reasons.update(d.reason for d in dead)
        return NormalizeResult(batch, dead, updates)

    def _finish(
        self,
        source: str,
        rows: Rows,
        now: np.ndarray,
        dead: list[DeadLetter],
        origin: tuple[np.ndarray, np.ndarray],
        updates: list[RequestUpdate],
    ) -> FusedBatch:
        if not len(rows):
            return FusedBatch.empty()
        lat = np.array(rows.lat, dtype=np.float64)
        lon = np.array(rows.lon, dtype=np.float64)
        t = np.array(rows.time_ms, dtype=np.int64)
        reject = self._check_columns(rows, lat, lon, t, now)
        ok = np.flatnonzero(reject == 0)
        for j in np.flatnonzero(reject).tolist():
            reason = VECTOR_REASONS[int(reject[j])]
            message = self._message(reason, float(lat[j]), float(lon[j]), int(t[j]), int(now[j]))
            dead.append(DeadLetter(source, reason, message, rows.original[j], index=rows.index[j]))
        keep, event_ids = self._unseen(source, rows, ok.tolist(), dead, origin)
        updates += self._request_updates(source, rows, ok.tolist(), now)
        batch = self._build(source, rows, keep, event_ids, lat, lon, t, now)
        idx = np.array(keep, dtype=np.int64)
        batch.events["origin_partition"] = origin[0][idx]
        batch.events["origin_seq"] = origin[1][idx]
        return batch

    def _check_columns(
        self, rows: Rows, lat: np.ndarray, lon: np.ndarray, t: np.ndarray, now: np.ndarray
    ) -> np.ndarray:
        """Per-row code into VECTOR_REASONS (0 = fine); converts lat/lon in place."""
        crs = np.array(rows.crs, dtype=np.int8)
        cfg = self.config
        return check_columns(
            self.district, crs, lat, lon, t, now, cfg.max_event_age_ms, cfg.max_future_skew_ms
        )

    def _message(self, reason: Reason, lat: float, lon: float, t: int, now: int) -> str:
        if reason in POSITION_REASONS:
            return position_message(self.district, reason, lat, lon)
        stamp = datetime.fromtimestamp(t / 1000, UTC).isoformat()
        if reason is Reason.FUTURE_TIME:
            return f"event time {stamp} is {(t - now) / 1000:.0f} s ahead of now"
        return f"event time {stamp} is {(now - t) / 86_400_000:.1f} days old"

    def _unseen(
        self,
        source: str,
        rows: Rows,
        ok: list[int],
        dead: list[DeadLetter],
        origin: tuple[np.ndarray, np.ndarray],
    ) -> tuple[list[int], list[int]]:
        seen, refs = self.seen, rows.source_ref
        keep: list[int] = []
        event_ids: list[int] = []
        # one number per raw record (0: unknown, never taken for a redelivery)
        packed = np.where(origin[1] > 0, (origin[0].astype(np.int64) << 48) | origin[1], 0)
        for j in ok:
            eid = _event_id_for(source, refs[j])
            here = int(packed[j])
            before = seen.origin_of(eid)
            if before is not None and (here == 0 or before != here):
                # A request published again with an update is not a new report, nor a
                # duplicate: its update goes to hotline.updates (_request_updates).
                if not rows.flags[j] & FLAG_REQUEST_UPDATE:
                    dead.append(
                        DeadLetter(
                            source,
                            Reason.DUPLICATE_SOURCE_ID,
                            f"{source} record {refs[j][:80]!r} was already accepted",
                            rows.original[j],
                            index=rows.index[j],
                        )
                    )
                continue
            seen.add(eid, here)
            keep.append(j)
            event_ids.append(eid)
        return keep, event_ids

    def _request_updates(
        self, source: str, rows: Rows, ok: list[int], now: np.ndarray
    ) -> list[RequestUpdate]:
        """A request update for every valid record flagged as one, accepted as a report
        (the platform's first publication we saw) or not (one we saw before)."""
        if source != hotline.SOURCE or not ok:  # only the hotline adapter flags updates
            return []
        flagged = np.asarray(rows.flags, dtype=np.int64)[ok] & FLAG_REQUEST_UPDATE
        out = []
        for j in np.asarray(ok)[flagged != 0].tolist():
            status, notes, description, updated = hotline.update_fields(rows.original[j], self.ctx)
            ref = rows.source_ref[j]
            eid = _event_id_for(source, ref)
            out.append(RequestUpdate(eid, ref, status, notes, description, updated, int(now[j])))
        return out

    def _build(
        self,
        source: str,
        rows: Rows,
        keep: list[int],
        event_ids: list[int],
        lat: np.ndarray,
        lon: np.ndarray,
        t: np.ndarray,
        now: np.ndarray,
    ) -> FusedBatch:
        n = len(keep)
        everything = n == len(rows)
        idx = np.array(keep, dtype=np.int64)
        cats = np.array(rows.category, dtype=np.uint16)[idx]
        devices = rows.device_id if everything else [rows.device_id[j] for j in keep]
        ev = np.zeros(n, dtype=EVENT_DTYPE)
        ev["event_id"] = np.array(event_ids, dtype=np.uint64)
        ev["source"] = _SOURCE_CODE[source]
        ev["category"] = cats
        ev["flags"] = np.array(rows.flags, dtype=np.uint8)[idx]
        # Late is a fact of the record (its arrival against its event time), not of the
        # order it is processed in: every run of the same input flags the same events.
        late = now[idx] - t[idx] > self.config.late_after_ms
        ev["flags"][late] |= np.uint8(FLAG_LATE)
        ev["lat"] = lat[idx]
        ev["lon"] = lon[idx]
        ev["event_time_ms"] = t[idx]
        ev["ingest_time_ms"] = now[idx]
        if source == sensor.SOURCE:
            hashes = np.array([device_hash(d) for d in devices], dtype=np.uint64)
            ev["device_hash"] = np.where(self._is_component[cats], hashes, np.uint64(0))
        columns = {
            "source_ref": rows.source_ref,
            "device_id": rows.device_id,
            "reporter": rows.reporter,
            "text": rows.text,
            "address": rows.address,
        }
        strings = {
            name: (col if everything else [col[j] for j in keep]) for name, col in columns.items()
        }
        strings["department"] = self._department[cats].tolist()
        return FusedBatch.from_fixed_array(ev, {name: strings[name] for name in STRING_COLUMNS})
