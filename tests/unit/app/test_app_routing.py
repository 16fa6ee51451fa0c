"""Tile routing: each event once in its home tile, plus halo copies near tile borders.

The expected halo tiles are found by brute force: the distance (in projected metres) from
the event to each of the 8 neighbouring tile squares, measured along each axis separately
(a corner tile needs the event within the halo of both borders it shares with it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from app_events import latlon_at, make_batch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.grid import GridSpec, pack_cells, project
from streams.dedup.routing import TileRouter

SPEC = GridSpec(35.7330, 114.2950, 100.0)
TILE = 2000.0
_TIE_M = 1e-6  # closer than this to the halo edge, float rounding decides: not checked


def _brute_force(
    router: TileRouter, lat: np.ndarray, lon: np.ndarray
) -> tuple[list[set[int]], list[bool]]:
    """Expected tiles of each event, and whether it sits too near a halo edge to judge."""
    x, y = project(lat, lon, router.spec)
    t, h = router.tile_size_m, router.halo_m
    out, ties = [], []
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        tx, ty = math.floor(xi / t), math.floor(yi / t)
        tiles = {int(pack_cells([tx], [ty])[0])}
        tie = False
        for ox in (-1, 0, 1):
            for oy in (-1, 0, 1):
                if ox == oy == 0:
                    continue
                x0, y0 = (tx + ox) * t, (ty + oy) * t
                gap_x = max(x0 - xi, 0.0, xi - (x0 + t))
                gap_y = max(y0 - yi, 0.0, yi - (y0 + t))
                gap = max(gap_x, gap_y)
                tie |= abs(gap - h) < _TIE_M
                if gap <= h:
                    tiles.add(int(pack_cells([tx + ox], [ty + oy])[0]))
        out.append(tiles)
        ties.append(tie)
    return out, ties


def _check(router: TileRouter, lat: np.ndarray, lon: np.ndarray) -> None:
    idx, tiles = router.route(lat, lon)
    assert len(idx) == len(tiles)
    # sorted by tile, then event index
    assert np.all(np.lexsort((idx, tiles)) == np.arange(len(idx)))
    home = router.home_tiles(lat, lon)
    expected, ties = _brute_force(router, lat, lon)
    for i in range(len(lat)):
        got = tiles[idx == i].tolist()
        assert len(got) == len(set(got)), f"event {i} routed twice to one tile"
        assert home[i] in got
        if not ties[i]:
            assert set(got) == expected[i], f"event {i}"


def test_interior_edge_and_corner_events() -> None:
    router = TileRouter(SPEC, TILE, 300.0)
    # (x, y) in metres: centre, near each edge, near each corner, just outside the halo,
    # and the same pattern in a tile with negative indices
    pts = [
        (1000, 1000),
        (100, 1000),
        (1900, 1000),
        (1000, 100),
        (1000, 1900),
        (50, 50),
        (1950, 1950),
        (50, 1950),
        (1950, 50),
        (301, 1000),
        (50, 400),
        (-50, -1950),
        (-3990, 3999),
    ]
    lat, lon = latlon_at(SPEC, [p[0] for p in pts], [p[1] for p in pts])
    la, lo = np.array(lat), np.array(lon)
    idx, _ = router.route(la, lo)
    counts = np.bincount(idx, minlength=len(pts)).tolist()
    assert counts == [1, 2, 2, 2, 2, 4, 4, 4, 4, 1, 2, 4, 4]
    _check(router, la, lo)


def test_zero_halo_routes_home_only() -> None:
    router = TileRouter(SPEC, TILE, 0.0)
    lat, lon = latlon_at(SPEC, [1.0, 1999.0, -500.0], [1.0, 3.0, 10.0])
    idx, tiles = router.route(lat, lon)
    assert sorted(idx.tolist()) == [0, 1, 2]
    home = router.home_tiles(lat, lon)
    assert [int(home[i]) for i in idx.tolist()] == tiles.tolist()
    assert len(set(home.tolist())) == 2  # x = 1 and 1999 share tile 0


def test_empty_input() -> None:
    idx, tiles = TileRouter(SPEC, TILE, 100.0).route(np.array([]), np.array([]))
    assert idx.size == tiles.size == 0


@pytest.mark.parametrize("halo", [-1.0, 1000.0, 1500.0, float("nan")])
def test_invalid_halo_is_refused(halo: float) -> None:
    with pytest.raises(ValueError, match="halo"):
        TileRouter(SPEC, TILE, halo)


@settings(max_examples=60, deadline=None)
@given(
    halo=st.floats(0.0, 999.0),
    xy=st.lists(
        st.tuples(st.floats(-6000.0, 6000.0), st.floats(-6000.0, 6000.0)),
        min_size=1,
        max_size=40,
    ),
)
def test_route_matches_brute_force(halo: float, xy: list[tuple[float, float]]) -> None:
    router = TileRouter(SPEC, TILE, halo)
    lat, lon = latlon_at(SPEC, [p[0] for p in xy], [p[1] for p in xy])
    _check(router, np.array(lat), np.array(lon))


def test_per_event_halos_narrow_the_copies() -> None:
    router = TileRouter(SPEC, TILE, 300.0)
    # both 100 m from the western border: copied with a 300 m halo, not with a 50 m one
    lat, lon = latlon_at(SPEC, [100.0, 100.0], [1000.0, 1000.0])
    idx, _ = router.route(lat, lon, np.array([300.0, 50.0]))
    assert np.bincount(idx, minlength=2).tolist() == [2, 1]
    with pytest.raises(ValueError, match="per-event halos"):
        router.route(lat, lon, np.array([301.0, 0.0]))  # wider than the router's halo
    with pytest.raises(ValueError, match="per-event halos"):
        router.route(lat, lon, np.array([10.0]))


def test_split_blanks_the_strings_of_halo_copies() -> None:
    router = TileRouter(SPEC, TILE, 300.0)
    lat, lon = latlon_at(SPEC, [100.0, 1000.0, 2100.0], [1000.0, 1000.0, 1000.0])
    batch = make_batch([1, 2, 3], [10, 11, 12], lat=lat, lon=lon, reporter=["a", "b", "c"])
    parts = dict(router.split(batch))
    west = int(router.home_tiles(lat[:1], lon[:1])[0])
    east = int(router.home_tiles(lat[2:], lon[2:])[0])
    assert set(parts) == {west, east, west - (1 << 32)}  # the western neighbour's halo
    assert parts[west].events["event_id"].tolist() == [1, 2, 3]
    # 3 lives east (a halo copy here), 1 is home here and a halo copy in the west
    assert parts[west].column("source_ref") == ["ref-1", "ref-2", ""]
    assert parts[west].column("reporter") == ["a", "b", ""]
    assert parts[east].events["event_id"].tolist() == [3]
    assert parts[east].column("reporter") == ["c"]  # its home: strings kept
    assert parts[west - (1 << 32)].column("source_ref") == [""]
    assert parts[west - (1 << 32)].events["lat"].tolist() == [lat[0]]  # fixed columns kept
    assert router.split(batch.take(np.array([], dtype=np.int64))) == []
