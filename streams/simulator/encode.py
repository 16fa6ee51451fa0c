"""Drafts in arrival order -> raw records: ids, the contract's JSON, gateway batches, bad records.

Ids are handed out here, in arrival order, as the real systems do (gateway counters, a
hotline desk's daily numbering, the patrol terminal's daily report numbers), so they carry
no trace of the incident behind them.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from streams.contracts.reasons import Reason
from streams.simulator.bad import COMMON_KINDS, SOURCE_KINDS, corrupt
from streams.simulator.catalog import Catalog
from streams.simulator.district import District
from streams.simulator.records import SOURCES, SimRecord, TruthRow
from streams.simulator.reports import Draft

__all__ = ["MAX_BATCH_ALARMS", "Encoder"]

MAX_BATCH_ALARMS = 50
RECENT = 512  # how far back a re-sent duplicate may reach, per source
AGENCY = "淇滨区城市管理局"


class Encoder:
    """Stateful: counters and the recent-record memory live across calls to :meth:`emit`."""

    def __init__(
        self,
        district: District,
        catalog: Catalog,
        seed: int,
        bad_share: float,
        max_payload_bytes: int,
    ) -> None:
        if not 0.0 <= bad_share <= 1.0:
            raise ValueError(f"bad share {bad_share} outside [0, 1]")
        self.district, self.catalog = district, catalog
        self.tz = ZoneInfo(district.timezone)
        self.bad_share, self.max_payload = bad_share, max_payload_bytes
        self.rng = random.Random(f"bad:{seed}")
        # bad records due per source; batches cannot be damaged, the next records make up
        self.owed = dict.fromkeys(SOURCES, 0.0)
        self.kind_cycle: dict[str, list[Reason]] = {s: [] for s in SOURCES}
        self.seq = dict.fromkeys(SOURCES, 0)
        self.alarm_no = [0] * district.gateways
        self.daily: dict[tuple[str, str], int] = {}
        self.recent: dict[str, deque[SimRecord]] = {s: deque(maxlen=RECENT) for s in SOURCES}

    def emit(self, drafts: list[Draft]) -> Iterator[SimRecord]:
        """Records for ``drafts`` (sorted by arrival, a gateway's batch members adjacent)."""
        i = 0
        while i < len(drafts):
            d = drafts[i]
            if d.group:
                j = i + 1
                while (
                    j < len(drafts)
                    and j - i < MAX_BATCH_ALARMS
                    and drafts[j].group == d.group
                    and drafts[j].arrival_ms == d.arrival_ms
                ):
                    j += 1
                yield self._batch(drafts[i:j])
                i = j
                continue
            yield self._single(d)
            i += 1

    # -- ids and JSON ----------------------------------------------------------------------
    def _iso(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self.tz).isoformat(timespec="seconds")

    def _daily(self, source: str, ms: int) -> tuple[str, int]:
        day = datetime.fromtimestamp(ms / 1000, self.tz).strftime("%Y%m%d")
        n = self.daily.get((source, day), 0) + 1
        self.daily[(source, day)] = n
        return day, n

    def _alarm(self, d: Draft) -> tuple[str, dict[str, Any]]:
        dev = d.fields["device"]
        self.alarm_no[dev.gateway] += 1
        alarm_id = f"GW{dev.gateway + 1:02d}-{self.alarm_no[dev.gateway]:07d}"
        return alarm_id, {
            "alarm_id": alarm_id,
            "device_id": dev.device_id,
            "device_type": dev.device_type,
            "alarm_type": d.fields["alarm_type"],
            "lat": dev.lat,
            "lon": dev.lon,
            "ts": d.event_ms,
            "readings": d.fields["readings"],
        }

    def _hotline(self, d: Draft) -> tuple[str, dict[str, Any]]:
        day, n = self._daily("hotline", d.arrival_ms)
        ref = f"HL{day}-{n:06d}"
        f = d.fields
        obj: dict[str, Any] = {
            "service_request_id": ref,
            "status": "open",
            "service_code": f["service_code"],
            "service_name": self.catalog.service_names[f["service_code"]],
            "description": f["description"],
            "requested_datetime": self._iso(d.event_ms),
        }
        if f["address"] is not None:
            obj["address"] = f["address"]
        if f["lat"] is not None:
            obj["lat"], obj["long"] = f["lat"], f["long"]
        obj["agency_responsible"] = AGENCY
        if n % 5 == 0:  # some callers send a photo through the WeChat channel
            obj["media_url"] = f"https://hotline.qibin.example/media/{ref}.jpg"
        return ref, obj

    def _patrol(self, d: Draft) -> tuple[str, dict[str, Any]]:
        day, n = self._daily("patrol", d.arrival_ms)
        ref = f"P{day}-{n:04d}"
        f = d.fields
        who = f["inspector"]
        photos = [
            f"p/{day[:4]}/{day[4:6]}/{day[6:]}/{n:04d}-{k}.jpg" for k in range(1, f["photos"] + 1)
        ]
        return ref, {
            "report_id": ref,
            "inspector_id": who.inspector_id,
            "department": who.department,
            "category": f["category"],
            "lat": f["lat"],
            "lon": f["lon"],
            "crs": who.crs,
            "ts": self._iso(d.event_ms),
            "fixed_on_spot": f["fixed"],
            "note": f["note"],
            "photos": photos,
        }

    # -- records ---------------------------------------------------------------------------
    def _truth(
        self, source: str, ref: str, d: Draft, reason: str = "", detail: str = ""
    ) -> TruthRow:
        return TruthRow(source, self.seq[source], ref, d.incident_id, reason, detail, d.arrival_ms)

    def _finish(self, record: SimRecord) -> SimRecord:
        self.seq[record.source] += 1
        if not record.truth[0].expected_reason:
            self.recent[record.source].append(record)
        return record

    def _batch(self, drafts: list[Draft]) -> SimRecord:
        self.owed["sensor"] += self.bad_share
        alarms, truth = [], []
        for d in drafts:
            ref, obj = self._alarm(d)
            alarms.append(obj)
            truth.append(self._truth("sensor", ref, d))
        gateway = f"GW{drafts[0].group:02d}"
        value = orjson.dumps({"gateway_id": gateway, "alarms": alarms})
        return self._finish(
            SimRecord("sensor", gateway.encode(), value, drafts[0].arrival_ms, tuple(truth))
        )

    def _single(self, d: Draft) -> SimRecord:
        source = d.source
        if source == "sensor":
            ref, obj = self._alarm(d)
            key = obj["device_id"]
        else:
            ref, obj = self._hotline(d) if source == "hotline" else self._patrol(d)
            key = ref
        self.owed[source] += self.bad_share
        if self.owed[source] > 0 and self.rng.random() < min(1.0, self.owed[source]):
            self.owed[source] -= 1.0
            return self._finish(self._bad(source, key, ref, obj, d))
        truth = (self._truth(source, ref, d),)
        return self._finish(SimRecord(source, key.encode(), orjson.dumps(obj), d.arrival_ms, truth))

    def _next_kind(self, source: str) -> Reason:
        cycle = self.kind_cycle[source]
        if not cycle:  # a fresh shuffled round: every kind appears once per round
            own, common = list(SOURCE_KINDS[source]), list(COMMON_KINDS)
            self.rng.shuffle(own)
            self.rng.shuffle(common)
            # The source's own kinds come first so that even a short run shows them.
            cycle.extend(reversed(own + common))
        return cycle.pop()

    def _bad(self, source: str, key: str, ref: str, obj: dict[str, Any], d: Draft) -> SimRecord:
        kind = self._next_kind(source)
        if kind is Reason.DUPLICATE_SOURCE_ID and self.recent[source]:
            old = self.rng.choice(self.recent[source])
            first = old.truth[0]
            truth = tuple(
                TruthRow(
                    source,
                    self.seq[source],
                    t.source_ref,
                    t.incident_id,
                    kind.value,
                    f"re-send of {source} record #{first.source_seq}",
                    d.arrival_ms,
                )
                for t in old.truth
            )
            return SimRecord(source, old.key, old.value, d.arrival_ms, truth)
        if kind is Reason.DUPLICATE_SOURCE_ID:  # nothing to re-send yet
            kind = Reason.EMPTY_PAYLOAD
        value, detail = corrupt(kind, source, obj, self.rng, self.max_payload)
        truth = (self._truth(source, ref, d, kind.value, detail),)
        return SimRecord(source, key.encode(), value, d.arrival_ms, truth)
