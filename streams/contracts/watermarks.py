"""Watermark frames: a normalizer's progress on one raw partition, sent on ``events.fused``.

They travel beside the fused batches (every fused partition gets each frame) so the dedup
stage knows when every raw partition has passed an arrival time (streams/dedup/ordering.py);
other readers of ``events.fused`` skip them (:func:`is_watermark_frame`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "WATERMARK_MAGIC",
    "WatermarkFrame",
    "decode_watermark",
    "encode_watermark",
    "is_watermark_frame",
]

WATERMARK_MAGIC = b"CSWM"
_WM = struct.Struct("<4sH?xqH")  # magic, partition, idle, pad, watermark ms, topic length


@dataclass(frozen=True)
class WatermarkFrame:
    """A normalizer's progress on one raw partition: all arrivals <= ``watermark_ms`` sent."""

    topic: str
    partition: int
    watermark_ms: int
    idle: bool = False


def encode_watermark(frame: WatermarkFrame) -> bytes:
    topic = frame.topic.encode()
    if len(topic) > 249:  # Kafka's own limit on topic names
        raise ValueError(f"topic name too long for a watermark frame: {frame.topic!r}")
    head = _WM.pack(WATERMARK_MAGIC, frame.partition, frame.idle, frame.watermark_ms, len(topic))
    return head + topic


def is_watermark_frame(data: bytes) -> bool:
    return data[:4] == WATERMARK_MAGIC


def decode_watermark(data: bytes) -> WatermarkFrame:
    if len(data) < _WM.size or data[:4] != WATERMARK_MAGIC:
        raise ValueError(f"not a watermark frame ({len(data)} bytes)")
    _, partition, idle, mark, n = _WM.unpack_from(data)
    if len(data) != _WM.size + n:
        raise ValueError(f"watermark frame length {len(data)} does not match its topic")
    return WatermarkFrame(data[_WM.size :].decode(), partition, mark, idle)
