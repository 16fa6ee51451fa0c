"""The dedup agent's state for one partition of ``events.fused``, and its changelog.

Per partition: the watermark tracker, and per tile the kernel state plus the reorder
buffer of events not yet released. After every processed chunk the agent writes the
touched tiles to the compacted ``dedup.state`` topic, into the same partition number, and
only then lets Faust commit the input offsets (Faust flushes the producer before each
commit). A worker that takes a partition over reads that partition of the changelog and
resumes exactly where the previous owner's last commit left it; events redelivered after
that are recognised by id and change nothing.

A tile is written whole (a base record under ``tile:<id>``) only now and then; between
bases each write (the agent writes at each offset commit) is a delta
(``delta:<id>:<generation>:<n>``): the operations the chunks since the last write applied
to the tile (the fused frames its buffer took, the closures, the watermarks it released
to), replayed through the engine on recovery. A whole record per write would
write the tile's state (its recent ids for the redelivery horizon, its open cases, its
pending events) again and again: several times the input's bytes in a catch-up, where
chunks are small. A new base is written when the deltas since the last one outgrow it, so
the changelog carries at most about twice the input and a recovery replays at most about
a base's worth of input; the old deltas are deleted after the new base.

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
from streams.contracts.fused import FusedBatch, decode_batch, encode_batch
from streams.dedup.engine import DedupEngine, TileDedup, TileOutput
from streams.dedup.ordering import ReorderBuffer, WatermarkTracker
from streams.settings import PipelineSettings

__all__ = [
    "MAX_DELTAS",
    "ChangelogError",
    "PartitionState",
    "decode_tile_record",
    "delta_key",
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
_BASE = struct.Struct("<QQ")  # generation of a base record, kernel batches of the tile
_DELTA_PREFIX = b"delta:"
_DELTA_MAGIC = b"CSTDLT01"
_OP = struct.Struct("<BQ")  # operation of a delta, bytes of its payload
_MARK = struct.Struct("<q")
OP_ADD, OP_CLOSURES, OP_RELEASE = 1, 2, 3
# Deltas of a tile stay on the changelog until they outgrow its base, or this many of them
# (each is a key to read and a kernel call to replay when a worker takes the partition over).
MAX_DELTAS = 256
MIN_DELTA_BYTES = 1 << 20  # a tiny base still takes a few chunks of deltas before a rewrite


class ChangelogError(ValueError):
    """The dedup changelog cannot be read back (a part of a split record is missing)."""


@dataclass
class Chain:
    """A tile's base record on the changelog and the deltas written after it."""

    generation: int
    base_bytes: int
    deltas: int = 0
    delta_bytes: int = 0

    def takes(self, delta: int, part_bytes: int) -> bool:
        """Whether a delta of ``delta`` bytes goes after this base (else: a new base)."""
        room = max(self.base_bytes, MIN_DELTA_BYTES)
        return self.deltas < MAX_DELTAS and delta <= part_bytes and self.delta_bytes + delta <= room


