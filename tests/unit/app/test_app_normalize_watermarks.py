"""The normalizer's watermark frames while the idle timer marks partitions concurrently."""

from __future__ import annotations

from typing import Any

from streams.app.normalize_agent import _Progress, _send_watermarks
from streams.contracts.watermarks import decode_watermark
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
