"""Where simulated records go: ``.rec`` files plus truth CSVs, and/or the Kafka raw topics.

The side files (``truth.csv``, ``track_truth.csv``, ``incidents.csv``, ``patrols.csv``,
``patrol_truth.csv``, ``manifest.json``) are for the quality checks and never reach the
pipeline.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TextIO
from zoneinfo import ZoneInfo

from streams.contracts.topics import RAW_FEEDS, RAW_TOPICS
from streams.settings import Settings
from streams.simulator.framing import MAGIC, write_framed
from streams.simulator.incidents import Incident
from streams.simulator.patrols import Patrol
from streams.simulator.records import (
    PING_TRUTH_COLUMNS,
    SOURCES,
    TRACK_FEED,
    TRUTH_COLUMNS,
    SimRecord,
    TrackRecord,
)
from streams.simulator.roster_file import LEVEL_OF_ROLE

__all__ = [
    "FileSink",
    "KafkaSink",
    "Progress",
    "RateLimiter",
    "write_patrol_truth",
    "write_side_files",
]

INCIDENT_COLUMNS = (
    "incident_id",
    "category",
    "lat",
    "lon",
    "street",
    "grid_code",
    "start_ms",
    "end_ms",
    "fixed_by",
    "device_ids",
    "recurrence_of",
)
PATROL_COLUMNS = (
    "patrol_id",
    "inspector_id",
    "role",
    "department",
    "date",
    "shift",
    "start_ms",
    "end_ms",
    "streets",
    "length_m",
)
PATROL_TRUTH_COLUMNS = (
    "patrol_id",
    "inspector_id",
    "level",
    "department",
    "date",
    "shift",
    "walked",
    "shirker",
    "start_ms",
    "end_ms",
    "streets",
    "length_m",
)


class FileSink:
    """``raw.<source>.rec`` per source (unless ``raw=False``) and ``truth.csv``; with
    ``tracks``, also ``raw.patrol_track.rec`` and ``track_truth.csv`` (one row per ping)."""

    def __init__(self, out: Path, raw: bool = True, tracks: bool = False) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.files: dict[str, IO[bytes]] = {}
        if raw:
            for source in (*SOURCES, TRACK_FEED) if tracks else SOURCES:
                fh = open(out / f"raw.{source}.rec", "wb")  # noqa: SIM115 - closed in close()
                fh.write(MAGIC)
                self.files[source] = fh
        self.truth_fh, self.truth = _truth_file(out / "truth.csv", TRUTH_COLUMNS)
        self.ping_fh: TextIO | None = None
        self.pings: Any = None
        if tracks:
            self.ping_fh, self.pings = _truth_file(out / "track_truth.csv", PING_TRUTH_COLUMNS)

    def write(self, rec: SimRecord | TrackRecord) -> None:
        fh = self.files.get(rec.source)
        if fh is not None:
            write_framed(fh, rec.key, rec.value, rec.arrival_ms)
        if isinstance(rec, SimRecord):
            self.truth.writerows(t.as_row() for t in rec.truth)
        elif self.pings is not None:
            self.pings.writerows(t.as_row() for t in rec.truth)
        else:
            raise ValueError("a track batch for a FileSink made without tracks=True")

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.truth_fh.close()
        if self.ping_fh is not None:
            self.ping_fh.close()


def _truth_file(path: Path, columns: tuple[str, ...]) -> tuple[TextIO, Any]:
    fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - the sink closes it
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(columns)
    return fh, writer


class KafkaSink:
    """Produces to ``settings.kafka.topic("raw.<source>")`` keyed as docs/contracts.md says.

    The Kafka timestamp is the simulated arrival time, so the normalizer can judge
    future/stale event times against when the record arrived, also in a replay.
    """

    def __init__(self, settings: Settings, linger_ms: int = 20) -> None:
        from kafka import KafkaProducer  # imported here: only this sink needs the client

        self.topics = {s: settings.kafka.topic(t) for s, t in {**RAW_TOPICS, **RAW_FEEDS}.items()}
        self.producer = KafkaProducer(
            **settings.kafka.client_options(),
            acks="all",
            linger_ms=linger_ms,
            batch_size=512 * 1024,
            max_request_size=max(2 * 1024 * 1024, 4 * settings.pipeline.max_payload_bytes),
            client_id="citystream-simulator",
        )

    def write(self, rec: SimRecord | TrackRecord) -> None:
        self.producer.send(
            self.topics[rec.source], key=rec.key, value=rec.value, timestamp_ms=rec.arrival_ms
        )

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()


class RateLimiter:
    """Paces writes to ``rate`` records per second (0 = as fast as possible)."""

    def __init__(self, rate: float) -> None:
        self.rate, self.t0, self.n = rate, time.monotonic(), 0

    def tick(self) -> None:
        self.n += 1
        if self.rate <= 0:
            return
        ahead = self.t0 + self.n / self.rate - time.monotonic()
        if ahead > 0.005:  # sleep in chunks: per-record sleeps would cost more than they pace
            time.sleep(ahead)


class Progress:
    """A compact progress line on stderr: records, rate, simulated clock, ETA."""

    def __init__(
        self,
        label: str,
        start_ms: int,
        end_ms: int,
        tz: str,
        limit: int | None = None,
        stream: TextIO = sys.stderr,
        every_s: float = 0.5,
        quiet: bool = False,
    ) -> None:
        self.label, self.start_ms, self.span = label, start_ms, max(1, end_ms - start_ms)
        self.tz, self.limit, self.stream = ZoneInfo(tz), limit, stream
        self.quiet = quiet  # count, but show nothing
        self.tty = stream.isatty() and not quiet
        self.every = every_s if self.tty else 5.0
        self.t0 = self.last = time.monotonic()
        self.n = self.bad = 0

    def update(self, rec: SimRecord | TrackRecord) -> None:
        self.n += 1
        self.bad += any(t.expected_reason for t in rec.truth)
        if self.quiet:
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._show(rec.arrival_ms, now)

    def _show(self, arrival_ms: int, now: float) -> None:
        frac = min(1.0, max(0.0, (arrival_ms - self.start_ms) / self.span))
        if self.limit:
            frac = max(frac, self.n / self.limit)
        elapsed = now - self.t0
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        clock = datetime.fromtimestamp(arrival_ms / 1000, self.tz).strftime("%m-%d %H:%M")
        line = (
            f"{self.label}: {self.n:,} rec  {self.n / max(elapsed, 1e-9):,.0f} rec/s  "
            f"sim {clock} ({frac:.0%})  bad {self.bad:,}  ETA {eta:,.0f}s"
        )
        self.stream.write(("\r" + line + "   ") if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> float:
        elapsed = time.monotonic() - self.t0
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()
        return elapsed


def _csv(path: Path, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def write_patrol_truth(
    out: Path, planned: list[Patrol], shirkers: frozenset[str], street_names: list[str]
) -> None:
    """``patrol_truth.csv``: every planned patrol, walked or skipped, and whether its
    inspector is one the simulator made miss the patrol rule."""
    _csv(
        out / "patrol_truth.csv",
        PATROL_TRUTH_COLUMNS,
        (
            (
                p.patrol_id,
                p.inspector.inspector_id,
                LEVEL_OF_ROLE[p.inspector.role],
                p.inspector.department,
                p.day.isoformat(),
                p.shift,
                int(p.walked),
                int(p.inspector.inspector_id in shirkers),
                p.start_ms,
                p.end_ms,
                " ".join(street_names[leg.street] for leg in p.legs),
                round(p.length_m),
            )
            for p in sorted(planned, key=lambda p: p.patrol_id)  # PT<date>-<n>: by day
        ),
    )


def write_side_files(
    out: Path,
    incidents: list[Incident],
    patrols: list[Patrol],
    grid_of: Any,
    street_names: list[str],
    manifest: dict[str, Any],
) -> None:
    """``incidents.csv``, ``patrols.csv`` (the patrols walked) and ``manifest.json``."""
    _csv(
        out / "incidents.csv",
        INCIDENT_COLUMNS,
        (
            (
                i.incident_id,
                i.key,
                f"{i.lat:.6f}",
                f"{i.lon:.6f}",
                street_names[i.street],
                grid_of(i.lat, i.lon),
                i.start_ms,
                i.end_ms,
                i.fixed_by,
                " ".join(d.device_id for d, _ in i.devices),
                i.recurrence_of,
            )
            for i in sorted(incidents, key=lambda inc: inc.incident_id)
        ),
    )
    _csv(
        out / "patrols.csv",
        PATROL_COLUMNS,
        (
            (
                p.patrol_id,
                p.inspector.inspector_id,
                p.inspector.role,
                p.inspector.department,
                p.day.isoformat(),
                p.shift,
                p.start_ms,
                p.end_ms,
                " ".join(street_names[leg.street] for leg in p.legs),
                round(p.length_m),
            )
            for p in patrols
        ),
    )
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
