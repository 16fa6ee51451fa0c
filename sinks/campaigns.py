"""The campaign calendar (streams/data/campaigns.csv) as the ``campaigns`` and
``campaign_scope`` tables (migrations 0012, 0022).

The sink role loads them when its worker starts, beside the street network
(sinks/streets.py). The two tables are one calendar: a load writes both with one revision
and then commits it with a row in ``campaign_loads`` (:func:`write_calendar`); the views
read the revision of the newest commit, so a reader sees a load whole or not at all, and
a calendar emptied in the file is in force empty (migration 0023). A campaign's area goes
to the store as the unit grids of its streets and sub-districts or communities
(:func:`streams.reference.campaigns.area_grids`), so the views match cases on their grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kernels import GridSpec
from kernels.unitgrid import UnitGridIndex
from sinks.sql import check_identifier
from sinks.tables import TABLES
from streams.reference.campaigns import Campaign, CampaignError, CampaignTable, area_grids
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = [
    "CALENDAR_IN_FORCE",
    "CALENDAR_LOADS",
    "CALENDAR_TABLES",
    "CALENDAR_WRITES",
    "RowClient",
    "campaign_rows",
    "grid_resolver",
    "load_campaign_table",
    "scope_rows",
    "wanted_rows",
    "write_calendar",
]

Row = dict[str, Any]
# the calendar's tables in the order a load writes them (either order is safe: the views
# read only a committed revision)
CALENDAR_TABLES = ("campaigns", "campaign_scope")
# a load's commit, written after both tables, and the view of the newest one's revision:
# the calendar in force (migration 0023)
CALENDAR_LOADS = "campaign_loads"
CALENDAR_IN_FORCE = "campaign_calendar_in_force"
# every table a load writes, in its order
CALENDAR_WRITES = (*CALENDAR_TABLES, CALENDAR_LOADS)


class RowClient(Protocol):
    """What the loader needs of a clickhouse-driver ``Client``: a SELECT gives tuples, an
    INSERT takes its rows as ``params``."""

    def execute(self, query: str, params: Any = None) -> Any: ...


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


def _columns(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in TABLES[table] if c.name != "revision")


def _rows_of(client: RowClient, db: str, table: str, revision: int) -> set[tuple[Any, ...]]:
    """The rows of ``table`` written with ``revision`` (a set: a load two sinks ran at once
    wrote its rows twice; the driver gives back the Python types the rows were built
    with)."""
    names = ", ".join(_columns(table))
    rows = client.execute(f"SELECT {names} FROM {db}.{table} WHERE revision = {int(revision)}")
    return {tuple(row) for row in rows}


def _latest_revision(client: RowClient, db: str, table: str) -> int:
    return int(client.execute(f"SELECT max(revision) FROM {db}.{table}")[0][0])


def _in_force(client: RowClient, db: str) -> int:
    """The revision of the calendar in force (0: none), by the views' own rule."""
    return int(client.execute(f"SELECT revision FROM {db}.{CALENDAR_IN_FORCE}")[0][0])


def write_calendar(
    client: RowClient, database: str, wanted: Mapping[str, list[Row]]
) -> dict[str, int]:
    """Write the calendar ``wanted`` (table -> rows without revision, :func:`wanted_rows`)
    unless it is the one in force; the number of rows written per table.

    In force is the revision of the newest commit in ``campaign_loads`` (what the views
    read; none: no calendar). When either table's rows there differ from the file, both
    tables are written whole with a new revision, above every revision stored or committed,
    and then the revision is committed. A load that stopped before its commit is never in
    force and its revision is never used again; an empty calendar is a commit with no row."""
    db = check_identifier(database)
    in_force = _in_force(client, db)
    want = {t: {tuple(r[c] for c in _columns(t)) for r in wanted[t]} for t in CALENDAR_TABLES}
    if all(_rows_of(client, db, t, in_force) == want[t] for t in CALENDAR_TABLES):
        return dict.fromkeys(CALENDAR_TABLES, 0)
    revision = 1 + max(in_force, *(_latest_revision(client, db, t) for t in CALENDAR_TABLES))
    written = {}
    for table in CALENDAR_TABLES:
        rows = [(*row, revision) for row in sorted(want[table])]
        names = ", ".join((*_columns(table), "revision"))
        if rows:
            client.execute(f"INSERT INTO {db}.{table} ({names}) VALUES", rows)
        written[table] = len(rows)
    client.execute(
        f"INSERT INTO {db}.{CALENDAR_LOADS} (revision, loaded_at) SELECT {revision}, now()"
    )
    return written
