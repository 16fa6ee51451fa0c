"""Closures back into dedup: the frame codec, their place among the events, the tile's
saved state, the open ages they make meaningful, and the lifecycle's frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from app_events import T0_MS, latlon_at, make_batch

from kernels.grid import pack_cells
from streams.contracts.closures import (
    Closure,
    decode_closures,
    encode_closures,
    is_closure_frame,
)
from streams.contracts.fused import FusedBatch
from streams.contracts.watermarks import WatermarkFrame, encode_watermark, is_watermark_frame
from streams.dedup.engine import DedupEngine, TileDedup, build_params
from streams.dedup.ordering import ReorderBuffer
from streams.dedup.snapshot import decode_tile_record, encode_tile_record
from streams.reference.categories import CategoryTable
from streams.settings import Settings

HOME = int(pack_cells([0], [0])[0])
MIN = 60_000
COVER = 1  # C0101, a water-supply manhole cover: 25 m, a two-day window


def test_frames_round_trip_and_are_told_apart() -> None:
    closures = [Closure(T0_MS, 7), Closure(T0_MS + 5, 2**64 - 1, voided=True)]
    frame = encode_closures(closures)
    assert is_closure_frame(frame) and decode_closures(frame) == closures
    mark = encode_watermark(WatermarkFrame("raw.sensor", 0, T0_MS))
    assert not is_closure_frame(mark) and not is_watermark_frame(frame)
    with pytest.raises(ValueError, match="does not hold 2 closures"):
        decode_closures(frame[:-1])
    with pytest.raises(ValueError, match="not a closure frame"):
        decode_closures(mark)
    with pytest.raises(ValueError, match="version 9"):
        decode_closures(frame[:4] + b"\x09" + frame[5:])
    with pytest.raises(ValueError, match="a case id"):
        Closure(T0_MS, 0)


def test_buffer_keeps_each_case_once_and_releases_in_order() -> None:
    buf = ReorderBuffer()
    assert buf.add_closures([Closure(T0_MS + 9, 3), Closure(T0_MS + 2, 5)]) == 2
    assert buf.add_closures([Closure(T0_MS + 9, 3)]) == 0  # a redelivered frame
    assert buf.add_closures([Closure(T0_MS + 1, 3)]) == 0  # the earlier close wins
    assert buf.due_closures(T0_MS) == []
    assert buf.due_closures(T0_MS + 5) == [Closure(T0_MS + 1, 3), Closure(T0_MS + 2, 5)]
    assert buf.closures == {}


def _reports(engine: DedupEngine, minutes: list[int], ids: list[int]) -> FusedBatch:
    """Manhole-cover reports at one spot of tile HOME, arriving a minute after they happen."""
    lat, lon = latlon_at(engine.spec, [1000.0] * len(ids), [1000.0] * len(ids))
    t = [T0_MS + m * MIN for m in minutes]
    return make_batch(ids, [v + MIN for v in t], event_time_ms=t, lat=lat, lon=lon, category=COVER)


def _links(out: Any) -> dict[int, tuple[int, int]]:
    links = out.links
    return {
        int(e): (int(c), int(r))
        for e, c, r in zip(links["event_id"], links["case_id"], links["recurrence_of"], strict=True)
    }


def test_a_report_after_the_close_is_a_recurrence(engine: DedupEngine) -> None:
    tile = engine.new_tile(HOME)
    batch = _reports(engine, [0, 10, 60, 70], [11, 12, 13, 14])
    out = engine.process(tile, batch, [Closure(T0_MS + 30 * MIN, 11)])
    assert out.closed == 1
    # 12 joins 11 before the close; 13 comes after it: a new case, a recurrence of 11
    assert _links(out) == {11: (11, 0), 12: (11, 0), 13: (13, 11), 14: (13, 0)}
    assert out.cases["case_id"].tolist() == [11, 13]
    assert out.cases["recurrence_of"].tolist() == [0, 11]


def test_results_do_not_depend_on_how_releases_cut_the_stream(engine: DedupEngine) -> None:
    batch = _reports(engine, [0, 10, 60, 70], [11, 12, 13, 14])
    closures = [Closure(T0_MS + 30 * MIN, 11)]
    whole = _links(engine.process(engine.new_tile(HOME), batch, closures))
    tile = engine.new_tile(HOME)
    got: dict[int, tuple[int, int]] = {}
    arrivals = batch.events["ingest_time_ms"]
    for lo, hi in ((0, 5), (5, 45), (45, 200)):  # releases at three watermarks
        mark = T0_MS + hi * MIN
        part = batch.take(np.flatnonzero((arrivals > T0_MS + lo * MIN) & (arrivals <= mark)))
        due = [c for c in closures if T0_MS + lo * MIN < c.closed_ms <= mark]
        got |= _links(engine.process(tile, part, due))
    assert got == whole


def test_a_late_closure_closes_at_once(engine: DedupEngine) -> None:
    """Reports released before the close reached dedup stay joined; the next is a recurrence."""
    tile = engine.new_tile(HOME)
    first = engine.process(tile, _reports(engine, [0, 60], [11, 13]))
    assert _links(first) == {11: (11, 0), 13: (11, 0)}
    later = engine.process(tile, _reports(engine, [90], [15]), [Closure(T0_MS + 30 * MIN, 11)])
    assert later.closed == 1 and _links(later) == {15: (15, 11)}


def test_a_closure_of_a_case_the_tile_does_not_hold_changes_nothing(
    engine: DedupEngine,
) -> None:
    tile = engine.new_tile(HOME)
    out = engine.process(tile, _reports(engine, [0, 60], [11, 13]), [Closure(T0_MS, 99)])
    assert out.closed == 0 and _links(out) == {11: (11, 0), 13: (11, 0)}


def test_closures_go_to_every_tile_the_opening_event_went_to(engine: DedupEngine) -> None:
    lat, lon = latlon_at(engine.spec, [5.0, 1000.0], [5.0, 1000.0])
    batch = make_batch([1, 2], [T0_MS, T0_MS], lat=lat, lon=lon, category=COVER)
    routed = {tile for tile, part in engine.tile_batches(batch) if 1 in part.events["event_id"]}
    assert len(routed) == 4  # near a corner: home and three halos
    assert engine.case_tiles(float(lat[0]), float(lon[0]), COVER) == sorted(routed)
    assert engine.case_tiles(float(lat[1]), float(lon[1]), COVER) == [HOME]


def test_pending_closures_are_saved_with_the_tile(engine: DedupEngine) -> None:
    buf = ReorderBuffer()
    buf.add(_reports(engine, [0], [11]))
    buf.add_closures([Closure(T0_MS + 5, 11), Closure(T0_MS + 6, 12, voided=True)])
    tile = TileDedup(HOME, engine.new_tile(HOME).state)
    record = encode_tile_record(tile, buf)
    _, back = decode_tile_record(record)
    assert back.closures == buf.closures and len(back) == 1
    # a record written before closures existed: no closure trailer (an empty one: its
    # count, 4 bytes) and no base trailer (count and generation, batches: 4 + 16 bytes)
    without = encode_tile_record(tile, ReorderBuffer(buf.absorbed))[: -(4 + 4 + 16)]
    assert decode_tile_record(without)[1].closures == {}
    with pytest.raises(ValueError, match="length mismatch"):
        decode_tile_record(record + b"\x00")


def test_open_ages_apply_only_where_closures_reach_dedup(settings: Settings) -> None:
    table = CategoryTable.load()
    events = next(c for c in table.by_key.values() if c.max_open_age_s is None)
    on = build_params(table, settings.replace(max_open_age_s=3600))
    assert on.max_open_age_ms[COVER] == 14 * 86400 * 1000
    assert on.max_open_age_ms[events.id] == 3600 * 1000
    off = build_params(table, settings.replace(max_open_age_s=3600, dedup_closures=False))
    assert not off.max_open_age_ms.any()
