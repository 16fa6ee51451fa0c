"""Closure frames: cases the lifecycle closed or voided, sent on ``events.fused`` to the
tiles that hold them.

Dedup keeps open cases in per-tile kernel state (streams/dedup). When the centre closes a
case (核查结案) or voids it, the lifecycle sends one frame to every tile the case's opening
event was routed to (its home tile and the halos it falls in), so that tile's state
stops attaching reports to it and counts a report soon after as a recurrence. The frame
says when: ``closed_ms`` is both the time the kernel closes the case at and the frame's
place among the events (docs/lateness.md, "Closures"). Other readers of ``events.fused``
skip closure frames (:func:`is_closure_frame`), as they skip watermark frames.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CLOSURE_MAGIC",
    "Closure",
    "decode_closures",
    "encode_closures",
    "is_closure_frame",
]

CLOSURE_MAGIC = b"CSCL"
_HEAD = struct.Struct("<4sHHI")  # magic, version, reserved, closures
_ROW = struct.Struct("<Qq?7x")  # case id, closed at (ms), voided, padding
_VERSION = 1


@dataclass(frozen=True, order=True)
class Closure:
    """One case leaving the open state: closed (or voided) at ``closed_ms``."""

    closed_ms: int
    case_id: int
    voided: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.case_id < 2**64:
            raise ValueError(f"closure of case {self.case_id}: a case id is in [1, 2**64)")
        if self.closed_ms < 0:
            raise ValueError(f"closure of case {self.case_id}: negative time {self.closed_ms}")


def encode_closures(closures: list[Closure]) -> bytes:
    head = _HEAD.pack(CLOSURE_MAGIC, _VERSION, 0, len(closures))
    return head + b"".join(_ROW.pack(c.case_id, c.closed_ms, c.voided) for c in closures)


def is_closure_frame(data: bytes) -> bool:
    return data[:4] == CLOSURE_MAGIC


def decode_closures(data: bytes) -> list[Closure]:
    if len(data) < _HEAD.size or data[:4] != CLOSURE_MAGIC:
        raise ValueError(f"not a closure frame ({len(data)} bytes)")
    _, version, _, count = _HEAD.unpack_from(data)
    if version != _VERSION:
        raise ValueError(f"closure frame version {version} is not {_VERSION}")
    if len(data) != _HEAD.size + count * _ROW.size:
        raise ValueError(f"closure frame of {len(data)} bytes does not hold {count} closures")
    rows = (_ROW.unpack_from(data, _HEAD.size + i * _ROW.size) for i in range(count))
    return [Closure(closed_ms, case_id, voided) for case_id, closed_ms, voided in rows]
