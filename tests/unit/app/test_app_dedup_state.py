"""The dedup agent's changelog records: tile snapshots with their pending events, and the
deltas written between them."""

from __future__ import annotations

import orjson
import pytest
from app_events import T0_MS, latlon_at, make_batch

from kernels.grid import pack_cells
from streams.contracts.closures import Closure
from streams.contracts.fused import FusedBatch, decode_batch, encode_batch
from streams.contracts.watermarks import WatermarkFrame
from streams.dedup import snapshot
from streams.dedup.engine import DedupEngine, TileDedup
from streams.dedup.ordering import ReorderBuffer, WatermarkTracker
from streams.dedup.snapshot import (
    WATERMARK_KEY,
    ChangelogError,
    PartitionState,
    decode_tile_record,
    encode_tile_record,
    partition_from_changelog,
    tile_key,
)

HOME = int(pack_cells([0], [0])[0])
EXPECTED = frozenset({("raw.sensor", 0), ("raw.hotline", 0), ("raw.patrol", 0)})


def _worked_tile(engine: DedupEngine) -> tuple[TileDedup, ReorderBuffer]:
    lat, lon = latlon_at(engine.spec, [900.0, 905.0, 1200.0, 950.0], [900.0, 900.0, 300.0, 950.0])
    tile = engine.new_tile(HOME)
    engine.process(
        tile, make_batch([1, 2, 3], [T0_MS, T0_MS + 1, T0_MS + 2], lat=lat[:3], lon=lon[:3])
    )
    buf = ReorderBuffer()
    buf.add(make_batch([9, 8], [T0_MS + 50, T0_MS + 40], lat=[lat[3]] * 2, lon=[lon[3]] * 2))
    return tile, buf


def test_tile_record_round_trip(engine: DedupEngine) -> None:
    tile, buf = _worked_tile(engine)
    got_tile, got_buf = decode_tile_record(encode_tile_record(tile, buf))
    assert got_tile.tile == tile.tile
    assert got_tile.recent == tile.recent
    assert tile.recent.as_dict() == {1: T0_MS, 2: T0_MS + 1, 3: T0_MS + 2}
    assert got_tile.to_bytes() == tile.to_bytes()
    assert len(got_buf) == 2
    released = got_buf.release(T0_MS + 50)
    assert released.events["event_id"].tolist() == [8, 9]
    assert released.column("source_ref") == ["ref-8", "ref-9"]


def test_empty_buffer_round_trips(engine: DedupEngine) -> None:
    tile = engine.new_tile(HOME)
    got_tile, got_buf = decode_tile_record(encode_tile_record(tile, ReorderBuffer()))
    assert len(got_buf) == 0 and len(got_tile.recent) == 0


def test_bad_tile_records_are_refused(engine: DedupEngine) -> None:
    tile, buf = _worked_tile(engine)
    data = encode_tile_record(tile, buf)
    for bad in (b"", data[:10], data[:-1], data + b"\0"):
        with pytest.raises(ValueError):
            decode_tile_record(bad)


def test_changelog_records_watermark_first_then_dirty_tiles(engine: DedupEngine) -> None:
    tracker = WatermarkTracker(EXPECTED)
    tracker.update(WatermarkFrame("raw.sensor", 0, T0_MS))
    tracker.update(WatermarkFrame("raw.patrol", 0, T0_MS - 5, idle=True))
    state = PartitionState(3, tracker)
    tile, buf = _worked_tile(engine)
    other = int(pack_cells([-1], [2])[0])
    state.tiles[HOME] = tile
    state.buffers[HOME] = buf
    state.buffer(other).add(make_batch([77], [T0_MS]))
    state.dirty.update({HOME, other})
    assert state.buffered() == 3

    records = state.changelog_records(engine)
    assert [k for k, _ in records] == [WATERMARK_KEY, *(tile_key(t) for t in sorted({HOME, other}))]
    assert orjson.loads(records[0][1]) == orjson.loads(orjson.dumps(tracker.to_state()))
    by_key = dict(records)
    home_tile, home_buf = decode_tile_record(by_key[tile_key(HOME)])
    assert home_tile.to_bytes() == tile.to_bytes() and len(home_buf) == 2
    other_tile, other_buf = decode_tile_record(by_key[tile_key(other)])
    assert other_tile.tile == other and len(other_buf) == 1
    assert state.dirty == set()
    assert state.changelog_records(engine) == [records[0]]  # nothing dirty: watermark only


# -- tile records over the size limit --------------------------------------------------------


def _replay(log: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes | None]:
    """What a compacted topic keeps: the last value per key."""
    latest: dict[bytes, bytes | None] = {}
    for key, value in log:
        latest[key] = value
    return latest


