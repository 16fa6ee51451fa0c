"""What the simulator hands out: raw records with their ground truth beside them."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from streams.contracts.sources import SOURCES
from streams.contracts.topics import PATROL_TRACK
from streams.contracts.tracks import FEED as TRACK_FEED

__all__ = [
    "PING_TRUTH_COLUMNS",
    "SOURCES",
    "TRACK_FEED",
    "TRUTH_COLUMNS",
    "PingTruth",
    "SimRecord",
    "TrackRecord",
    "TruthRow",
]

TRUTH_COLUMNS = (
    "source",
    "source_seq",
    "source_ref",
    "incident_id",
    "expected_reason",
    "detail",
    "arrival_ms",
)


@dataclass(frozen=True, slots=True)
class TruthRow:
    """Ground truth of one raw report (a gateway batch has one row per alarm).

    ``source_seq`` is the record's position in its source's stream (0-based): the offset in
    a single-partition topic and the index in the ``raw.<source>.rec`` file. ``source_ref``
    is the alarm_id / service_request_id / report_id the record carries (for a damaged
    record, the one it carried before the damage). ``expected_reason`` is "" for a good
    record, else the dead-letter reason the pipeline must give it.
    """

    source: str
    source_seq: int
    source_ref: str
    incident_id: str
    expected_reason: str
    detail: str
    arrival_ms: int

    def as_row(self) -> tuple[str | int, ...]:
        return (
            self.source,
            self.source_seq,
            self.source_ref,
            self.incident_id,
            self.expected_reason,
            self.detail,
            self.arrival_ms,
        )


@dataclass(frozen=True, slots=True)
class SimRecord:
    """One raw record as it goes on the wire: ``key``/``value`` bytes for ``raw.<source>``."""

    source: str
    key: bytes
    value: bytes
    arrival_ms: int
    truth: tuple[TruthRow, ...]

    @property
    def topic(self) -> str:
        return f"raw.{self.source}"


@dataclass(frozen=True, slots=True)
class PingTruth:
    """Ground truth of one position ping sent in a ``raw.patrol_track`` batch.

    ``source_seq`` is the batch's position in the feed (the offset in a single-partition
    topic, the index in ``raw.patrol_track.rec``), ``point`` the ping's index in the
    batch's ``points``. ``t_ms``, ``lat`` and ``lon`` are where the inspector really was
    (WGS84) when the ping was taken, whatever the terminal reported. ``leg`` is the index
    of the patrol's leg (street walk) the ping was taken on, -1 on the way between two
    streets; ``street`` that leg's street name. ``expected_reason`` is "" for a ping the
    intake must accept, else the dead-letter reason it must get; ``whole_batch`` 1 when
    that is its batch's dead letter (the batch could not be read), 0 for its own.
    """

    source_seq: int
    point: int
    device_id: str
    inspector_id: str
    patrol_id: str
    leg: int
    street: str
    t_ms: int
    lat: float
    lon: float
    expected_reason: str
    whole_batch: int
    detail: str
    arrival_ms: int

    def as_row(self) -> tuple[str | int | float, ...]:
        return astuple(self)


PING_TRUTH_COLUMNS = tuple(PingTruth.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """One ``raw.patrol_track`` batch as it goes on the wire, keyed by its device id."""

    key: bytes
    value: bytes
    arrival_ms: int
    truth: tuple[PingTruth, ...]

    source = TRACK_FEED  # where the sinks send it, as SimRecord.source

    @property
    def topic(self) -> str:
        return PATROL_TRACK
