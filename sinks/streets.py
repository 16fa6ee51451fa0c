"""The district's street network (its streets GeoJSON) as the ``street_segments`` table,
the inspector roster's home areas as ``inspector_areas``, and the campaign calendar as
``campaigns`` and ``campaign_scope`` (sinks/campaigns.py).

The sink role loads them when its worker starts (streams/app/sink_agent.py). Idempotent:
when a table's newest revision already holds exactly the file's rows nothing is written;
otherwise every row of the file is written with the next revision. A row dropped from a
newer file keeps its old revision: the current file is the rows of the highest revision
(the KPI views read only those). The campaign calendar's two tables are one calendar,
loaded together with one revision and then committed (sinks/campaigns.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sinks.base import StoreUnavailable
from sinks.campaigns import wanted_rows, write_calendar
from sinks.clickhouse import UNREACHABLE_ERRORS, make_client
from sinks.records import inspector_area_rows
from sinks.sql import check_identifier
from streams.reference.geo import District
from streams.reference.inspectors import InspectorRoster
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = [
    "load_campaigns",
    "load_inspector_areas",
    "load_reference_tables",
    "load_street_segments",
    "street_rows",
]

_COLUMNS = ("segment_id", "street_id", "street_name", "length_m")
_AREA_COLUMNS = ("inspector_id", "level", "department", "street_id", "grid_code")


def street_rows(network: StreetNetwork) -> set[tuple[int, str, str, float]]:
    return {(s.segment_id, s.street_id, s.street_name, s.length_m) for s in network.segments}


def load_reference_tables(settings: Settings, database: str | None = None) -> dict[str, int]:
    """Load the street network, the inspectors' home areas and the campaign calendar; rows
    written per table."""
    district = District.load(settings.pipeline.district)
    network = StreetNetwork.for_district(district)
    return {
        "street_segments": load_street_segments(settings, database, network),
        "inspector_areas": load_inspector_areas(settings, database, network),
        **load_campaigns(settings, database, district, network),
    }


def load_street_segments(
    settings: Settings, database: str | None = None, network: StreetNetwork | None = None
) -> int:
    """Write the district's street network (``network``, else the district's file) if the
    table does not hold it yet; the number of rows written. ClickHouse unreachable:
    :class:`StoreUnavailable`."""
    network = network or StreetNetwork.for_district(District.load(settings.pipeline.district))
    return _load_revision(settings, database, "street_segments", _COLUMNS, street_rows(network))


def load_inspector_areas(
    settings: Settings, database: str | None = None, network: StreetNetwork | None = None
) -> int:
    """Write the roster's home areas (``inspector_areas``) if the table does not hold them
    yet; the number of rows written."""
    network = network or StreetNetwork.for_district(District.load(settings.pipeline.district))
    roster = InspectorRoster.load(settings.patrol.roster_file)
    names = {s.street_id: s.street_name for s in network.segments}
    rows = inspector_area_rows(roster, names, revision=0)
    wanted = {tuple(r[c] for c in _AREA_COLUMNS) for r in rows}
    return _load_revision(settings, database, "inspector_areas", _AREA_COLUMNS, wanted)


def load_campaigns(
    settings: Settings,
    database: str | None = None,
    district: District | None = None,
    network: StreetNetwork | None = None,
) -> dict[str, int]:
    """Write the campaign calendar (``campaigns``, ``campaign_scope``, both with one
    revision: :func:`sinks.campaigns.write_calendar`) unless it is the one in force; the
    number of rows written per table."""
    district = district or District.load(settings.pipeline.district)
    network = network or StreetNetwork.for_district(district)
    wanted = wanted_rows(settings, district, network)
    with _client(settings) as client:
        return write_calendar(client, database or settings.clickhouse.database, wanted)


@contextmanager
def _client(settings: Settings) -> Iterator[Any]:
    """A clickhouse-driver client for one load, disconnected after it; ClickHouse
    unreachable: :class:`StoreUnavailable`."""
    client = make_client(settings, use_numpy=False)
    try:
        yield client
    except UNREACHABLE_ERRORS as exc:
        raise StoreUnavailable(f"ClickHouse is unreachable: {exc}") from exc
    finally:
        client.disconnect()


def _load_revision(
    settings: Settings,
    database: str | None,
    table: str,
    columns: tuple[str, ...],
    wanted: set[tuple[Any, ...]],
) -> int:
    db = check_identifier(database or settings.clickhouse.database)
    names = ", ".join(columns)
    with _client(settings) as client:
        stored: list[Any] = client.execute(f"SELECT {names}, revision FROM {db}.{table} FINAL")
        revision = max((int(r[-1]) for r in stored), default=0)
        # the driver gives back the Python types the rows were built with
        newest = {tuple(r[:-1]) for r in stored if int(r[-1]) == revision}
        if stored and newest == wanted:
            return 0
        rows = [(*row, revision + 1) for row in sorted(wanted)]
        client.execute(f"INSERT INTO {db}.{table} ({names}, revision) VALUES", rows)
        return len(rows)
