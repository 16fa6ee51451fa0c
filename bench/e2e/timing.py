"""One timed pass through a worker: send the input, wait for every output row.

The clock starts when the first input message is handed to the producer and stops at the
producer timestamp of the last output record (the worker's wall clock when it sent it),
so polling here adds nothing. The input is sent concurrently, as the stage upstream would;
its own duration is reported beside (it must stay well below the pass, or the pass
measures the producer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench.e2e.kafka_io import Message, OutputTail, produce_async
from streams.settings import Settings

__all__ = ["Timing", "timed_pass"]


@dataclass(frozen=True)
class Timing:
    events: int  # input events of the pass
    rows: int  # output rows of the pass (links + dead letters)
    seconds: float  # first input sent -> last output sent
    produce_seconds: float  # sending the input alone

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds


def timed_pass(
    settings: Settings,
    topic: str,
    messages: Sequence[Message],
    counters: Mapping[str, Callable[[bytes], int]],
    *,
    events: int,
    rows_before: int,
    rows_expected: int,
    timeout_s: float,
    alive: Callable[[], bool],
) -> Timing:
    """Send ``messages`` to ``topic`` and wait until the output topics (``counters``) hold
    ``rows_before + rows_expected`` rows; ``events`` is what the pass is credited with."""
    tail = OutputTail(settings, counters)

    async def run() -> tuple[float, float]:
        start_ms = time.time() * 1000
        producing = asyncio.create_task(produce_async(settings, topic, messages))
        try:
            await tail.run(rows_before + rows_expected, timeout_s, alive)
        finally:
            produce_s = await producing
        return start_ms, produce_s

    start_ms, produce_s = asyncio.run(run())
    if tail.last_ms is None:
        raise RuntimeError("no output record seen")
    rows = tail.total - rows_before
    if rows != rows_expected:
        raise AssertionError(f"{rows} output rows, expected {rows_expected} (one per event)")
    return Timing(events, rows, (tail.last_ms - start_ms) / 1000, produce_s)
