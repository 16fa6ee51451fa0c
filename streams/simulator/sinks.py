"""Where simulated records go: ``.rec`` files plus truth CSVs, and/or the Kafka raw topics.

The side files (``truth.csv``, ``incidents.csv``, ``patrols.csv``, ``manifest.json``) are
for the quality checks and never reach the pipeline.
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

from streams.settings import Settings
from streams.simulator.framing import MAGIC, write_framed
from streams.simulator.incidents import Incident
from streams.simulator.patrols import Patrol
from streams.simulator.records import SOURCES, TRUTH_COLUMNS, SimRecord

__all__ = ["FileSink", "KafkaSink", "Progress", "RateLimiter", "write_side_files"]

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


class FileSink:
    """``raw.<source>.rec`` per source (unless ``raw=False``) and ``truth.csv``."""

    def __init__(self, out: Path, raw: bool = True) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.files: dict[str, IO[bytes]] = {}
        if raw:
            for source in SOURCES:
                fh = open(out / f"raw.{source}.rec", "wb")  # noqa: SIM115 - closed in close()
                fh.write(MAGIC)
                self.files[source] = fh
        self.truth_fh = open(out / "truth.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.truth = csv.writer(self.truth_fh, lineterminator="\n")
        self.truth.writerow(TRUTH_COLUMNS)

    def write(self, rec: SimRecord) -> None:
        fh = self.files.get(rec.source)
        if fh is not None:
            write_framed(fh, rec.key, rec.value, rec.arrival_ms)
        self.truth.writerows(t.as_row() for t in rec.truth)

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.truth_fh.close()


class KafkaSink:
    """Produces to ``settings.kafka.topic("raw.<source>")`` keyed as docs/contracts.md says.

    The Kafka timestamp is the simulated arrival time, so the normalizer can judge
    future/stale event times against when the record arrived, also in a replay.
    """

    def __init__(self, settings: Settings, linger_ms: int = 20) -> None:
        from kafka import KafkaProducer  # imported here: only this sink needs the client

        self.topics = {s: settings.kafka.topic(f"raw.{s}") for s in SOURCES}
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka.bootstrap_servers,
            acks="all",
            linger_ms=linger_ms,
            batch_size=512 * 1024,
            max_request_size=max(2 * 1024 * 1024, 4 * settings.pipeline.max_payload_bytes),
            client_id="citystream-simulator",
        )

    def write(self, rec: SimRecord) -> None:
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
    ) -> None:
        self.label, self.start_ms, self.span = label, start_ms, max(1, end_ms - start_ms)
        self.tz, self.limit, self.stream = ZoneInfo(tz), limit, stream
        self.tty = stream.isatty()
        self.every = every_s if self.tty else 5.0
        self.t0 = self.last = time.monotonic()
        self.n = self.bad = 0

    def update(self, rec: SimRecord) -> None:
        self.n += 1
        self.bad += rec.truth[0].expected_reason != ""
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


def write_side_files(
    out: Path,
    incidents: list[Incident],
    patrols: list[Patrol],
    grid_of: Any,
    street_names: list[str],
    manifest: dict[str, Any],
) -> None:
    """``incidents.csv``, ``patrols.csv`` and ``manifest.json`` of a run."""
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