@dataclass
class PartitionState:
    """One partition's state. The agent changes a tile through :meth:`add`,
    :meth:`add_closures` and :meth:`release` only: they journal what they did, and the
    journal is the tile's next delta on the changelog."""

    partition: int
    tracker: WatermarkTracker
    tiles: dict[int, TileDedup] = field(default_factory=dict)
    buffers: dict[int, ReorderBuffer] = field(default_factory=dict)
    part_bytes: int = PipelineSettings.changelog_part_bytes  # split tile records above this
    dirty: set[int] = field(default_factory=set)
    # per tile, the generation and part count of its split record on the changelog
    split: dict[int, tuple[int, int]] = field(default_factory=dict)
    stale_parts: list[bytes] = field(default_factory=list)  # parts, deltas: delete next write
    generation: int = 0  # of the newest base record written or read
    changed: bool = False  # input taken since the state was last written
    chains: dict[int, Chain] = field(default_factory=dict)
    # per dirty tile, what happened to it since the last write; a dirty tile without a
    # journal (changed some other way) is written whole
    journal: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)

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

    def add(self, tile: int, frame: bytes, batch: FusedBatch) -> int:
        """Buffer ``batch`` (decoded from ``frame``) for ``tile``; returns the events added."""
        added = self.buffer(tile).add(batch)
        if added:
            self._journal(tile, OP_ADD, frame)
        return added

    def add_closures(self, tile: int, closures: list[Closure]) -> int:
        """Keep ``closures`` for ``tile`` until they are due; returns how many were new."""
        added = self.buffer(tile).add_closures(closures)
        if added:
            self._journal(tile, OP_CLOSURES, _encode_closures(closures))
        return added

    def release(self, engine: DedupEngine, tile: int, mark: int) -> TileOutput | None:
        """Run the tile's events and closures due at ``mark`` through the engine; None
        when nothing was due."""
        buffer = self.buffer(tile)
        released = buffer.release(mark)
        closures = buffer.due_closures(mark)
        if len(released) == 0 and not closures:
            return None
        self._journal(tile, OP_RELEASE, _MARK.pack(mark))
        return engine.process(self.tile(engine, tile), released, closures)

    def _journal(self, tile: int, op: int, payload: bytes) -> None:
        if tile in self.dirty and tile not in self.journal:
            return  # changed outside the journal since the last write: written whole
        self.journal.setdefault(tile, []).append((op, payload))
        self.dirty.add(tile)

    def changelog_records(self, engine: DedupEngine) -> list[tuple[bytes, bytes | None]]:
        """``(key, value)`` records for every tile touched since the last call, in the
        order they must be written (``None``: a tombstone)."""
        out: list[tuple[bytes, bytes | None]] = [
            (WATERMARK_KEY, orjson.dumps(self.tracker.to_state()))
        ]
        for tile in sorted(self.dirty):
            ops = self.journal.pop(tile, None)
            chain = self.chains.get(tile)
            delta = _encode_delta(ops) if ops and chain is not None else None
            if chain is not None and delta is not None and chain.takes(len(delta), self.part_bytes):
                out.append((delta_key(tile, chain.generation, chain.deltas), delta))
                chain.deltas += 1
                chain.delta_bytes += len(delta)
            else:
                out += self._base_records(engine, tile)
        out += [(key, None) for key in self.stale_parts]
        self.stale_parts.clear()
        self.dirty.clear()
        self.journal.clear()
        return out

    def _base_records(self, engine: DedupEngine, tile: int) -> list[tuple[bytes, bytes | None]]:
        """The tile written whole (split into parts if large), then the tombstones of its
        previous parts and deltas: only now, the new record is complete before them."""
        self.generation += 1
        record = encode_tile_record(self.tile(engine, tile), self.buffer(tile), self.generation)
        out: list[tuple[bytes, bytes | None]] = []
        previous = self.split.pop(tile, None)
        if len(record) <= self.part_bytes:
            out.append((tile_key(tile), record))
        else:
            size = self.part_bytes
            parts = [record[i : i + size] for i in range(0, len(record), size)]
            out += [(part_key(tile, self.generation, k), p) for k, p in enumerate(parts)]
            out.append((tile_key(tile), _manifest(self.generation, len(parts), record)))
            self.split[tile] = (self.generation, len(parts))
        if previous is not None:
            out += [(part_key(tile, previous[0], k), None) for k in range(previous[1])]
        chain = self.chains.get(tile)
        if chain is not None:
            out += [(delta_key(tile, chain.generation, k), None) for k in range(chain.deltas)]
        self.chains[tile] = Chain(self.generation, len(record))
        return out


def tile_key(tile: int) -> bytes:
    return _TILE_PREFIX + str(tile).encode()


def part_key(tile: int, generation: int, index: int) -> bytes:
    return _PART_PREFIX + f"{tile}:{generation}:{index}".encode()


def delta_key(tile: int, generation: int, index: int) -> bytes:
    return _DELTA_PREFIX + f"{tile}:{generation}:{index}".encode()


def _encode_closures(closures: list[Closure]) -> bytes:
    return _TRAILER_COUNT.pack(len(closures)) + b"".join(
        _CLOSURE.pack(c.case_id, c.closed_ms, c.voided) for c in closures
    )


def _decode_closures(data: bytes) -> list[Closure]:
    rows, end = _decode_rows(data, 0, _CLOSURE)
    if end != len(data) or not rows:
        raise ChangelogError("dedup changelog: a delta's closures do not decode")
    return [Closure(ms, case, bool(voided)) for case, ms, voided in rows]


def _encode_delta(ops: list[tuple[int, bytes]]) -> bytes:
    parts = [_DELTA_MAGIC]
    for op, payload in ops:
        parts += [_OP.pack(op, len(payload)), payload]
    return b"".join(parts)


def _decode_delta(data: bytes) -> list[tuple[int, memoryview]]:
    if data[: len(_DELTA_MAGIC)] != _DELTA_MAGIC:
        raise ChangelogError("dedup changelog: not a delta record")
    view = memoryview(data)
    ops, at = [], len(_DELTA_MAGIC)
    while at < len(data):
        if at + _OP.size > len(data):
            raise ChangelogError("dedup changelog: a delta record is truncated")
        op, size = _OP.unpack_from(data, at)
        at += _OP.size
        if op not in (OP_ADD, OP_CLOSURES, OP_RELEASE) or at + size > len(data):
            raise ChangelogError(f"dedup changelog: a delta holds a bad operation {op}")
        ops.append((op, view[at : at + size]))
        at += size
    return ops


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


