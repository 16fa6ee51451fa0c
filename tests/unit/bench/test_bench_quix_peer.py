"""The quix-streams peer links every event to the case the Faust peer links it to.

Its matching runs here against a stand-in for quix-streams' ``State`` that stores JSON
bytes, as the RocksDB store does (values round-trip through orjson on every get and set).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from bench.e2e import faust_peer
from bench.e2e.faust_peer import MatchRules, reference_links
from bench.e2e.quix_peer import StateDedup
from bench.harness.convention import SUBJECT, peer
from bench.harness.guard import check, updated_baseline
from bench.harness.results import build_results
from kernels.grid import GridSpec
from kernels.params import DedupParams

SPEC = GridSpec(35.7331, 114.2972, 50.0)


class JsonState:
    """A quix-streams ``State`` stand-in: a dict of JSON bytes."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str, default: Any = None) -> Any:
        raw = self.data.get(key)
        return default if raw is None else orjson.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = orjson.dumps(value)

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def _params() -> DedupParams:
    compat = np.eye(4, dtype=bool)
    compat[0, 1] = compat[1, 0] = True
    compat[2, 2] = False  # category 2 never merges
    return DedupParams.build(
        4,
        radius_m=[30.0, 60.0, 0.0, 45.0],
        window_s=[60, 120, 60, 30],
        recurrence_window_s=300,
        allowed_lateness_s=[100, 200, 100, 50],
        max_open_age_s=400,
        compat=compat,
    )


def _events(seed: int, n: int) -> list[dict[str, Any]]:
    """Events on a 10 m lattice 120 m wide (ties in distance), out of order by up to
    250 s, some devices repeated."""
    rng = random.Random(seed)
    t = 1_700_000_000_000
    out = []
    for i in range(n):
        t += rng.randint(0, 20_000)
        out.append(
            {
                "event_id": (seed << 32) + i + 1,
                "category": rng.randint(0, 3),
                "lat": SPEC.origin_lat + rng.randint(0, 12) * 10.0 / SPEC.ky,
                "lon": SPEC.origin_lon + rng.randint(0, 12) * 10.0 / SPEC.kx,
                "event_time_ms": t - rng.choice([0, 0, rng.randint(0, 250_000)]),
                "ingest_time_ms": t,
                "device_hash": rng.choice([0, 0, 0, 1, 2, 3, 2**63 + 5]),
            }
        )
    return out


def _state_links(
    params: DedupParams, spec: GridSpec, events: list[dict[str, Any]], state: JsonState
) -> dict[int, tuple[int, bool]]:
    dedup = StateDedup(MatchRules.of(params, spec))
    links = (faust_peer.link_value(e["event_id"], dedup.process(e, state)) for e in events)
    return {link["event_id"]: (link["case_id"], link["is_new"]) for link in links}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_links_as_the_faust_peer(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_peer, "_SWEEP_EVERY", 37)  # the Faust peer sweeps often too
    events = _events(seed, 3_000)
    state = JsonState()
    expected = reference_links(_params(), SPEC, events)
    assert _state_links(_params(), SPEC, events, state) == expected
    # the stream exercises every branch: late events, merges, opens, a never-merge category
    outcomes = list(expected.values())
    assert (0, False) in outcomes
    assert sum(not new for case, new in outcomes if case) > 100
    assert sum(new for _, new in outcomes) > 100
    # expired cases left the store
    stored = sum(len(v) for k, v in ((k, state.get(k)) for k in state.data) if k[:5] == "cell:")
    assert stored < sum(new for _, new in outcomes) / 4


def test_a_device_matches_its_own_case_beyond_the_radius() -> None:
    near = _events(9, 1)[0]
    far = {**near, "event_id": near["event_id"] + 1, "device_hash": 7, "category": 0}
    near = {**near, "device_hash": 7, "category": 0}
    far["lat"] = near["lat"] + 40.0 / SPEC.ky  # 40 m > radius 30 m, within the window
    state = JsonState()
    links = _state_links(_params(), SPEC, [near, far], state)
    assert links == reference_links(_params(), SPEC, [near, far])
    assert links[far["event_id"]] == (near["event_id"], False)


def _e2e_bench(name: str, role: str, events: int, seconds: float) -> dict[str, Any]:
    return {
        "fullname": f"bench/test_bench_e2e.py::{name}",
        "stats": {"min": seconds, "data": [seconds]},
        "extra_info": {"path": "e2e-dedup", "role": role, "events": events},
    }


def test_the_committed_baseline_takes_the_new_peer_unguarded() -> None:
    """The quix-streams ratio has no baseline entry yet: reported as new, never a failure."""
    baseline = json.loads((Path(__file__).parents[3] / "bench" / "baseline.json").read_text())
    ratios = baseline["groups"]["e2e-dedup"]["ratios"]
    assert "quix-streams" not in ratios  # when it is added, this test has done its job
    raw = {
        "benchmarks": [
            _e2e_bench("s", SUBJECT, 300_000, 300_000 / 400_000),
            _e2e_bench("f", peer("faust-per-event"), 30_000, 30_000 / 4_000),
            _e2e_bench("q", peer("quix-streams"), 30_000, 30_000 / 5_000),
        ]
    }
    machine = {"cpu": "test cpu", "cores": 2, "python": "3.11", "versions": {}}
    results = build_results(raw, smoke=False, suites=["e2e"], machine=machine)
    assert results["groups"]["e2e-dedup"]["ratios"]["quix-streams"] == pytest.approx(80.0)
    report = check(results, baseline, suites=["e2e"])
    statuses = {(c.path, c.peer): c.status for c in report.checks}
    assert statuses[("e2e-dedup", "quix-streams")] == "new"
    assert statuses[("e2e-dedup", "faust-per-event")] in ("ok", "faster")
    assert ("e2e-dedup", "quix-streams") not in {(c.path, c.peer) for c in report.failed}
    # accepting the run records it, so later runs guard it
    updated = updated_baseline(results, baseline, suites=["e2e"])
    assert updated["groups"]["e2e-dedup"]["ratios"]["quix-streams"] == pytest.approx(80.0)
