"""Baseline schema /2: per-ratio tolerances, the lowest of CPUs seen, informational ratios, /1."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bench.harness import runner
from bench.harness.guard import (
    BASELINE_SCHEMA,
    BaselineError,
    check,
    ratio_spec,
    render_guard,
    updated_baseline,
    validate_baseline,
)

SCHEMA_V1 = "citystream-bench-baseline/1"


def _baseline(h3: Any, reference: Any = 500.0, schema: str = BASELINE_SCHEMA) -> dict:
    return {
        "schema": schema,
        "tolerance": 0.4,
        "groups": {"bucketing": {"suite": "kernels", "ratios": {"h3": h3, "reference": reference}}},
    }


def _results(h3: float, reference: float = 500.0, cpu: str = "AMD EPYC") -> dict[str, Any]:
    group = {"suite": "kernels", "subject": {}, "peers": {}, "ratios": {}}
    group["ratios"] = {"h3": h3, "reference": reference}
    return {"smoke": False, "machine": {"cpu": cpu}, "groups": {"bucketing": group}}


def _status(results: dict[str, Any], baseline: dict[str, Any], **kw: Any) -> str:
    report = check(results, baseline, suites=["kernels"], **kw)
    return next(c.status for c in report.checks if c.peer == "h3")


def test_a_ratio_tolerance_beats_the_group_and_the_default() -> None:
    baseline = _baseline({"ratio": 400.0, "tolerance": 0.2})
    baseline["groups"]["bucketing"]["tolerance"] = 0.45
    assert _status(_results(330.0), baseline) == "ok"  # 0.825 of the baseline
    assert _status(_results(310.0), baseline) == "regression"  # below 400 x 0.8
    # the group's tolerance still applies to the other ratio
    report = check(_results(330.0, reference=290.0), baseline, suites=["kernels"])
    assert {c.peer: c.status for c in report.checks}["reference"] == "ok"
    # --tolerance overrides every tolerance of the file, the ratio's too
    assert _status(_results(310.0), baseline, tolerance=0.3) == "ok"


@pytest.mark.parametrize("tolerance", [0.5, 0.6, 0, -0.1, "0.3", True])
def test_a_ratio_tolerance_must_let_a_2x_slowdown_fail(tolerance: object) -> None:
    with pytest.raises(BaselineError):
        validate_baseline(_baseline({"ratio": 400.0, "tolerance": tolerance}))


def test_a_ratio_seen_on_several_cpus_is_judged_against_the_lowest() -> None:
    lowest = {"ratio": 263.0, "tolerance": 0.3, "seen": {"AMD EPYC": 441.5, "Intel Xeon": 263.0}}
    baseline = _baseline(lowest)
    validate_baseline(baseline)
    assert _status(_results(263.0 * 0.75, cpu="Intel Xeon"), baseline) == "ok"
    assert _status(_results(263.0 * 0.65, cpu="Intel Xeon"), baseline) == "regression"
    assert _status(_results(441.0), baseline) == "ok"  # the EPYC's usual, not "faster"
    assert _status(_results(800.0), baseline) == "faster"
    assert "lowest of 2 CPU(s) seen" in render_guard(
        check(_results(441.0), baseline, suites=["kernels"])
    )
    with pytest.raises(BaselineError, match="lowest seen"):  # a hand edit of one side
        validate_baseline(_baseline(dict(lowest, ratio=441.5)))


def test_updating_a_ratio_seen_on_cpus_records_the_cpu_and_keeps_the_lowest() -> None:
    lowest = {"ratio": 263.0, "tolerance": 0.3, "seen": {"AMD EPYC": 441.5, "Intel Xeon": 263.0}}
    new = updated_baseline(_results(600.0), _baseline(lowest), suites=["kernels"])
    h3 = new["groups"]["bucketing"]["ratios"]["h3"]
    assert h3 == {
        "ratio": 263.0,
        "tolerance": 0.3,
        "seen": {"AMD EPYC": 600.0, "Intel Xeon": 263.0},
    }
    new = updated_baseline(_results(200.0, cpu="Intel Xeon"), new, suites=["kernels"])
    assert new["groups"]["bucketing"]["ratios"]["h3"]["ratio"] == 200.0
    new = updated_baseline(_results(150.0, cpu="Some ARM"), new, suites=["kernels"])
    assert new["groups"]["bucketing"]["ratios"]["h3"]["seen"]["Some ARM"] == 150.0
    assert new["groups"]["bucketing"]["ratios"]["reference"] == 500.0  # a plain number stays


def test_an_informational_ratio_is_reported_and_never_fails() -> None:
    baseline = _baseline({"ratio": 400.0, "informational": "peer timing is all load"})
    report = check(_results(10.0), baseline, suites=["kernels"])
    assert report.passed
    assert "informational, not guarded: peer timing is all load" in render_guard(report)
    del_h3 = _results(10.0)
    del del_h3["groups"]["bucketing"]["ratios"]["h3"]
    assert check(del_h3, baseline, suites=["kernels"]).passed


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"ratio": 400.0, "tolerence": 0.3}, "unknown key"),
        ({"tolerance": 0.3}, "must be > 0"),
        ({"ratio": -1.0}, "must be > 0"),
        ({"ratio": 400.0, "seen": {}}, "'seen'"),
        ({"ratio": 400.0, "seen": {"AMD EPYC": 0}}, "must be > 0"),
        ({"ratio": 400.0, "informational": " "}, "non-empty"),
        ({"ratio": 400.0, "why": 3}, "non-empty"),
        (True, "must be > 0"),
    ],
)
def test_malformed_ratio_entries_are_refused(entry: object, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        validate_baseline(_baseline(entry))


def test_schema_1_files_are_still_read_and_updated_to_schema_2() -> None:
    old = _baseline(441.5, schema=SCHEMA_V1)
    validate_baseline(old)
    assert _status(_results(200.0), old) == "regression"
    assert _status(_results(300.0), old) == "ok"
    new = updated_baseline(_results(430.0), old, suites=["kernels"])
    assert new["schema"] == BASELINE_SCHEMA
    assert new["groups"]["bucketing"]["ratios"] == {"h3": 430.0, "reference": 500.0}
    with pytest.raises(BaselineError, match="ratio objects need"):
        validate_baseline(_baseline({"ratio": 400.0}, schema=SCHEMA_V1))
    with pytest.raises(BaselineError, match="schema must be one of"):
        validate_baseline(_baseline(400.0, schema="citystream-bench-baseline/3"))


def test_updating_keeps_ratio_settings() -> None:
    entry = {"ratio": 400.0, "tolerance": 0.25, "why": "spread 12 % over 5 runs"}
    new = updated_baseline(_results(420.0), _baseline(entry), suites=["kernels"])
    assert new["groups"]["bucketing"]["ratios"]["h3"] == dict(entry, ratio=420.0)
    assert ratio_spec(new["groups"]["bucketing"]["ratios"]["h3"], "h3").tolerance == 0.25


# -- the committed baseline ------------------------------------------------------------


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    baseline: dict[str, Any] = json.loads(Path(runner.BASELINE).read_text(encoding="utf-8"))
    return baseline


def test_the_committed_baseline_is_valid_and_current(committed: dict[str, Any]) -> None:
    validate_baseline(committed)  # every tolerance in (0, 0.5), lowest seen consistent
    assert committed["schema"] == BASELINE_SCHEMA


def test_a_2x_slowdown_fails_every_guarded_group_of_the_committed_baseline(
    committed: dict[str, Any],
) -> None:
    """On the baseline's machine, a subject twice as slow fails at least one ratio of its
    group: a ratio judged against a slower CPU may pass by itself, never the whole group."""
    cpu = committed["machine"]["cpu"]
    for path, group in committed["groups"].items():
        specs = {peer: ratio_spec(e, f"{path}/{peer}") for peer, e in group["ratios"].items()}
        if all(s.informational for s in specs.values()):
            continue
        here = {p: (s.seen or {}).get(cpu, s.ratio) for p, s in specs.items()}
        halved = {
            "machine": {"cpu": cpu},
            "groups": {path: {"ratios": {p: r / 2 for p, r in here.items()}}},
        }
        probe = copy.deepcopy(committed)
        probe["groups"] = {path: group}
        report = check(halved, probe, suites=[group["suite"]])
        assert not report.passed, f"{path}: a 2x slowdown passes\n{render_guard(report)}"
