"""The dedup agent's state for one partition of ``events.fused``, and its changelog.

Per partition: the watermark tracker, and per tile the kernel state plus the reorder
buffer of events not yet released. After every processed chunk the agent writes the
touched tiles to the compacted ``dedup.state`` topic, into the same partition number, and
only then lets Faust commit the input offsets (Faust flushes the producer before each
commit). A worker that takes a partition over reads that partition of the changelog and
resumes exactly where the previous owner's last commit left it; events redelivered after
that are recognised by id and change nothing.

A tile record larger than ``changelog_part_bytes`` (a big backlog in a catch-up) is written as
parts followed by a small manifest under the tile's key: the broker refuses messages over
its size limit. Parts carry a generation in their keys, so a crash between the parts and
the manifest leaves the previous record whole; the orphans are deleted later.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

import orjson

from streams.contracts.closures import Closure
from streams.contracts.fused import decode_batch, encode_batch
from streams.dedup.engine import DedupEngine, TileDedup
from streams.dedup.ordering import ReorderBuffer, WatermarkTracker
from streams.settings import PipelineSettings

__all__ = [
    "ChangelogError",
    "PartitionState",
    "decode_tile_record",
    "encode_tile_record",
    "partition_from_changelog",
]

WATERMARK_KEY = b"wm"
_TILE_PREFIX = b"tile:"
_PART_PREFIX = b"part:"
_FRAME = struct.Struct("<QQ")  # bytes of the tile snapshot, bytes of the buffer
_MANIFEST = struct.Struct("<8sQQQ16s")  # magic, generation, parts, total bytes, digest
_MANIFEST_MAGIC = b"CSTPARTS"
_TRAILER_COUNT = struct.Struct("<I")  # rows in a trailer (absorbed origins, closures)
_ABSORBED = struct.Struct("<BHq")  # source, raw partition, highest origin_seq absorbed
_CLOSURE = struct.Struct("<Qq?")  # case id, closed at (ms), voided


class ChangelogError(ValueError):
    """The dedup changelog cannot be read back (a part of a split record is missing)."""


@dataclass
class PartitionState:
    partition: int
    tracker: WatermarkTracker
    tiles: dict[int, TileDedup] = field(default_factory=dict)
    buffers: dict[int, ReorderBuffer] = field(default_factory=dict)
    part_bytes: int = PipelineSettings.changelog_part_bytes  # split tile records above this
    dirty: set[int] = field(default_factory=set)
    # per tile, the generation and part count of its split record on the changelog
    split: dict[int, tuple[int, int]] = field(default_factory=dict)
    stale_parts: list[bytes] = field(default_factory=list)  # to delete at the next write
    generation: int = 0  # of the newest split record written or read
    changed: bool = False  # input taken since the state was last written

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

    def changelog_records(self, engine: DedupEngine) -> list[tuple[bytes, bytes | None]]:
        """``(key, value)`` records for every tile touched since the last call, in the
        order they must be written (``None``: a tombstone)."""
        out: list[tuple[bytes, bytes | None]] = [
            (WATERMARK_KEY, orjson.dumps(self.tracker.to_state()))
        ]
        for tile in sorted(self.dirty):
            record = encode_tile_record(self.tile(engine, tile), self.buffer(tile))
            previous = self.split.pop(tile, None)
            if len(record) <= self.part_bytes:
                out.append((tile_key(tile), record))
            else:
                self.generation += 1
                size = self.part_bytes
                parts = [record[i : i + size] for i in range(0, len(record), size)]
                out += [(part_key(tile, self.generation, k), p) for k, p in enumerate(parts)]
                out.append((tile_key(tile), _manifest(self.generation, len(parts), record)))
                self.split[tile] = (self.generation, len(parts))
            if previous is not None:  # only now: the new record is complete before them
                out += [(part_key(tile, previous[0], k), None) for k in range(previous[1])]
        out += [(key, None) for key in self.stale_parts]
        self.stale_parts.clear()
        self.dirty.clear()
        return out


def tile_key(tile: int) -> bytes:
    return _TILE_PREFIX + str(tile).encode()


def part_key(tile: int, generation: int, index: int) -> bytes:
    return _PART_PREFIX + f"{tile}:{generation}:{index}".encode()


def _manifest(generation: int, n_parts: int, record: bytes) -> bytes:
    digest = hashlib.blake2b(record, digest_size=16).digest()
    return _MANIFEST.pack(_MANIFEST_MAGIC, generation, n_parts, len(record), digest)


def _is_manifest(value: bytes) -> bool:
    return len(value) == _MANIFEST.size and value[:8] == _MANIFEST_MAGIC


def _join_parts(
    tile_id: bytes, manifest: bytes, parts: dict[bytes, bytes]
) -> tuple[int, int, bytes]:
    """``(generation, parts, record)`` of a split tile record."""
    _, generation, n_parts, total, digest = _MANIFEST.unpack(manifest)
    tile = int(tile_id[len(_TILE_PREFIX) :])
    try:
        record = b"".join(parts[part_key(tile, generation, k)] for k in range(n_parts))
    except KeyError as exc:
        raise ChangelogError(
            f"dedup changelog: tile {tile} generation {generation} lacks part {exc.args[0]!r}"
        ) from None
    if len(record) != total or hashlib.blake2b(record, digest_size=16).digest() != digest:
        raise ChangelogError(f"dedup changelog: tile {tile} generation {generation} is corrupt")
    return generation, n_parts, record


def encode_tile_record(tile: TileDedup, buffer: ReorderBuffer) -> bytes:
    snap = tile.to_bytes()
    pending = encode_batch(buffer.snapshot())
    absorbed = sorted(buffer.absorbed.items())
    trailer = _TRAILER_COUNT.pack(len(absorbed)) + b"".join(
        _ABSORBED.pack(source, partition, seq) for (source, partition), seq in absorbed
    )
    closures = sorted(buffer.closures.values())
    trailer += _TRAILER_COUNT.pack(len(closures)) + b"".join(
        _CLOSURE.pack(c.case_id, c.closed_ms, c.voided) for c in closures
    )
    return _FRAME.pack(len(snap), len(pending)) + snap + pending + trailer


def decode_tile_record(data: bytes) -> tuple[TileDedup, ReorderBuffer]:
    if len(data) < _FRAME.size:
        raise ValueError("dedup state record too short")
    n_snap, n_pending = _FRAME.unpack_from(data)
    end = _FRAME.size + n_snap + n_pending
    if len(data) < end:
        raise ValueError("dedup state record length mismatch")
    off = _FRAME.size
    tile = TileDedup.from_bytes(data[off : off + n_snap])
    pending = decode_batch(data[off + n_snap : end])
    absorbed, end = _decode_rows(data, end, _ABSORBED)
    closures, end = _decode_rows(data, end, _CLOSURE)
    if end != len(data):
        raise ValueError("dedup state record length mismatch")
    return tile, ReorderBuffer.restore(
        pending,
        {(source, partition): seq for source, partition, seq in absorbed},
        [Closure(ms, case, bool(voided)) for case, ms, voided in closures],
    )


def _decode_rows(data: bytes, start: int, row: struct.Struct) -> tuple[list[tuple[int, ...]], int]:
    """A counted trailer of fixed rows and where it ends; records written before the
    trailer existed (absorbed origins 2026-11, closures 2026-12) end before it: no rows."""
    if len(data) == start:
        return [], start
    if len(data) < start + _TRAILER_COUNT.size:
        raise ValueError("dedup state record length mismatch")
    (count,) = _TRAILER_COUNT.unpack_from(data, start)
    end = start + _TRAILER_COUNT.size + count * row.size
    if len(data) < end:
        raise ValueError("dedup state record length mismatch")
    first = start + _TRAILER_COUNT.size
    return [row.unpack_from(data, first + i * row.size) for i in range(count)], end


def partition_from_changelog(
    partition: int,
    expected: frozenset[tuple[str, int]],
    latest: dict[bytes, bytes | None],
    part_bytes: int = PipelineSettings.changelog_part_bytes,
) -> PartitionState:
    """The state the changelog's last record per key (``None``: deleted) describes."""
    state = PartitionState(partition, WatermarkTracker(expected), part_bytes=part_bytes)
    parts = {k: v for k, v in latest.items() if k.startswith(_PART_PREFIX) and v is not None}
    used: set[bytes] = set()
    for key, value in latest.items():
        if value is None:
            continue
        if key == WATERMARK_KEY:
            state.tracker.restore(orjson.loads(value))
        elif key.startswith(_TILE_PREFIX):
            if _is_manifest(value):
                generation, n_parts, value = _join_parts(key, value, parts)
                tile_id = int(key[len(_TILE_PREFIX) :])
                state.split[tile_id] = (generation, n_parts)
                state.generation = max(state.generation, generation)
                used.update(part_key(tile_id, generation, k) for k in range(n_parts))
            tile, buffer = decode_tile_record(value)
            state.tiles[tile.tile] = tile
            state.buffers[tile.tile] = buffer
    # parts of a record whose manifest never made it (a crash in between): delete them
    state.stale_parts = sorted(set(parts) - used)
    for key in state.stale_parts:
        generation = int(key.rsplit(b":", 2)[1])
        state.generation = max(state.generation, generation)
    return state
