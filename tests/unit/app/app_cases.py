"""Case rows as the dedup agent emits them: engine output through the columnar codec."""

from __future__ import annotations

from typing import Any

from app_events import T0_MS, latlon_at, make_batch

from kernels.grid import pack_cells
from streams.contracts.columnar import decode_columns, encode_columns, rows
from streams.contracts.fused import FLAG_FIXED_ON_SPOT, Source
from streams.dedup.engine import DedupEngine

SENSOR_CASE = 501  # a manhole cover alarm (C0101, municipal, 2 clock hours)
PATROL_CASE = 502  # exposed garbage fixed on the spot by an inspector (E0102, sanitation)
INSPECTOR = "INS-017"
# 461 m east, 1091 m north of the origin: inside one of Qibin's unit grids
SENSOR_XY = (461.0, 1091.0)


def case_rows(engine: DedupEngine) -> dict[int, dict[str, Any]]:
    lat, lon = latlon_at(engine.spec, [SENSOR_XY[0], 1500.0], [SENSOR_XY[1], 1500.0])
    batch = make_batch(
        [SENSOR_CASE, PATROL_CASE],
        [T0_MS + 90_000, T0_MS + 120_000],
        event_time_ms=[T0_MS, T0_MS + 60_000],
        lat=lat,
        lon=lon,
        category=[1, 101],
        source=[Source.SENSOR, Source.PATROL],
        flags=[0, FLAG_FIXED_ON_SPOT],
        reporter=["", INSPECTOR],
    )
    out = engine.process(engine.new_tile(int(pack_cells([0], [0])[0])), batch)
    _, _, columns = decode_columns(encode_columns("cases", out.cases), "cases")
    return {row["case_id"]: row for row in rows(columns)}
