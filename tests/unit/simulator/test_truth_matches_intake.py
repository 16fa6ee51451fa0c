"""The simulator's truth and the intake normalizer agree on every record.

Each record goes through the real normalizer with the record's arrival as "now"; a good
record must become events (one per alarm of a gateway batch), a bad one exactly the
dead letter its truth row names.
"""

from __future__ import annotations

from collections import Counter

from streams.intake.normalize import Normalizer
from streams.settings import load_settings
from streams.simulator import Simulation
from streams.simulator.district import District


def test_every_record_gets_the_outcome_its_truth_expects(district: District) -> None:
    normalizer = Normalizer.from_settings(load_settings(env={}))
    sim = Simulation("typhoon", seed=21, scale=0.01, bad_share=0.1, district=district)
    outcomes: Counter[str] = Counter()
    for rec in sim.records():
        result = normalizer.normalize(rec.source, [rec.value], now_ms=rec.arrival_ms)
        got = sorted([d.reason.value for d in result.dead_letters] + [""] * len(result.batch))
        expected = sorted(t.expected_reason for t in rec.truth)
        assert got == expected, (rec.truth[0], [d.message for d in result.dead_letters])
        outcomes.update(expected)
    assert outcomes[""] > 1000 and len(outcomes) >= 16
