"""The results builder, the table and the regression guard, on synthetic benchmark JSON."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from bench.harness.convention import SUBJECT, BenchScale, Declaration, declaration, peer, record
from bench.harness.guard import (
    DEFAULT_TOLERANCE,
    BaselineError,
    check,
    render_guard,
    updated_baseline,
    validate_baseline,
)
from bench.harness.results import build_results, percentile
from bench.harness.table import README_BEGIN, README_END, render_table, with_table

MACHINE = {"cpu": "test cpu", "cores": 2, "python": "3.11", "versions": {"numpy": "2"}}


def _bench(file: str, name: str, path: str, role: str, events: int, data: list[float]) -> dict:
    return {
        "fullname": f"bench/{file}::{name}",
        "stats": {"min": min(data), "data": data},
        "extra_info": {"path": path, "role": role, "events": events},
    }


def _raw(subject_scale: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """dedup: subject 1M events in ~0.5 s, peers reference (3k in ~0.3 s) and ckdtree."""
    rng = random.Random(seed)

    def rounds(base: float) -> list[float]:
        return [base * (1 + 0.05 * rng.random()) for _ in range(5)]

    return {
        "benchmarks": [
            _bench("test_bench_kernels.py", "k", "dedup", SUBJECT, 1_000_000,
                   rounds(0.5 * subject_scale)),
            _bench("test_bench_kernels.py", "r", "dedup", "peer:reference", 3_000, rounds(0.3)),
            _bench("test_bench_peers.py", "c", "dedup", "peer:ckdtree", 1_000_000, rounds(2.0)),
            _bench("test_bench_intake.py", "n", "normalize", SUBJECT, 20_000, rounds(0.1)),
            _bench("test_bench_intake.py", "p", "normalize", "peer:per-record", 20_000,
                   rounds(0.9)),
            {"fullname": "bench/test_bench_kernels.py::x", "stats": {"min": 1.0, "data": [1.0]},
             "extra_info": {}},
        ]
    }  # fmt: skip


def _results(subject_scale: float = 1.0, seed: int = 0) -> dict[str, Any]:
    raw = _raw(subject_scale, seed)
    return build_results(raw, smoke=False, suites=["kernels", "intake"], machine=MACHINE)


def test_ratios_are_subject_events_per_s_over_peer_events_per_s() -> None:
    res = _results()
    dedup = res["groups"]["dedup"]
    subject_rate = 1_000_000 / dedup["subject"]["min_s"]
    ref_rate = 3_000 / dedup["peers"]["reference"]["min_s"]
    assert dedup["ratios"]["reference"] == pytest.approx(subject_rate / ref_rate)
    assert dedup["suite"] == "kernels"
    assert res["groups"]["normalize"]["suite"] == "intake"
    assert res["undeclared"] == ["bench/test_bench_kernels.py::x"]


def test_percentiles_match_numpy() -> None:
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 100):
        values = rng.exponential(1.0, n).tolist()
        for q in (0, 50, 99, 100):
            assert percentile(values, q) == pytest.approx(np.percentile(values, q))


def test_guard_passes_a_rerun_and_fails_a_2x_slower_subject() -> None:
    baseline = updated_baseline(_results(seed=1), None, suites=["kernels", "intake"])
    validate_baseline(baseline)
    assert baseline["tolerance"] == DEFAULT_TOLERANCE
    rerun = check(_results(seed=2), baseline, suites=["kernels", "intake"])
    assert rerun.passed, render_guard(rerun)
    slow = check(_results(subject_scale=2.0, seed=2), baseline, suites=["kernels", "intake"])
    assert not slow.passed
    assert {(c.path, c.peer) for c in slow.failed} == {
        ("dedup", "reference"),
        ("dedup", "ckdtree"),
    }
    assert all(c.status == "regression" for c in slow.failed)
    assert "REGRESSION" in render_guard(slow)


def test_guard_fails_when_a_baseline_ratio_did_not_run() -> None:
    baseline = updated_baseline(_results(), None, suites=["kernels", "intake"])
    res = _results()
    del res["groups"]["dedup"]["ratios"]["ckdtree"]
    report = check(res, baseline, suites=["kernels", "intake"])
    assert [(c.path, c.peer, c.status) for c in report.failed] == [("dedup", "ckdtree", "missing")]
    # a suite that was not selected is not expected
    assert check(res, baseline, suites=["intake"]).passed


def test_faster_and_new_ratios_do_not_fail() -> None:
    baseline = updated_baseline(_results(), None, suites=["kernels", "intake"])
    del baseline["groups"]["normalize"]
    report = check(_results(subject_scale=0.3), baseline, suites=["kernels", "intake"])
    assert report.passed
    statuses = {(c.path, c.peer): c.status for c in report.checks}
    assert statuses[("dedup", "reference")] == "faster"
    assert statuses[("normalize", "per-record")] == "new"


@pytest.mark.parametrize("tolerance", [0.5, 0.7, 0.0, -0.1])
def test_a_tolerance_that_would_let_a_2x_slowdown_pass_is_refused(tolerance: float) -> None:
    baseline = updated_baseline(_results(), None, suites=["kernels"])
    with pytest.raises(BaselineError, match="2x slowdown"):
        check(_results(), baseline, suites=["kernels"], tolerance=tolerance)
    baseline["groups"]["dedup"]["tolerance"] = tolerance
    with pytest.raises(BaselineError, match="2x slowdown"):
        validate_baseline(baseline)


def test_tolerance_override_and_per_group_tolerance() -> None:
    baseline = updated_baseline(_results(), None, suites=["kernels"])
    slower = _results(subject_scale=1.5)  # ratio at 2/3 of the baseline
    assert check(slower, baseline, suites=["kernels"]).passed  # 0.4 tolerates 1.5x
    assert not check(slower, baseline, suites=["kernels"], tolerance=0.2).passed
    baseline["groups"]["dedup"]["tolerance"] = 0.25
    assert not check(slower, baseline, suites=["kernels"]).passed


def test_update_baseline_keeps_unselected_suites_and_group_tolerances() -> None:
    first = updated_baseline(_results(), None, suites=["kernels", "intake"])
    first["groups"]["dedup"]["tolerance"] = 0.3
    first["tolerance"] = 0.35
    res = _results(subject_scale=2.0)
    del res["groups"]["normalize"]
    second = updated_baseline(res, first, suites=["kernels"])
    assert second["groups"]["normalize"] == first["groups"]["normalize"]
    assert second["groups"]["dedup"]["tolerance"] == 0.3
    assert second["tolerance"] == 0.35
    assert second["groups"]["dedup"]["ratios"]["reference"] == pytest.approx(
        first["groups"]["dedup"]["ratios"]["reference"] / 2, rel=0.1
    )
    smoke = dict(res, smoke=True)
    with pytest.raises(BaselineError, match="smoke"):
        updated_baseline(smoke, first, suites=["kernels"])


def test_declarations_are_validated() -> None:
    class Fake:
        group: str | None = None

        def __init__(self) -> None:
            self.extra_info: dict[str, Any] = {}

    fake = Fake()
    decl = record(fake, path="dedup", role=peer("ckdtree"), events=10)
    assert fake.group == "dedup"
    assert declaration(fake.extra_info) == decl
    assert decl.peer_name == "ckdtree"
    with pytest.raises(ValueError, match="incomplete"):
        declaration({"path": "dedup", "role": SUBJECT})
    with pytest.raises(ValueError, match="role"):
        Declaration("dedup", "baseline", 10)
    with pytest.raises(ValueError, match="events"):
        Declaration("dedup", SUBJECT, 0)
    with pytest.raises(ValueError, match="path"):
        Declaration("Dedup Kernel", SUBJECT, 1)


def test_two_subjects_in_a_group_are_an_error() -> None:
    raw = _raw()
    raw["benchmarks"].append(_bench("test_bench_peers.py", "k2", "dedup", SUBJECT, 10, [0.1]))
    with pytest.raises(ValueError, match="two subjects"):
        build_results(raw, smoke=False, suites=["kernels"], machine=MACHINE)


def test_table_lists_every_member_with_its_ratio() -> None:
    res = _results()
    table = render_table(res)
    ratio = res["groups"]["dedup"]["ratios"]["ckdtree"]
    assert "| dedup | peer: ckdtree | 1,000,000 |" in table
    assert f"{ratio:,.1f}x" in table
    assert "test cpu, 2 cores" in table
    assert "bench/test_bench_kernels.py::x" in table  # undeclared ones are named


def test_bench_scale_picks_smoke_sizes() -> None:
    assert BenchScale(smoke=True).pick(1_000_000, smoke=1000) == 1000
    assert BenchScale(smoke=False).pick(1_000_000, smoke=1000) == 1_000_000
    with pytest.raises(ValueError):
        BenchScale(smoke=True).pick(10, smoke=100)


def test_readme_table_goes_between_the_markers_only() -> None:
    readme = f"# citystream\n\nintro\n{README_BEGIN}\nold table\n{README_END}\nafter\n"
    table = render_table(_results())
    out = with_table(readme, table)
    assert out.startswith("# citystream\n\nintro\n") and out.endswith(f"{README_END}\nafter\n")
    assert "old table" not in out and table in out
    assert with_table(out, table) == out  # idempotent
    with pytest.raises(ValueError, match="bench-table"):
        with_table("# no markers\n", table)
