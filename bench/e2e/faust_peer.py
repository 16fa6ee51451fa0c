"""The peer of the fused dedup path: an idiomatic per-event Faust agent.

How a Faust application would usually be written for this job: one JSON message per
event, an agent ``async for event in stream`` that keeps the open cases in a Python dict
grid (cell -> list of cases) and a dict of cases by device, and one JSON link sent per
event. The matching follows the kernel's rules closely enough to do the same work: the
lateness check, the same device first, then the nearest live compatible case within the
case category's radius and time window (``streams.dedup.engine.build_params``); no
recurrences or closures (the benchmark feeds neither). Open cases older than their window
are dropped from the grid now and then, as a long-running agent must.

Run as a worker: ``python -m bench.e2e.faust_peer`` with the ``CITYSTREAM_*`` settings in
the environment (topic prefix, app id, web port); :class:`PeerProcess` does that.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kernels.grid import GridSpec
from kernels.params import DedupParams
from streams.contracts.fused import FusedBatch
from streams.runner import ChildProcess
from streams.settings import Settings

__all__ = [
    "MODULE",
    "PEER_EVENTS",
    "PEER_LINKS",
    "GridDedup",
    "MatchRules",
    "PeerProcess",
    "build_app",
    "event_message",
    "link_value",
    "main",
    "peer_events",
    "reference_links",
]

PEER_EVENTS = "bench.peer.events"  # logical topic names (KafkaSettings.topic adds the prefix)
PEER_LINKS = "bench.peer.links"
MODULE = "bench.e2e.faust_peer"
_SWEEP_EVERY = 10_000  # events between sweeps of expired cases


class _Case:
    __slots__ = ("case_id", "category", "device", "last_t", "x", "y")

    def __init__(self, case_id: int, category: int, x: float, y: float, t: int, device: int):
        self.case_id, self.category, self.x, self.y = case_id, category, x, y
        self.last_t, self.device = t, device


@dataclass(frozen=True)
class MatchRules:
    """The kernel's per-category rules as Python lists, for the per-event peers.

    ``cell``: the side of a grid cell, the largest search radius, so that a match is always
    in an event's own cell or one of its eight neighbours.
    """

    spec: GridSpec
    cell: float
    radius: list[float]
    window: list[int]
    lateness: list[int]
    compat: list[list[bool]]

    @classmethod
    def of(cls, params: DedupParams, spec: GridSpec) -> MatchRules:
        return cls(
            spec,
            float(max(params.search_radius_m.max(), 1.0)),
            params.radius_m.tolist(),
            params.window_ms.tolist(),
            params.lateness_ms.tolist(),
            params.compat.tolist(),
        )

    def project(self, event: dict[str, Any]) -> tuple[float, float]:
        """The event's position in metres on the engine's grid."""
        x = (event["lon"] - self.spec.origin_lon) * self.spec.kx
        y = (event["lat"] - self.spec.origin_lat) * self.spec.ky
        return x, y

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        return math.floor(x / self.cell), math.floor(y / self.cell)


@dataclass
class GridDedup:
    """Per-event matching over a dict grid of open cases (pure Python)."""

    params: DedupParams
    spec: GridSpec
    grid: dict[tuple[int, int], list[_Case]] = field(default_factory=dict)
    by_device: dict[int, list[_Case]] = field(default_factory=dict)
    max_t: int | None = None
    seen: int = 0

    def __post_init__(self) -> None:
        self.rules = rules = MatchRules.of(self.params, self.spec)
        self.radius, self.window = rules.radius, rules.window
        self.lateness, self.compat = rules.lateness, rules.compat

    def process(self, event: dict[str, Any]) -> tuple[int, bool] | None:
        """``(case id, opened)`` for one event, or None when it is beyond the lateness."""
        cat, t, dev = event["category"], event["event_time_ms"], event["device_hash"]
        if self.max_t is not None and t < self.max_t - self.lateness[cat]:
            return None
        self.max_t = t if self.max_t is None else max(self.max_t, t)
        self.seen += 1
        if self.seen % _SWEEP_EVERY == 0:
            self._sweep()
        x, y = self.rules.project(event)
        if self.radius[cat] <= 0:
            return event["event_id"], True
        best = self._nearest(self.by_device.get(dev, ()) if dev else (), cat, x, y, t, True)
        if best is None:
            cx, cy = self.rules.cell_of(x, y)
            near = [
                case
                for dx in (-1, 0, 1)
                for dy in (-1, 0, 1)
                for case in self.grid.get((cx + dx, cy + dy), ())
            ]
            best = self._nearest(near, cat, x, y, t, False)
        if best is not None:
            best.last_t = max(best.last_t, t)
            return best.case_id, False
        case = _Case(event["event_id"], cat, x, y, t, dev)
        cell = self.rules.cell_of(x, y)
        self.grid.setdefault(cell, []).append(case)
        if dev:
            self.by_device.setdefault(dev, []).append(case)
        return case.case_id, True

    def _nearest(
        self, cases: Any, cat: int, x: float, y: float, t: int, same_device: bool
    ) -> _Case | None:
        best: _Case | None = None
        best_d = math.inf
        for case in cases:
            c = case.category
            if not self.compat[cat][c] or abs(t - case.last_t) > self.window[c]:
                continue
            d = math.hypot(case.x - x, case.y - y)
            if (same_device or d <= self.radius[c]) and d < best_d:
                best, best_d = case, d
        return best

    def _sweep(self) -> None:
        """Forget cases no event can join any more."""
        assert self.max_t is not None
        horizon = self.max_t - max(self.lateness, default=0)
        self._prune(self.grid, horizon)
        self._prune(self.by_device, horizon)

    def _prune(self, index: dict[Any, list[_Case]], horizon: int) -> None:
        for key in list(index):
            alive = [c for c in index[key] if c.last_t + self.window[c.category] >= horizon]
            if alive:
                index[key] = alive
            else:
                del index[key]


def event_message(row: Any) -> dict[str, Any]:
    """One fused event (a row of ``FusedBatch.events``) as the peer's JSON message."""
    return {
        "event_id": int(row["event_id"]),
        "category": int(row["category"]),
        "lat": float(row["lat"]),
        "lon": float(row["lon"]),
        "event_time_ms": int(row["event_time_ms"]),
        "ingest_time_ms": int(row["ingest_time_ms"]),
        "device_hash": int(row["device_hash"]),
    }