def _big_state(engine: DedupEngine, ids: list[int]) -> PartitionState:
    state = PartitionState(0, WatermarkTracker(EXPECTED), part_bytes=320)
    state.buffer(HOME).add(make_batch(ids, [T0_MS + i for i in range(len(ids))]))
    state.dirty.add(HOME)
    return state


def _pending_ids(state: PartitionState) -> list[int]:
    return sorted(state.buffers[HOME].snapshot().events["event_id"].tolist())


def test_a_large_tile_record_is_split_and_read_back(
    engine: DedupEngine,
) -> None:
    state = _big_state(engine, list(range(1, 40)))
    log = state.changelog_records(engine)
    keys = [k for k, _ in log]
    assert keys[-1] == tile_key(HOME)  # the manifest comes after every part
    parts = [k for k in keys if k.startswith(b"part:")]
    assert len(parts) > 2 and all(len(v or b"") <= 320 for k, v in log if k in parts)
    back = partition_from_changelog(0, EXPECTED, _replay(log))
    assert _pending_ids(back) == list(range(1, 40))
    assert back.split == {HOME: state.split[HOME]} and back.stale_parts == []

    # shrinking below the limit again deletes the old parts after the new record
    state.buffers[HOME] = ReorderBuffer()
    state.buffer(HOME).add(make_batch([5], [T0_MS]))
    state.dirty.add(HOME)
    log2 = state.changelog_records(engine)
    assert log2[1] == (tile_key(HOME), log2[1][1]) and log2[1][1] is not None
    assert sorted(k for k, v in log2 if v is None) == sorted(parts)
    again = partition_from_changelog(0, EXPECTED, _replay(log + log2))
    assert _pending_ids(again) == [5] and again.split == {}


def test_a_crash_between_parts_and_manifest_keeps_the_previous_record(
    engine: DedupEngine,
) -> None:
    state = _big_state(engine, list(range(1, 30)))
    first = state.changelog_records(engine)
    state.buffer(HOME).add(make_batch(list(range(100, 130)), [T0_MS] * 30))
    state.dirty.add(HOME)
    second = state.changelog_records(engine)
    manifest_at = next(i for i, (k, _) in enumerate(second) if k == tile_key(HOME))
    crashed = first + second[:manifest_at]  # parts of generation 2 written, nothing after
    back = partition_from_changelog(0, EXPECTED, _replay(crashed), part_bytes=320)
    assert _pending_ids(back) == list(range(1, 30))
    orphans = {k for k, _ in second[:manifest_at] if k.startswith(b"part:")}
    assert set(back.stale_parts) == orphans
    # the restarted owner deletes the orphans with its next write, and never reuses
    # their generation
    back.dirty.add(HOME)
    log = back.changelog_records(engine)
    assert orphans <= {k for k, v in log if v is None}
    assert back.split[HOME][0] > state.split[HOME][0]  # above the orphans' generation


def test_a_missing_part_is_reported(engine: DedupEngine) -> None:
    log = _big_state(engine, list(range(1, 40))).changelog_records(engine)
    latest = _replay(log)
    first_part = next(k for k in latest if k.startswith(b"part:"))
    del latest[first_part]
    with pytest.raises(ChangelogError, match="lacks part"):
        partition_from_changelog(0, EXPECTED, latest)


# -- deltas between whole tile records ---------------------------------------------------------


OTHER = int(pack_cells([-1], [2])[0])


def _ids(tile: int, k: int, n: int = 6) -> list[int]:
    return [(10_000 if tile == HOME else 20_000) + 100 * k + i for i in range(n)]


def _chunk_batch(engine: DedupEngine, k: int, tile: int) -> FusedBatch:
    """Chunk ``k``'s events for ``tile``: near each other, so they merge into cases, each
    from a raw record of its own (origin_seq), a few arriving out of order."""
    n = 6
    ids = _ids(tile, k, n)
    arrivals = [T0_MS + 100 * k + (5 * i if i % 3 else 60 - i) for i in range(n)]
    lat, lon = latlon_at(engine.spec, [900.0 + 3 * i for i in range(n)], [900.0] * n)
    batch = make_batch(ids, arrivals, lat=lat, lon=lon, source=1)
    batch.events["origin_seq"] = [10 * k + i + 1 for i in range(n)]
    return batch


def _run_chunk(
    state: PartitionState, engine: DedupEngine, k: int
) -> tuple[list[tuple[bytes, bytes | None]], list[list[int]]]:
    """One chunk as the agent runs it: frames in, closures, a release; the changelog
    records it writes and the case ids linked per tile."""
    for tile in (HOME, OTHER):
        frame = encode_batch(_chunk_batch(engine, k, tile))
        state.add(tile, frame, decode_batch(frame))
        state.add(tile, frame, decode_batch(frame))  # a redelivery: absorbed already
    if k == 3:
        state.add_closures(HOME, [Closure(T0_MS + 150, _ids(HOME, 0)[0])])
    linked = []
    for tile in sorted(state.buffers):
        out = state.release(engine, tile, T0_MS + 100 * k + 30)
        linked.append([] if out is None else out.links["case_id"].tolist())
    return state.changelog_records(engine), linked


