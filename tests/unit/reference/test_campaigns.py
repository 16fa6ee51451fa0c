"""The campaign calendar: the packaged file, the simulator's themes, a campaign's unit grids,
and refusals naming the line."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from kernels import GridSpec
from kernels.unitgrid import UnitGridIndex
from streams.reference.campaigns import (
    CAMPAIGN_COLUMNS,
    Campaign,
    CampaignError,
    CampaignTable,
    area_grids,
    default_campaigns_path,
)
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork

HEADER = ",".join(CAMPAIGN_COLUMNS) + "\n"
GOOD = "2024-05-dogs,dogs,文明养犬,dog keeping,E0102,泰山路;黎阳路,,2024-05-01,2024-05-31,,\n"
STREETS = ("泰山路", "黎阳路", "淮河路")


def _table(tmp_path: Path, rows: str, **kwargs: object) -> CampaignTable:
    path = tmp_path / "campaigns.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return CampaignTable.load(path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def qibin() -> tuple[StreetNetwork, UnitGridIndex]:
    district = District.load("qibin")
    assert district.unit_grids_path is not None
    grids = UnitGridIndex.from_geojson(district.unit_grids_path, GridSpec(*district.origin))
    return StreetNetwork.for_district(district), grids


def test_the_packaged_calendar_is_one_theme_a_month_of_known_categories() -> None:
    table = CampaignTable.load()
    assert table.path == default_campaigns_path()
    keys = CategoryTable.load().by_key
    assert len(table) >= 2
    for campaign in table:
        assert set(campaign.categories) <= set(keys)
        assert campaign.start.day == 1 and campaign.end.month == campaign.start.month
        assert campaign.whole_district and campaign.name_zh and campaign.name_en
    august = table.running_on(date(2023, 8, 15))
    assert [c.theme for c in august] == ["street_vending"]
    assert august[0].days == 31 and august[0].categories == ("E0501", "E0504", "E0510")
    themes = table.themes()
    assert themes["small_ads"] == ("E0201",)
    assert table.running_on(date(2023, 7, 31)) == []


def test_a_row_with_streets_and_no_target(tmp_path: Path) -> None:
    table = _table(tmp_path, GOOD, streets=STREETS)
    dogs = table["2024-05-dogs"]
    assert isinstance(dogs, Campaign) and "2024-05-dogs" in table and list(table) == [dogs]
    assert dogs.streets == ("泰山路", "黎阳路") and dogs.areas == () and not dogs.whole_district
    assert (dogs.target_metric, dogs.target_value) == ("", 0.0)
    assert dogs.running_on(date(2024, 5, 31)) and not dogs.running_on(date(2024, 6, 1))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",dogs,a,b,E0102,,,2024-05-01,2024-05-31,,", "campaign_id is empty"),
        ("x y,dogs,a,b,E0102,,,2024-05-01,2024-05-31,,", "campaign_id 'x y' may only"),
        ("c1,Dogs,a,b,E0102,,,2024-05-01,2024-05-31,,", "theme 'Dogs' may only"),
        ("c1,dogs,,b,E0102,,,2024-05-01,2024-05-31,,", "name_zh is empty"),
        ("c1,dogs,a,b,,,,2024-05-01,2024-05-31,,", "categories is empty"),
        ("c1,dogs,a,b,E9999,,,2024-05-01,2024-05-31,,", r"categories \['E9999'\] not in"),
        ("c1,dogs,a,b,E0102;E0102,,,2024-05-01,2024-05-31,,", "categories lists a value twice"),
        ("c1,dogs,a,b,E0102,长安街,,2024-05-01,2024-05-31,,", "长安街.* not in the street net"),
        ("c1,dogs,a,b,E0102,,4106110,2024-05-01,2024-05-31,,", "'4106110' is not a 9-digit"),
        ("c1,dogs,a,b,E0102,,,2024-5-1,2024-05-31,,", "start '2024-5-1' is not a date"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,,,", "end '' is not a date"),
        ("c1,dogs,a,b,E0102,,,2024-05-31,2024-05-01,,", "ends .2024-05-01. before it starts"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,2024-05-31,speed,90", "target_metric 'speed' is not"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,2024-05-31,closure_rate,", "target_value '' is not a"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,2024-05-31,,90", "target_metric '' is not one"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,2024-05-31,closure_rate,120", "not a percentage in"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,2024-05-31,after_share_45,50", "'after_share_45'"),
        ("c1,dogs,a,b,E0102,,,2024-05-01,2024-05-31,,,extra", "more cells than columns"),
    ],
)
def test_a_bad_row_is_refused_naming_its_line(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(CampaignError, match=f"campaigns.csv:3: .*{message}"):
        _table(tmp_path, GOOD + row + "\n", streets=STREETS)


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CampaignError, match=r"csv:3: campaign 2024-05-dogs is listed twice"):
        _table(tmp_path, GOOD + GOOD)
    other = GOOD.replace("2024-05-dogs", "2025-05-dogs").replace("E0102", "E0102;E0507")
    with pytest.raises(CampaignError, match=r"theme dogs targets \['E0102'\] in an earlier row"):
        _table(tmp_path, GOOD + other)
    assert len(_table(tmp_path, "").campaigns) == 0  # the header alone: no campaign yet
    with pytest.raises(CampaignError, match="does not exist"):
        CampaignTable.load(tmp_path / "none.csv")
    (tmp_path / "short.csv").write_text("campaign_id,theme\n", encoding="utf-8")
    with pytest.raises(CampaignError, match="missing column"):
        CampaignTable.load(tmp_path / "short.csv")


def test_a_campaigns_area_is_its_streets_grids_and_its_units_grids(
    tmp_path: Path, qibin: tuple[StreetNetwork, UnitGridIndex]
) -> None:
    network, grids = qibin
    rows = GOOD + "c2,parking,a,b,E0505,,410611001;410611002003,2024-06-01,2024-06-30,,\n"
    table = _table(tmp_path, rows, streets=set(network.streets().values()))
    assert area_grids(CampaignTable.load().campaigns["2023-08-street_vending"], network, grids) == (
        frozenset()
    )
    on_streets = area_grids(table["2024-05-dogs"], network, grids)
    # every grid a point of the two streets' centre lines falls in is the campaign's
    for seg in network.segments:
        if seg.street_name in ("泰山路", "黎阳路"):
            lon, lat = zip(*seg.coords, strict=True)
            hit = {str(c) for c in grids.lookup(list(lat), list(lon)).tolist() if c}
            assert hit <= on_streets
    taishan = area_grids(replace(table["2024-05-dogs"], streets=("泰山路",)), network, grids)
    assert taishan and taishan < on_streets
    all_codes = {str(c) for c, _ in grids.polygons()}
    assert len(on_streets) < len(all_codes) // 4  # two streets, not the district
    units = area_grids(table["c2"], network, grids)
    assert units == {c for c in all_codes if c.startswith(("410611001", "410611002003"))}
    missing = _table(tmp_path, "c3,x,a,b,E0505,,410611999,2024-06-01,2024-06-30,,\n")
    with pytest.raises(CampaignError, match="no unit grid in area 410611999"):
        area_grids(missing["c3"], network, grids)
    nowhere = _table(tmp_path, "c4,x,a,b,E0505,长安街,,2024-06-01,2024-06-30,,\n")
    with pytest.raises(CampaignError, match="street '长安街' is not in the street network"):
        area_grids(nowhere["c4"], network, grids)
