"""A simulated feed with its ground truth, for the replay tests."""

from __future__ import annotations

from dataclasses import dataclass

from streams.replay import RawInput
from streams.simulator import SimRecord, TruthRow


@dataclass(frozen=True)
class Feed:
    records: list[SimRecord]
    truth: list[TruthRow]

    @property
    def inputs(self) -> list[RawInput]:
        return [RawInput(r.source, r.value, r.arrival_ms) for r in self.records]