def _assert_same_state(a: PartitionState, b: PartitionState) -> None:
    assert sorted(a.tiles) == sorted(b.tiles) and sorted(a.buffers) == sorted(b.buffers)
    for tile, live in a.tiles.items():
        back = b.tiles[tile]
        assert back.to_bytes() == live.to_bytes() and back.batches == live.batches
        assert back.recent == live.recent
    for tile, buf in a.buffers.items():
        got = b.buffers[tile]
        assert got.absorbed == buf.absorbed and got.closures == buf.closures
        assert sorted(got.snapshot().events["event_id"].tolist()) == sorted(
            buf.snapshot().events["event_id"].tolist()
        )


def test_chunks_after_a_base_write_deltas_that_replay_to_the_live_state(
    engine: DedupEngine,
) -> None:
    live = PartitionState(0, WatermarkTracker(EXPECTED))
    log: list[tuple[bytes, bytes | None]] = []
    for k in range(6):
        records, _ = _run_chunk(live, engine, k)
        tiles = [key for key, _ in records if key != WATERMARK_KEY]
        if k == 0:
            assert tiles == [tile_key(t) for t in sorted({HOME, OTHER})]
        else:
            assert all(key.startswith(b"delta:") for key in tiles) and len(tiles) == 2
        log += records
    assert live.buffered() > 0 and any(len(t.recent) for t in live.tiles.values())
    back = partition_from_changelog(0, EXPECTED, _replay(log), engine=engine)
    _assert_same_state(live, back)
    assert back.stale_parts == [] and back.dirty == set() and back.journal == {}
    # both carry on alike: the same cases, and the restored state writes the next delta
    live_records, live_links = _run_chunk(live, engine, 6)
    back_records, back_links = _run_chunk(back, engine, 6)
    assert back_links == live_links and any(live_links)
    assert back_records == live_records
    with pytest.raises(ChangelogError, match="need the engine"):
        partition_from_changelog(0, EXPECTED, _replay(log))


def test_deltas_give_way_to_a_new_base_that_deletes_them(
    engine: DedupEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "MIN_DELTA_BYTES", 0)  # room for deltas: the base's size
    live = PartitionState(0, WatermarkTracker(EXPECTED))
    log: list[tuple[bytes, bytes | None]] = []
    bases = 0
    for k in range(12):
        before = live.chains[HOME].deltas if HOME in live.chains else 0
        records, _ = _run_chunk(live, engine, k)
        log += records
        keys = [key for key, _ in records]
        if tile_key(HOME) in keys and before:  # a new base after deltas: they go, after it
            bases += 1
            deleted = [keys[i] for i, (_, value) in enumerate(records) if value is None]
            home = [key for key in deleted if key.startswith(b"delta:%d:" % HOME)]
            assert len(home) == before and all(key.startswith(b"delta:") for key in deleted)
            assert keys.index(tile_key(HOME)) < keys.index(home[0])
    assert bases > 1
    latest = _replay(log)
    back = partition_from_changelog(0, EXPECTED, latest, engine=engine)
    _assert_same_state(live, back)
    chain = live.chains[HOME]
    assert sum(1 for key, v in latest.items() if v is not None and key.startswith(b"delta:")) == (
        live.chains[HOME].deltas + live.chains[OTHER].deltas
    )
    assert chain.delta_bytes <= chain.base_bytes


def test_deltas_of_a_replaced_base_are_stale_and_a_gap_is_reported(
    engine: DedupEngine,
) -> None:
    live = PartitionState(0, WatermarkTracker(EXPECTED))
    log: list[tuple[bytes, bytes | None]] = []
    for k in range(3):
        log += _run_chunk(live, engine, k)[0]
    # a new base, written by a crash-free owner up to the base, not its tombstones
    live.dirty.add(HOME)
    records = live.changelog_records(engine)
    crashed = log + [(key, value) for key, value in records if value is not None]
    back = partition_from_changelog(0, EXPECTED, _replay(crashed), engine=engine)
    _assert_same_state(live, back)
    stale = {key for key, value in records if value is None}
    assert stale and set(back.stale_parts) == stale
    assert back.generation >= live.chains[HOME].generation
    # a delta lost in the middle of a chain: refused, never replayed around
    latest = _replay(log)
    del latest[snapshot.delta_key(OTHER, live.chains[OTHER].generation, 0)]
    with pytest.raises(ChangelogError, match="lacks delta 0"):
        partition_from_changelog(0, EXPECTED, latest, engine=engine)
