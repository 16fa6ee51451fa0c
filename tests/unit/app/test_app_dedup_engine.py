"""The dedup core per tile: who reports which link and case, redelivery, snapshots."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from app_events import T0_MS, latlon_at, make_batch

from kernels.grid import pack_cells
from streams.contracts.fused import FLAG_BEYOND_STATE, FLAG_LATE, FLAG_REQUEST_UPDATE, FusedBatch
from streams.dedup.build import make_engine
from streams.dedup.engine import (
    DedupEngine,
    RecentIds,
    TileDedup,
    TileOutput,
    build_params,
    category_halos,
)
from streams.reference.categories import CategoryTable
from streams.settings import Settings

HOME = int(pack_cells([0], [0])[0])  # the tile x, y in [0, 2000) m of the origin
MIN = 60_000


def test_build_params_from_the_real_table(settings: Settings) -> None:
    table = CategoryTable.load()
    params = build_params(table, settings)
    assert params.n_categories == max(table.by_id) + 1
    for cat in table.by_id.values():
        assert params.radius_m[cat.id] == cat.radius_m
        assert params.window_ms[cat.id] == cat.window_s * 1000
        assert params.compat[cat.id, cat.id] == (cat.radius_m > 0)
        for other in cat.compatible_with:
            oid = table.by_key[other].id
            mergeable = cat.radius_m > 0 and table.by_key[other].radius_m > 0
            assert params.compat[cat.id, oid] == params.compat[oid, cat.id] == mergeable
    unused = [i for i in range(params.n_categories) if i not in table.by_id]
    assert unused, "the packaged table has gaps in its ids"
    assert not params.compat[unused].any()
    assert np.all(params.lateness_ms == settings.pipeline.allowed_lateness_s * 1000)
    assert np.all(params.recurrence_ms == settings.pipeline.recurrence_window_s * 1000)


def _scenario(engine: DedupEngine) -> FusedBatch:
    """Five events around tile HOME, canonically ordered.

    1001 opens a case, 1002 joins it; 2001 is a halo copy from the tile to the west that
    opens a case there, and home event 1003 (15 m away) joins that one; 1004 (another
    category, far away) opens its own case.
    """
    spec = engine.spec
    rows = [  # id, x m, y m, minutes after T0, category
        (1001, 1000.0, 1000.0, 0, 1),
        (2001, -10.0, 500.0, 1, 1),
        (1002, 1010.0, 1000.0, 2, 1),
        (1003, 5.0, 500.0, 3, 1),
        (1004, 1500.0, 1500.0, 4, 101),
    ]
    lat, lon = latlon_at(spec, [r[1] for r in rows], [r[2] for r in rows])
    t = [T0_MS + r[3] * MIN for r in rows]
    return make_batch(
        [r[0] for r in rows],
        [v + 1000 for v in t],
        event_time_ms=t,
        lat=lat,
        lon=lon,
        category=[r[4] for r in rows],
        reporter=[f"who-{r[0]}" for r in rows],
    )


def test_links_for_home_events_and_cases_they_opened(engine: DedupEngine) -> None:
    batch = _scenario(engine)
    home = engine.router.home_tiles(batch.events["lat"], batch.events["lon"])
    assert (home == HOME).tolist() == [True, False, True, True, True]
    out = engine.process(engine.new_tile(HOME), batch)
    links = out.links
    assert links["event_id"].tolist() == [1001, 1002, 1003, 1004]
    assert links["case_id"].tolist() == [1001, 1001, 2001, 1004]
    assert links["is_new"].tolist() == [1, 0, 0, 1]
    assert links["source_ref"] == ["ref-1001", "ref-1002", "ref-1003", "ref-1004"]
    assert out.n_links == 4
    cases = out.cases
    assert cases["case_id"].tolist() == [1001, 1004]
    assert cases["department"] == ["municipal", "sanitation"]
    assert cases["reporter"] == ["who-1001", "who-1004"]
    assert cases["opened_at_ms"].tolist() == batch.events["event_time_ms"][[0, 4]].tolist()
    assert len(out.duplicates) == out.beyond_state == 0
    # every column of a kind has one value per row
    assert {len(v) for v in links.values()} == {4}
    assert {len(v) for v in cases.values()} == {2}


def test_the_neighbour_tile_reports_the_halo_case(engine: DedupEngine) -> None:
    west = int(pack_cells([-1], [0])[0])
    batch = _scenario(engine)
    idx, tiles = engine.router.route(batch.events["lat"], batch.events["lon"])
    mine = batch.take(idx[tiles == west])
    assert mine.events["event_id"].tolist() == [2001, 1003]  # 1003 is a halo copy there
    out = engine.process(engine.new_tile(west), mine)
    assert out.links["event_id"].tolist() == [2001]
    assert out.cases["case_id"].tolist() == [2001]


def _snapshot(out: TileOutput) -> tuple[Any, ...]:
    def norm(cols: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            (k, v.tolist() if isinstance(v, np.ndarray) else list(v)) for k, v in cols.items()
        )

    return (
        norm(out.links),
        norm(out.cases),
        out.beyond_state,
        out.duplicates.events["event_id"].tolist(),
    )


def test_redelivered_batch_changes_nothing(engine: DedupEngine) -> None:
    batch = _scenario(engine)
    tile = engine.new_tile(HOME)
    engine.process(tile, batch)
    before = tile.to_bytes()
    again = engine.process(tile, batch)
    assert again.n_links == 0
    assert len(again.cases["case_id"]) == 0
    assert len(again.duplicates) == again.beyond_state == 0
    assert tile.to_bytes() == before
    # and a later event still joins the case as if nothing had happened
    lat, lon = latlon_at(engine.spec, [1005.0], [1000.0])
    later = make_batch([1006], [T0_MS + 10 * MIN], lat=lat, lon=lon, category=1)
    out = engine.process(tile, later)
    assert out.links["case_id"].tolist() == [1001]


def test_source_duplicate_comes_back_as_duplicate(engine: DedupEngine) -> None:
    batch = _scenario(engine)
    tile = engine.new_tile(HOME)
    engine.process(tile, batch)
    # 1002 and halo 2001 sent again by their source, arriving later
    resent = batch.take([2, 1])
    resent.events["ingest_time_ms"] += 5 * MIN
    out = engine.process(tile, resent)
    assert out.n_links == 0
    assert len(out.cases["case_id"]) == 0
    assert out.duplicates.events["event_id"].tolist() == [1002]  # 2001 is not home here
    assert out.duplicates.column("source_ref") == ["ref-1002"]


def test_a_request_update_sent_again_is_no_duplicate(engine: DedupEngine) -> None:
    """A hotline request re-published with an update reaches dedup after a normalizer
    restart forgot the request: intake sent the update on, and dedup drops the event."""
    batch = _scenario(engine)
    tile = engine.new_tile(HOME)
    engine.process(tile, batch)
    resent = batch.take([2, 3])
    resent.events["ingest_time_ms"] += 5 * MIN
    resent.events["flags"][0] |= FLAG_REQUEST_UPDATE
    out = engine.process(tile, resent)
    assert out.n_links == 0
    assert out.duplicates.events["event_id"].tolist() == [1003]  # 1002 was the update


def test_repeats_within_one_batch(engine: DedupEngine) -> None:
    lat, lon = latlon_at(engine.spec, [1000.0] * 4, [1000.0] * 4)
    # 7 twice with one arrival (a redelivery), 8 again two minutes later (sent again)
    batch = make_batch(
        [7, 8, 7, 8], [T0_MS, T0_MS + 1, T0_MS, T0_MS + 2 * MIN], lat=lat, lon=lon, category=1
    )
    tile = engine.new_tile(HOME)
    out = engine.process(tile, batch)
    assert sorted(out.links["event_id"].tolist()) == [7, 8]
    assert out.duplicates.events["event_id"].tolist() == [8]
    assert out.duplicates.events["ingest_time_ms"].tolist() == [T0_MS + 2 * MIN]
    assert tile.recent.as_dict() == {7: T0_MS, 8: T0_MS + 1}


def test_recent_ids_forget_beyond_the_horizon() -> None:
    recent = RecentIds()
    recent.remember(np.array([30, 10], np.uint64), np.array([5, 1], np.int64), oldest=0)
    recent.remember(np.array([20], np.uint64), np.array([9], np.int64), oldest=4)
    assert recent.as_dict() == {20: 9, 30: 5}
    known, arrival = recent.lookup(np.array([10, 20, 31], np.uint64))
    assert known.tolist() == [False, True, False]
    assert arrival[1] == 9
    with pytest.raises(ValueError, match="increasing"):
        RecentIds(np.array([2, 1], np.uint64), np.array([0, 0], np.int64))


def _late_setup(engine: DedupEngine, late_by_ms: int) -> tuple[TileDedup, FusedBatch]:
    """Case 1001 opened at T0; 1500 (far off) moves the tile on by ``late_by_ms``; then
    1002, near 1001 and a minute after it, arrives with its tile that far ahead."""
    tile = engine.new_tile(HOME)
    lat, lon = latlon_at(engine.spec, [1000.0, 1500.0], [1000.0, 1500.0])
    ahead = T0_MS + late_by_ms
    engine.process(
        tile, make_batch([1001], [T0_MS + 1000], event_time_ms=[T0_MS], lat=lat[:1], lon=lon[:1])
    )
    engine.process(tile, make_batch([1500], [ahead], lat=lat[1:], lon=lon[1:], category=101))
    lat, lon = latlon_at(engine.spec, [1010.0], [1000.0])
    late = make_batch(
        [1002], [ahead + MIN], event_time_ms=[T0_MS + MIN], lat=lat, lon=lon, flags=FLAG_LATE
    )
    return tile, late


def test_a_late_event_joins_the_case_it_belongs_to(engine: DedupEngine) -> None:
    # three days late: within the default reach of the state (a week)
    tile, late = _late_setup(engine, 3 * 86_400_000)
    out = engine.process(tile, late)
    assert out.links["case_id"].tolist() == [1001]
    assert out.links["is_new"].tolist() == [0]
    assert out.links["flags"].tolist() == [FLAG_LATE]
    assert out.beyond_state == 0 and len(out.cases["case_id"]) == 0


def test_an_event_beyond_the_state_opens_a_case_of_its_own(settings: Settings) -> None:
    engine = make_engine(settings.replace(allowed_lateness_s=86_400))
    tile, late = _late_setup(engine, 3 * 86_400_000)
    cases_before = tile.state.n
    out = engine.process(tile, late)
    assert out.links["event_id"].tolist() == out.links["case_id"].tolist() == [1002]
    assert out.links["is_new"].tolist() == [1]
    assert out.links["flags"].tolist() == [FLAG_LATE | FLAG_BEYOND_STATE]
    assert out.cases["case_id"].tolist() == [1002]
    assert out.cases["flags"].tolist() == [FLAG_LATE | FLAG_BEYOND_STATE]
    assert out.beyond_state == 1
    assert tile.state.n == cases_before  # not stored: the state does not reach back there
    assert engine.process(tile, late).n_links == 0  # redelivered: changes nothing


def _feed(engine: DedupEngine, n: int, seed: int) -> FusedBatch:
    """A seeded feed inside tile HOME: hotspots, mixed categories, over four days."""
    rng = np.random.default_rng(seed)
    spots = rng.uniform(300.0, 1700.0, size=(12, 2))
    which = rng.integers(0, len(spots), size=n)
    xy = spots[which] + rng.normal(0.0, 12.0, size=(n, 2))
    lat, lon = latlon_at(engine.spec, xy[:, 0].tolist(), xy[:, 1].tolist())
    cats = np.array([1, 2, 3, 101, 102])[which % 5]
    ingest = np.sort(T0_MS + rng.integers(0, 4 * 86_400_000, size=n))
    event_t = ingest - rng.integers(0, 3_600_000, size=n)
    # ids above 2**63 too: the id column is unsigned all the way through
    ids = rng.integers(1, 2**64 - 1, size=n, dtype=np.uint64)
    assert len(set(ids.tolist())) == n
    return make_batch(
        ids.tolist(),
        ingest.tolist(),
        event_time_ms=event_t.tolist(),
        lat=lat,
        lon=lon,
        category=cats.tolist(),
    )


@pytest.mark.parametrize("cut", [1, 13, 29])
def test_snapshot_restore_continues_identically(engine: DedupEngine, cut: int) -> None:
    feed = _feed(engine, 400, seed=11)
    chunks = [feed.take(np.arange(i, min(i + 10, len(feed)))) for i in range(0, len(feed), 10)]
    straight = engine.new_tile(HOME)
    expected = [_snapshot(engine.process(straight, c)) for c in chunks]
    assert sum(len(e[0][0][1]) for e in expected) == len(feed)  # all home, all linked
    assert sum(len(e[1][0][1]) for e in expected) < len(feed) // 2  # merging happened

    tile = engine.new_tile(HOME)
    got = [_snapshot(engine.process(tile, c)) for c in chunks[:cut]]
    restored = TileDedup.from_bytes(tile.to_bytes())
    assert restored.tile == HOME
    assert restored.recent == tile.recent
    # the restored tile still recognises the last chunk as a redelivery
    assert engine.process(restored, chunks[cut - 1]).n_links == 0
    got += [_snapshot(engine.process(restored, c)) for c in chunks[cut:]]
    assert got == expected


def test_bad_snapshot_is_refused() -> None:
    with pytest.raises(ValueError, match="snapshot"):
        TileDedup.from_bytes(b"not a snapshot at all, really")


def test_category_halos_follow_the_radii_of_what_merges(engine: DedupEngine) -> None:
    halos = category_halos(engine.params)
    # (categories.csv) manhole covers merge among themselves at 25 m; C0103 also merges
    # with E0111, a 300 m category, so it needs that category's reach; C0118 merges only
    # with itself at 15 m
    assert halos[1] == 50.0
    assert halos[3] == 600.0
    assert halos[103] == 600.0
    assert halos[6] == 30.0
    assert engine.router.halo_m == halos.max() == 600.0


def test_tile_batches_route_each_event_by_its_category(engine: DedupEngine) -> None:
    small, wide = (int(np.argmin(engine.halo_m[1:])) + 1), int(np.argmax(engine.halo_m))
    near_border = float(engine.halo_m[small]) + 1.0  # outside the small halo only
    lat, lon = latlon_at(engine.spec, [near_border] * 2, [1000.0] * 2)
    batch = make_batch([1, 2], [T0_MS, T0_MS], lat=lat, lon=lon, category=[small, wide])
    copies = sorted((tile, b.events["event_id"].tolist()) for tile, b in engine.tile_batches(batch))
    home = int(engine.router.home_tiles(lat[:1], lon[:1])[0])
    assert copies == sorted([(home, [1, 2]), (home - (1 << 32), [2])])


def test_snapshots_with_unsorted_recent_ids_still_load(engine: DedupEngine) -> None:
    """Earlier snapshots stored the recent ids in arrival order, not sorted."""
    tile = engine.new_tile(HOME)
    data = bytearray(tile.to_bytes())
    head = struct.Struct("<8sqQQ")
    magic, tile_id, _, n_kernel = head.unpack_from(data)
    ids = np.array([30, 10, 20], "<u8")
    times = np.array([3, 1, 2], "<i8")
    kernel = bytes(data[head.size : head.size + n_kernel])
    old = head.pack(magic, tile_id, 3, n_kernel) + kernel + ids.tobytes() + times.tobytes()
    restored = TileDedup.from_bytes(old)
    assert restored.recent.as_dict() == {10: 1, 20: 2, 30: 3}
    assert restored.recent.ids.tolist() == [10, 20, 30]
