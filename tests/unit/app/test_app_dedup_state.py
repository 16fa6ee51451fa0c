"""The dedup agent's changelog records: tile snapshots with their pending events."""

from __future__ import annotations

import orjson
import pytest
from app_events import T0_MS, latlon_at, make_batch

from kernels.grid import pack_cells
from streams.app.dedup_state import (
    WATERMARK_KEY,
    PartitionState,
    decode_tile_record,
    encode_tile_record,
    tile_key,
)
from streams.app.ordering import ReorderBuffer, WatermarkFrame, WatermarkTracker
from streams.dedup_engine import DedupEngine, TileDedup

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
