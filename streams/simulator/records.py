"""What the simulator hands out: raw records with their ground truth beside them."""

from __future__ import annotations

from dataclasses import dataclass

from streams.contracts.sources import SOURCES

__all__ = ["SOURCES", "TRUTH_COLUMNS", "SimRecord", "TruthRow"]

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
