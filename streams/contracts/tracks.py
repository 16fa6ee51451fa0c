"""Position pings of the patrol terminals (城管通): the raw feed and the columns intake makes.

The terminal an inspector carries sends, every minute or so, one batch of the positions it
recorded since its last upload (docs/contracts.md, ``raw.patrol_track``)::

    {"device_id": "CGT-0017", "inspector_id": "INS-017", "crs": "gcj02",
     "points": [{"ts": "2023-07-31T09:12:05+08:00", "lat": 35.73, "lon": 114.29,
                 "accuracy_m": 6.5}, ...]}

Pings are not reports: they never become events (the normalizer does not read this feed).
Intake (:mod:`streams.intake.tracks`) turns batches into :class:`TrackPoints`, columns of
WGS84 positions with their raw origin, and bad pings into dead letters whose ``source``
is :data:`FEED`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BATCH_FIELDS",
    "FEED",
    "POINT_DTYPE",
    "POINT_FIELDS",
    "TrackPoints",
]

# The feed's name: in dead letters' ``source``, simulator files and the topic raw.<FEED>.
FEED = "patrol_track"
BATCH_FIELDS = ("device_id", "inspector_id", "crs", "points")
POINT_FIELDS = ("ts", "lat", "lon", "accuracy_m")  # accuracy_m may be left out

# One accepted ping. ``accuracy_m`` is NaN when the terminal sent none. ``ingest_ms`` is
# the batch's arrival (its Kafka timestamp). ``origin_partition`` / ``origin_seq`` (raw
# offset + 1, 0 when unknown) / ``origin_point`` (index in the batch's ``points``) name
# the raw ping, so a consumer can drop a ping Kafka delivered twice.
POINT_DTYPE = np.dtype(
    [
        ("t_ms", "<i8"),
        ("lat", "<f8"),
        ("lon", "<f8"),
        ("accuracy_m", "<f4"),
        ("ingest_ms", "<i8"),
        ("origin_partition", "<u2"),
        ("origin_seq", "<i8"),
        ("origin_point", "<u4"),
    ]
)


@dataclass(frozen=True)
class TrackPoints:
    """Accepted pings, sorted by (device, time): fixed columns plus the two id columns."""

    points: np.ndarray  # POINT_DTYPE
    device_id: np.ndarray  # str, one per point
    inspector_id: np.ndarray  # str, one per point

    def __post_init__(self) -> None:
        if self.points.dtype != POINT_DTYPE:
            raise ValueError(f"points must have POINT_DTYPE, got {self.points.dtype}")
        if not len(self.device_id) == len(self.inspector_id) == len(self.points):
            raise ValueError("every column of TrackPoints must have one value per point")

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def empty(cls) -> TrackPoints:
        none = np.array([], dtype=np.str_)
        return cls(np.zeros(0, dtype=POINT_DTYPE), none, none.copy())
