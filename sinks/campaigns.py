"""The campaign calendar (streams/data/campaigns.csv) as the ``campaigns`` and
``campaign_scope`` tables (migration 0012).

The sink role loads them when its worker starts, beside the street network
(sinks/streets.py, same rule: nothing is written while each table's newest revision holds
exactly the file's rows, else the file's rows with the next revision). A campaign's area
goes to the store as the unit grids of its streets and sub-districts or communities
(:func:`streams.reference.campaigns.area_grids`), so the views match cases on their grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernels import GridSpec
from kernels.unitgrid import UnitGridIndex
from streams.reference.campaigns import Campaign, CampaignError, CampaignTable, area_grids
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = [
    "campaign_rows",
    "grid_resolver",
    "load_campaign_table",
    "scope_rows",
    "wanted_rows",
]

Row = dict[str, Any]


def _joined(values: tuple[str, ...]) -> str:
    return ";".join(values)


def campaign_rows(table: CampaignTable) -> list[Row]:
    """The ``campaigns`` rows, without their revision."""
    return [
        {
            "campaign_id": c.campaign_id,
            "theme": c.theme,
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "categories": _joined(c.categories),
            "streets": _joined(c.streets),
            "areas": _joined(c.areas),
            "whole_district": int(c.whole_district),
            "start_date": c.start,
            "end_date": c.end,
            "target_metric": c.target_metric,
            "target_value": c.target_value,
        }
        for c in table
    ]


def scope_rows(table: CampaignTable, grids_of: Callable[[Campaign], frozenset[str]]) -> list[Row]:
    """The ``campaign_scope`` rows, without their revision: a row per category of a
    campaign, and one per unit grid of its area."""
    rows = [
        {"campaign_id": c.campaign_id, "category_key": key, "grid_code": ""}
        for c in table
        for key in c.categories
    ]
    for c in table:
        rows.extend(
            {"campaign_id": c.campaign_id, "category_key": "", "grid_code": grid}
            for grid in sorted(grids_of(c))
        )
    return rows


def load_campaign_table(settings: Settings, network: StreetNetwork) -> CampaignTable:
    """The configured calendar, checked against the configured categories and the district's
    street network."""
    categories = CategoryTable.load(
        settings.pipeline.categories_file, settings.pipeline.category_code_digits
    )
    streets = {s.street_name for s in network.segments}
    return CampaignTable.load(settings.pipeline.campaigns_file, categories.by_key, streets)


def grid_resolver(
    district: District, network: StreetNetwork
) -> Callable[[Campaign], frozenset[str]]:
    """A campaign's unit grids on the district's unit-grid file (the one the sink gives
    events their grid code with); a district without one has only whole-district campaigns."""
    path = district.unit_grids_path
    grids = UnitGridIndex.from_geojson(path, GridSpec(*district.origin)) if path else None

    def grids_of(campaign: Campaign) -> frozenset[str]:
        if campaign.whole_district:
            return frozenset()
        if grids is None:
            raise CampaignError(
                f"campaign {campaign.campaign_id} has an area but district {district.name} "
                "names no unit-grid file"
            )
        return area_grids(campaign, network, grids)

    return grids_of


def wanted_rows(
    settings: Settings, district: District, network: StreetNetwork
) -> dict[str, list[Row]]:
    """table -> the rows (without revision) the calendar asks the store to hold."""
    table = load_campaign_table(settings, network)
    return {
        "campaigns": campaign_rows(table),
        "campaign_scope": scope_rows(table, grid_resolver(district, network)),
    }
