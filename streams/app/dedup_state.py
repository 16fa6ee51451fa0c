"""The dedup agent's state for one partition of ``events.fused``, and its changelog.

Per partition: the watermark tracker, and per tile the kernel state plus the reorder
buffer of events not yet released. After every processed chunk the agent writes the
touched tiles to the compacted ``dedup.state`` topic, into the same partition number, and
only then lets Faust commit the input offsets (Faust flushes the producer before each
commit). A worker that takes a partition over reads that partition of the changelog and
resumes exactly where the previous owner's last commit left it; events redelivered after
that are recognised by id and change nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import orjson

from streams.app.ordering import ReorderBuffer, WatermarkTracker
from streams.app.topics import read_to_end
from streams.dedup_engine import DedupEngine, TileDedup
from streams.intake.fused import decode_batch, encode_batch
from streams.settings import Settings

__all__ = ["PartitionState", "decode_tile_record", "encode_tile_record", "load_partition"]

WATERMARK_KEY = b"wm"
_TILE_PREFIX = b"tile:"
_FRAME = struct.Struct("<QQ")  # bytes of the tile snapshot, bytes of the buffer


@dataclass
class PartitionState:
    partition: int
    tracker: WatermarkTracker
    tiles: dict[int, TileDedup] = field(default_factory=dict)
    buffers: dict[int, ReorderBuffer] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)

    def tile(self, engine: DedupEngine, tile: int) -> TileDedup:
        state = self.tiles.get(tile)
        if state is None:
            state = self.tiles[tile] = engine.new_tile(tile)
        return state

    def buffer(self, tile: int) -> ReorderBuffer:
        buf = self.buffers.get(tile)
        if buf is None:
            buf = self.buffers[tile] = ReorderBuffer()
        return buf

    def buffered(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    def changelog_records(self, engine: DedupEngine) -> list[tuple[bytes, bytes]]:
        """``(key, value)`` records for every tile touched since the last call."""
        out = [(WATERMARK_KEY, orjson.dumps(self.tracker.to_state()))]
        for tile in sorted(self.dirty):
            out.append(
                (tile_key(tile), encode_tile_record(self.tile(engine, tile), self.buffer(tile)))
            )
        self.dirty.clear()
        return out


def tile_key(tile: int) -> bytes:
    return _TILE_PREFIX + str(tile).encode()


def encode_tile_record(tile: TileDedup, buffer: ReorderBuffer) -> bytes:
    snap = tile.to_bytes()
    pending = encode_batch(buffer.snapshot())
    return _FRAME.pack(len(snap), len(pending)) + snap + pending


def decode_tile_record(data: bytes) -> tuple[TileDedup, ReorderBuffer]:
    if len(data) < _FRAME.size:
        raise ValueError("dedup state record too short")
    n_snap, n_pending = _FRAME.unpack_from(data)
    if len(data) != _FRAME.size + n_snap + n_pending:
        raise ValueError("dedup state record length mismatch")
    off = _FRAME.size
    tile = TileDedup.from_bytes(data[off : off + n_snap])
    pending = decode_batch(data[off + n_snap :])
    return tile, ReorderBuffer.restore(pending)


def load_partition(
    settings: Settings, topic: str, partition: int, expected: frozenset[tuple[str, int]]
) -> PartitionState:
    """Read one partition of the changelog to its end; the last record per key wins.

    Blocking (kafka-python): run it in an executor from async code.
    """
    state = PartitionState(partition, WatermarkTracker(expected))
    latest: dict[bytes, bytes | None] = {}
    for record in read_to_end(settings, topic, [partition], idle_s=30.0):
        latest[record.key] = record.value
    for key, value in latest.items():
        if value is None:
            continue
        if key == WATERMARK_KEY:
            state.tracker.restore(orjson.loads(value))
        elif key.startswith(_TILE_PREFIX):
            tile, buffer = decode_tile_record(value)
            state.tiles[tile.tile] = tile
            state.buffers[tile.tile] = buffer
    return state
