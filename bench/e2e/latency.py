"""Arrival-to-dispatch latency: raw records at a steady rate, cases timed to their order.

The simulated day is re-timed to yesterday (``Simulation(start=...)``) so its event times
lie in the past day, and each raw record is sent with the wall clock as its Kafka
timestamp: its arrival at the centre, which the normalizer stores as the event's
``ingest_time_ms``. A case's latency is the Kafka timestamp of its dispatch order (the
worker's wall clock when it sent it) minus the ``ingest_time_ms`` of the event that
opened it (carried by the ``cases`` message). Cases closed on the spot by a patrol are
not dispatched and not counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import orjson

from streams.contracts.columnar import decode_columns
from streams.contracts.fused import FLAG_FIXED_ON_SPOT, Source
from streams.contracts.topics import CASES, DISPATCH, RAW_TOPICS
from streams.settings import Settings
from streams.simulator import SimRecord

__all__ = ["LatencyResult", "collect_latencies", "paced_send", "yesterday"]


def yesterday(settings: Settings) -> date:
    """Yesterday in the district's time zone: the simulated day then lies in the past."""
    return datetime.now(ZoneInfo(settings.calendar.timezone)).date() - timedelta(days=1)


async def _paced(settings: Settings, records: Sequence[SimRecord], rate: float) -> float:
    from aiokafka import AIOKafkaProducer

    topics = {s: settings.kafka.topic(t) for s, t in RAW_TOPICS.items()}
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka.bootstrap_servers, acks="all", linger_ms=2
    )
    await producer.start()
    try:
        started = time.monotonic()
        sent = 0
        while sent < len(records):
            due = min(len(records), int((time.monotonic() - started) * rate) + 1)
            now_ms = int(time.time() * 1000)
            for r in records[sent:due]:
                await producer.send(topics[r.source], r.value, key=r.key, timestamp_ms=now_ms)
            sent = due
            await asyncio.sleep(0.005)
        await producer.flush()
        return time.monotonic() - started
    finally:
        await producer.stop()


def paced_send(settings: Settings, records: Sequence[SimRecord], rate: float) -> float:
    """Send ``records`` (in order) at ``rate`` records/s, stamped with the wall clock.

    Returns the seconds it took; a producer that cannot keep the rate takes longer.
    """
    return asyncio.run(_paced(settings, records, rate))


@dataclass(frozen=True)
class LatencyResult:
    latencies_ms: np.ndarray  # one per dispatched case opened in the measured window
    ingest_ms: np.ndarray  # the opening event's arrival, beside each latency
    cases: int  # cases opened in the window (dispatched or closed on the spot)
    undispatched: int  # cases that should have been dispatched but were not in time

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))

    def percentile_between(self, q: float, start_ms: int, end_ms: int) -> float | None:
        """The ``q`` percentile of the cases opened by a record arriving in [start, end)."""
        mine = self.latencies_ms[(self.ingest_ms >= start_ms) & (self.ingest_ms < end_ms)]
        return float(np.percentile(mine, q)) if len(mine) else None

    @property
    def max_ms(self) -> float:
        return float(self.latencies_ms.max())


async def _collect(
    settings: Settings, since_ms: int, quiet_s: float, timeout_s: float, alive: Callable[[], bool]
) -> LatencyResult:
    from aiokafka import AIOKafkaConsumer

    cases_topic, dispatch_topic = settings.kafka.topic(CASES), settings.kafka.topic(DISPATCH)
    consumer = AIOKafkaConsumer(
        cases_topic,
        dispatch_topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    opened: dict[int, tuple[int, bool]] = {}  # case id -> (ingest ms, to be dispatched)
    dispatched: dict[int, int] = {}  # case id -> dispatch timestamp
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline and time.monotonic() - last_new < quiet_s:
            if not alive():
                raise RuntimeError("the worker died while the latency run drained")
            batches = await consumer.getmany(timeout_ms=200)
            for tp, recs in batches.items():
                last_new = time.monotonic()
                for r in recs:
                    if tp.topic == dispatch_topic:
                        dispatched[int(orjson.loads(r.value)["case_id"])] = r.timestamp
                        continue
                    _, _, c = decode_columns(r.value, "cases")
                    for cid, ingest, flags, source in zip(
                        c["case_id"], c["ingest_time_ms"], c["flags"], c["source"], strict=True
                    ):
                        on_spot = bool(flags & FLAG_FIXED_ON_SPOT) and source == Source.PATROL
                        opened[int(cid)] = (int(ingest), not on_spot)
    finally:
        await consumer.stop()
    window = {cid: ing for cid, (ing, todo) in opened.items() if todo and ing >= since_ms}
    done = [(dispatched[cid] - ing, ing) for cid, ing in window.items() if cid in dispatched]
    lat = np.asarray([d for d, _ in done], dtype=np.float64)
    ingest = np.asarray([i for _, i in done], dtype=np.int64)
    n_window = sum(1 for ing, _ in opened.values() if ing >= since_ms)
    return LatencyResult(lat, ingest, n_window, len(window) - len(done))


def collect_latencies(
    settings: Settings,
    since_ms: int,
    *,
    quiet_s: float,
    timeout_s: float,
    alive: Callable[[], bool],
) -> LatencyResult:
    """Read ``cases`` and ``dispatch`` until nothing new came for ``quiet_s``."""
    return asyncio.run(_collect(settings, since_ms, quiet_s, timeout_s, alive))