def encode_tile_record(tile: TileDedup, buffer: ReorderBuffer, generation: int = 0) -> bytes:
    snap = tile.to_bytes()
    pending = encode_batch(buffer.snapshot())
    absorbed = sorted(buffer.absorbed.items())
    trailer = _TRAILER_COUNT.pack(len(absorbed)) + b"".join(
        _ABSORBED.pack(source, partition, seq) for (source, partition), seq in absorbed
    )
    trailer += _encode_closures(sorted(buffer.closures.values()))
    # the kernel batches count too: a replay of the deltas evicts where the live tile did
    trailer += _TRAILER_COUNT.pack(1) + _BASE.pack(generation, tile.batches)
    return _FRAME.pack(len(snap), len(pending)) + snap + pending + trailer


def decode_tile_record(data: bytes) -> tuple[TileDedup, ReorderBuffer]:
    tile, buffer, _ = _decode_base(data)
    return tile, buffer


def _decode_base(data: bytes) -> tuple[TileDedup, ReorderBuffer, int]:
    """A base record's tile, buffer and generation."""
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
    base, end = _decode_rows(data, end, _BASE)
    if end != len(data) or len(base) > 1:
        raise ValueError("dedup state record length mismatch")
    generation, tile.batches = base[0] if base else (0, 0)
    return (
        tile,
        ReorderBuffer.restore(
            pending,
            {(source, partition): seq for source, partition, seq in absorbed},
            [Closure(ms, case, bool(voided)) for case, ms, voided in closures],
        ),
        generation,
    )


def _decode_rows(data: bytes, start: int, row: struct.Struct) -> tuple[list[tuple[int, ...]], int]:
    """A counted trailer of fixed rows and where it ends; records written before the
    trailer existed (absorbed origins 2026-11, closures and base 2026-12) end before it:
    no rows."""
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
    engine: DedupEngine | None = None,
) -> PartitionState:
    """The state the changelog's last record per key (``None``: deleted) describes: each
    tile's base record, then its deltas replayed through ``engine`` (needed when there are
    deltas)."""
    state = PartitionState(partition, WatermarkTracker(expected), part_bytes=part_bytes)
    parts = {k: v for k, v in latest.items() if k.startswith(_PART_PREFIX) and v is not None}
    deltas = {k: v for k, v in latest.items() if k.startswith(_DELTA_PREFIX) and v is not None}
    used: set[bytes] = set()
    for key, value in latest.items():
        if value is None:
            continue
        if key == WATERMARK_KEY:
            state.tracker.restore(orjson.loads(value))
        elif key.startswith(_TILE_PREFIX):
            tile_id = int(key[len(_TILE_PREFIX) :])
            if _is_manifest(value):
                generation, n_parts, value = _join_parts(key, value, parts)
                state.split[tile_id] = (generation, n_parts)
                used.update(part_key(tile_id, generation, k) for k in range(n_parts))
            tile, buffer, generation = _decode_base(value)
            state.tiles[tile.tile] = tile
            state.buffers[tile.tile] = buffer
            state.chains[tile_id] = Chain(generation, len(value))
            state.generation = max(state.generation, generation)
    for tile_id, chain in state.chains.items():
        used.update(_replay_deltas(state, engine, tile_id, chain, deltas))
    # parts of a record whose manifest never made it, deltas of a base since replaced (a
    # crash in between): delete them
    state.stale_parts = sorted((set(parts) | set(deltas)) - used)
    for key in state.stale_parts:
        generation = int(key.rsplit(b":", 2)[1])
        state.generation = max(state.generation, generation)
    return state


def _replay_deltas(
    state: PartitionState,
    engine: DedupEngine | None,
    tile: int,
    chain: Chain,
    deltas: dict[bytes, bytes],
) -> list[bytes]:
    """Apply the deltas written after the tile's base, in order; returns their keys."""
    keys: list[bytes] = []
    while (key := delta_key(tile, chain.generation, len(keys))) in deltas:
        if engine is None:
            raise ChangelogError("dedup changelog: deltas to replay need the engine")
        for op, payload in _decode_delta(deltas[key]):
            if op == OP_ADD:
                state.buffer(tile).add(decode_batch(payload))
            elif op == OP_CLOSURES:
                state.buffer(tile).add_closures(_decode_closures(bytes(payload)))
            else:
                state.release(engine, tile, _MARK.unpack(payload)[0])
        chain.delta_bytes += len(deltas[key])
        keys.append(key)
    chain.deltas = len(keys)
    mine = _DELTA_PREFIX + f"{tile}:{chain.generation}:".encode()
    if any(k.startswith(mine) for k in deltas.keys() - set(keys)):
        raise ChangelogError(
            f"dedup changelog: tile {tile} generation {chain.generation} lacks delta {len(keys)}"
        )
    state.journal.clear()
    state.dirty.clear()
    return keys
