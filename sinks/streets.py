"""The district's street network (its streets GeoJSON) as the ``street_segments`` table.

The sink role loads it when its worker starts (streams/app/sink_agent.py). Idempotent:
when the table's newest revision already holds exactly the file's segments nothing is
written; otherwise every segment of the file is written with the next revision. A segment
dropped from a newer file keeps its old row: the newest network is the rows of the
highest revision.
"""

from __future__ import annotations

from typing import Any

from clickhouse_driver import errors as ch_errors

from sinks.base import StoreUnavailable
from sinks.clickhouse import make_client
from sinks.sql import check_identifier
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = ["load_street_segments", "street_rows"]

_COLUMNS = ("segment_id", "street_id", "street_name", "length_m")


def street_rows(network: StreetNetwork) -> set[tuple[int, str, str, float]]:
    return {(s.segment_id, s.street_id, s.street_name, s.length_m) for s in network.segments}


def load_street_segments(settings: Settings, database: str | None = None) -> int:
    """Write the district's street network if the table does not hold it yet; the number
    of rows written. ClickHouse unreachable: :class:`StoreUnavailable`."""
    db = check_identifier(database or settings.clickhouse.database)
    wanted = street_rows(StreetNetwork.for_district(District.load(settings.pipeline.district)))
    client = make_client(settings, use_numpy=False)
    try:
        stored: list[Any] = client.execute(
            f"SELECT {', '.join(_COLUMNS)}, revision FROM {db}.street_segments FINAL"
        )
        revision = max((int(r[4]) for r in stored), default=0)
        newest = {(int(r[0]), r[1], r[2], float(r[3])) for r in stored if int(r[4]) == revision}
        if stored and newest == wanted:
            return 0
        rows = [(*row, revision + 1) for row in sorted(wanted)]
        client.execute(
            f"INSERT INTO {db}.street_segments ({', '.join(_COLUMNS)}, revision) VALUES", rows
        )
        return len(rows)
    except (ch_errors.NetworkError, ch_errors.SocketTimeoutError, EOFError, OSError) as exc:
        raise StoreUnavailable(f"ClickHouse is unreachable: {exc}") from exc
    finally:
        client.disconnect()
