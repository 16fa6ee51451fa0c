"""bench/harness/knobs.py: the harness's CITYSTREAM_BENCH_* variables, beside the settings."""

from __future__ import annotations

import pytest

from bench.harness.knobs import BenchKnobs, load_knobs, smoke_env
from streams.settings import SettingsError, load_settings


def test_defaults_and_values() -> None:
    assert load_knobs({}) == BenchKnobs(smoke=False, kpi_events=10_000_000)
    env = {"CITYSTREAM_BENCH_SMOKE": "true", "CITYSTREAM_BENCH_KPI_EVENTS": "2000000"}
    assert load_knobs(env) == BenchKnobs(smoke=True, kpi_events=2_000_000)
    assert load_knobs(smoke_env(True)).smoke and not load_knobs(smoke_env(False)).smoke


@pytest.mark.parametrize(
    "env",
    [
        {"CITYSTREAM_BENCH_SMOKE": "maybe"},
        {"CITYSTREAM_BENCH_KPI_EVENTS": "lots"},
        {"CITYSTREAM_BENCH_KPI_EVENTS": "0"},
        {"CITYSTREAM_BENCH_SMOKEY": "1"},
    ],
)
def test_bad_knobs_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))):
        load_knobs(env)


def test_the_settings_leave_the_bench_variables_to_the_harness() -> None:
    env = {"CITYSTREAM_BENCH_SMOKE": "1", "CITYSTREAM_BENCH_KPI_EVENTS": "5"}
    assert load_settings(env=env) == load_settings(env={})
    assert not any(k.startswith("CITYSTREAM_BENCH_") for k in load_settings(env={}).as_env())
