"""The normalizer's watermark frames: while the idle timer marks partitions concurrently,
and the heartbeat of a live raw partition that is caught up."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from faust.types import TP

from streams.app.faust_internals import BulkChannel, RawBatch
from streams.app.normalize_agent import _add_heartbeat, _Progress, _send_watermarks
from streams.contracts.watermarks import WatermarkFrame, decode_watermark
from streams.settings import Settings


class _Fused:
    """A fused topic whose first send lets the idle timer run (it adds a partition)."""

    def __init__(self, progress: _Progress) -> None:
        self.progress = progress
        self.sent: list[tuple[bytes, int]] = []

    async def send(self, *, key: bytes, value: bytes, partition: int, force: bool) -> Any:
        if not self.sent:
            self.progress.mark.setdefault(5, -1)  # what idle_check does while we await
        self.sent.append((value, partition))


async def test_a_partition_marked_during_the_sends_does_not_break_them(
    settings: Settings,
) -> None:
    s = settings.replace(partitions=2)
    progress = _Progress()
    progress.saw(0, 1_000)
    progress.saw(1, 2_000)
    fused = _Fused(progress)
    await _send_watermarks(s, "raw.sensor", fused, progress, idle=set())
    frames = [(decode_watermark(v), target) for v, target in fused.sent]
    # the marks as they were when the sends began, each to every fused partition
    assert sorted((f.partition, f.watermark_ms, t) for f, t in frames) == [
        (0, 1_000, 0), (0, 1_000, 1), (1, 2_000, 0), (1, 2_000, 1),
    ]  # fmt: skip
    assert progress.mark == {0: 1_000, 1: 2_000, 5: -1}  # the next round reports it


# -- the heartbeat of a live, caught-up raw partition (normalize_agent._add_heartbeat) ----

TOPIC = "raw.hotline"
POLLED_MS = 1_700_000_000_000


class _PollingConsumer:
    """The consumer state the heartbeat reads: assignment, high water, read offsets, and
    when the last fetch response came (aiokafka's last_poll_timestamp)."""

    def __init__(self, read: int | None, highwater: int) -> None:
        self.tp = TP(TOPIC, 0)
        self._read_offset = {self.tp: read}
        self._committed_offset = {self.tp: None}
        self._highwater = highwater
        self._thread = self  # the consumer thread's aiokafka consumer: this object too

    def assignment(self) -> set[TP]:
        return {self.tp}

    def highwater(self, tp: TP) -> int:
        return self._highwater

    def _ensure_consumer(self) -> _PollingConsumer:
        return self

    def last_poll_timestamp(self, tp: TP) -> int:
        return POLLED_MS


class _TimerApp:
    """What the heartbeat registers on: the app's consumer and its timers."""

    def __init__(self, consumer: _PollingConsumer) -> None:
        self.consumer = consumer
        self.timers: list[tuple[float, Any]] = []

    def timer(self, interval: float, name: str) -> Any:
        def register(fn: Any) -> Any:
            self.timers.append((interval, fn))
            return fn

        return register


class _Frames:
    def __init__(self) -> None:
        self.sent: list[tuple[WatermarkFrame, int]] = []

    async def send(self, *, key: bytes, value: bytes, partition: int, force: bool) -> None:
        self.sent.append((decode_watermark(value), partition))


def _heartbeat(
    settings: Settings, consumer: _PollingConsumer, progress: _Progress
) -> tuple[_TimerApp, BulkChannel, _Frames]:
    app, fused = _TimerApp(consumer), _Frames()
    channel = BulkChannel(cast(Any, app), TOPIC, 10, 2)
    _add_heartbeat(app, settings, channel, fused, progress)
    return app, channel, fused


def _live(arrival_ms: int = POLLED_MS - 5_000) -> _Progress:
    progress = _Progress()
    progress.saw(0, arrival_ms, now_ms=arrival_ms + 20)  # handled 20 ms after its stamp
    return progress


async def test_a_live_caught_up_partition_moves_its_mark_to_the_poll_minus_the_skew(
    settings: Settings,
) -> None:
    s = settings.replace(partitions=2, live_source_skew_ms=100, idle_source_ms=60_000)
    progress = _live()
    app, _, fused = _heartbeat(s, _PollingConsumer(read=41, highwater=42), progress)
    [(period, beat)] = app.timers
    assert period <= 0.05
    await beat()
    assert sorted((f.partition, f.watermark_ms, f.idle, t) for f, t in fused.sent) == [
        (0, POLLED_MS - 100, False, 0), (0, POLLED_MS - 100, False, 1),
    ]  # fmt: skip
    assert progress.mark[0] == POLLED_MS - 100  # later batches' frames carry it on
    await beat()  # nothing new: no frame again
    assert len(fused.sent) == 2


@pytest.mark.parametrize(
    ("why", "read", "arrival_ms", "handled_after_ms", "batch_waiting"),
    [
        ("not read to its end", 40, POLLED_MS - 5_000, 20, False),
        ("a batch read but not handled", 41, POLLED_MS - 5_000, 20, True),
        ("a replay: stamped long before it was handled", 41, POLLED_MS - 5_000, 60_000, False),
        ("the mark is already past the poll", 41, POLLED_MS, 20, False),
    ],
)
async def test_no_heartbeat(
    settings: Settings,
    why: str,
    read: int,
    arrival_ms: int,
    handled_after_ms: int,
    batch_waiting: bool,
) -> None:
    s = settings.replace(live_source_skew_ms=100, idle_source_ms=60_000)
    progress = _Progress()
    progress.saw(0, arrival_ms, now_ms=arrival_ms + handled_after_ms)
    app, channel, fused = _heartbeat(s, _PollingConsumer(read=read, highwater=42), progress)
    if batch_waiting:
        await channel.put(RawBatch(TP(TOPIC, 0), 1, 41, [41], [arrival_ms], [b""], [None]))
    await app.timers[0][1]()
    assert fused.sent == [], why
    assert progress.mark[0] == arrival_ms


async def test_a_quiet_partition_is_left_to_the_idle_timer(settings: Settings) -> None:
    s = settings.replace(live_source_skew_ms=100, idle_source_ms=1)
    progress = _live()
    app, _, fused = _heartbeat(s, _PollingConsumer(read=41, highwater=42), progress)
    await asyncio.sleep(0.01)  # quiet for longer than idle_source_ms
    await app.timers[0][1]()
    assert fused.sent == []


def test_no_heartbeat_when_the_skew_is_zero(settings: Settings) -> None:
    s = settings.replace(live_source_skew_ms=0)
    app, _, _ = _heartbeat(s, _PollingConsumer(read=41, highwater=42), _live())
    assert app.timers == []
