"""Hand-made fused batches for the streaming-shell tests (positions in projected metres)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kernels.grid import GridSpec
from streams.contracts.fused import STRING_COLUMNS, FusedBatch

T0_MS = 1_690_765_200_000  # 2023-07-31 09:00 Asia/Shanghai


def latlon_at(spec: GridSpec, x_m: Sequence[float], y_m: Sequence[float]) -> tuple[list, list]:
    """WGS84 positions whose projection about ``spec``'s origin is ``(x_m, y_m)``."""
    lat = [spec.origin_lat + y / spec.ky for y in y_m]
    lon = [spec.origin_lon + x / spec.kx for x in x_m]
    return lat, lon


def make_batch(
    event_id: Sequence[int],
    ingest_time_ms: Sequence[int],
    *,
    lat: Sequence[float] | float = 35.74,
    lon: Sequence[float] | float = 114.30,
    category: Sequence[int] | int = 1,
    event_time_ms: Sequence[int] | None = None,
    source: Sequence[int] | int = 0,
    flags: Sequence[int] | int = 0,
    reporter: Sequence[str] | None = None,
) -> FusedBatch:
    """A fused batch; ``source_ref`` is ``ref-<event id>`` so rows can be told apart."""
    n = len(event_id)
    strings: dict[str, list[str]] = {name: [""] * n for name in STRING_COLUMNS}
    strings["source_ref"] = [f"ref-{i}" for i in event_id]
    if reporter is not None:
        strings["reporter"] = list(reporter)
    fixed = {
        "event_id": np.asarray(event_id, dtype=np.uint64),
        "ingest_time_ms": np.asarray(ingest_time_ms, dtype=np.int64),
        "event_time_ms": np.asarray(
            ingest_time_ms if event_time_ms is None else event_time_ms, dtype=np.int64
        ),
        "lat": lat,
        "lon": lon,
        "category": category,
        "source": source,
        "flags": flags,
    }
    return FusedBatch.from_columns(fixed, strings, n=n)