def peer_events(events: FusedBatch, n: int) -> list[dict[str, Any]]:
    """The first ``n`` events in the dedup stage's canonical order, as the peers' messages."""
    ev = events.events
    order = np.lexsort((ev["event_id"], ev["ingest_time_ms"]))[:n]
    return [event_message(ev[i]) for i in order.tolist()]


def reference_links(
    params: DedupParams, spec: GridSpec, events: list[dict[str, Any]]
) -> dict[int, tuple[int, bool]]:
    """``event id -> (case id, opened)``: what a peer must send for ``events`` in order."""
    dedup = GridDedup(params, spec)
    links = (link_value(e["event_id"], dedup.process(e)) for e in events)
    return {link["event_id"]: (link["case_id"], link["is_new"]) for link in links}


def link_value(event_id: int, out: tuple[int, bool] | None) -> dict[str, Any]:
    """The link a per-event peer sends for an event matched as ``out``."""
    # beyond the lateness: case 0 (the subject sends a dead letter instead)
    case_id, opened = (0, False) if out is None else out
    return {"event_id": event_id, "case_id": case_id, "is_new": opened}


def build_app(settings: Settings) -> Any:
    import faust

    from streams.dedup.build import make_engine

    engine = make_engine(settings)
    app = faust.App(
        settings.worker.app_id,
        broker=f"kafka://{settings.kafka.bootstrap_servers}",
        store="memory://",
        topic_partitions=1,
        topic_replication_factor=1,
        web_port=settings.worker.web_port,
        web_bind=settings.worker.web_bind,
        web_in_thread=False,
        logging_config=None,
    )
    events = app.topic(settings.kafka.topic(PEER_EVENTS), value_serializer="json")
    links = app.topic(settings.kafka.topic(PEER_LINKS), value_serializer="json")
    dedup = GridDedup(engine.params, engine.spec)

    @app.agent(events)
    async def match(stream: Any) -> None:
        async for event in stream:
            link = link_value(event["event_id"], dedup.process(event))
            await links.send(key=str(link["case_id"]).encode(), value=link)

    return app


def main() -> None:
    import faust

    from streams.settings import load_settings

    settings = load_settings()
    app = build_app(settings)
    worker = faust.Worker(app, loglevel="WARNING", redirect_stdouts=False)
    worker.execute_from_commandline()


@dataclass
class PeerProcess(ChildProcess):
    """A peer worker as a child process (its own folder, web port and log).

    ``module``: the peer's ``python -m`` module (this one, or ``bench.e2e.quix_peer``).
    """

    settings: Settings
    workdir: Path
    module: str = MODULE
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.module.rsplit('.', 1)[-1]}.log"

    def start(self) -> PeerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.settings.as_env()}
        root = str(Path(__file__).resolve().parents[2])  # the project: bench is not installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # cwd: the peer's state (Faust's <app id>-data, quix-streams' state/) lands there
        self.spawn([sys.executable, "-m", self.module], env, cwd=self.workdir)
        return self


if __name__ == "__main__":
    main()
