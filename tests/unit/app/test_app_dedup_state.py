"""The dedup agent's changelog records: tile snapshots with their pending events."""

from __future__ import annotations

import orjson
import pytest
from app_events import T0_MS, latlon_at, make_batch

from kernels.grid import pack_cells
from streams.contracts.watermarks import WatermarkFrame
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
