"""The harness's own knobs, from ``CITYSTREAM_BENCH_*`` variables (not pipeline settings).

``CITYSTREAM_BENCH_SMOKE``: tiny sizes in every suite (``citystream bench --smoke`` sets
it for the pytest it runs; CI). ``CITYSTREAM_BENCH_KPI_EVENTS``: events in the KPI latency
store (10 M by default, the size the KPI target is set for; smoke runs use a tiny store).
:func:`streams.settings.load_settings` leaves this prefix to the harness; the values are
parsed by the settings' own codecs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.settings import BENCH_ENV_PREFIX, SettingsError
from streams.settings.codecs import BOOL, INT, Codec

__all__ = ["KPI_EVENTS_VARIABLE", "SMOKE_VARIABLE", "BenchKnobs", "load_knobs", "smoke_env"]

SMOKE_VARIABLE = BENCH_ENV_PREFIX + "SMOKE"
KPI_EVENTS_VARIABLE = BENCH_ENV_PREFIX + "KPI_EVENTS"


@dataclass(frozen=True)
class BenchKnobs:
    smoke: bool = False
    kpi_events: int = 10_000_000

    def __post_init__(self) -> None:
        if self.kpi_events < 1:
            raise SettingsError(f"{KPI_EVENTS_VARIABLE}={self.kpi_events} must be >= 1")


def _parse(env: Mapping[str, str], variable: str, codec: Codec, default: Any) -> Any:
    if variable not in env:
        return default
    try:
        return codec.parse(env[variable])
    except ValueError as exc:
        raise SettingsError(f"{variable}={env[variable]!r} is not {codec.kind}") from exc


def load_knobs(env: Mapping[str, str] | None = None) -> BenchKnobs:
    """The knobs from ``env`` (default: the process environment); unknown ones raise."""
    env = os.environ if env is None else env
    known = {SMOKE_VARIABLE, KPI_EVENTS_VARIABLE}
    unknown = sorted(k for k in env if k.startswith(BENCH_ENV_PREFIX) and k not in known)
    if unknown:
        raise SettingsError(f"unknown bench variable(s) {', '.join(unknown)}")
    defaults = BenchKnobs()
    return BenchKnobs(
        smoke=_parse(env, SMOKE_VARIABLE, BOOL, defaults.smoke),
        kpi_events=_parse(env, KPI_EVENTS_VARIABLE, INT, defaults.kpi_events),
    )


def smoke_env(smoke: bool) -> dict[str, str]:
    """The variable that tells a child pytest the problem sizes."""
    return {SMOKE_VARIABLE: BOOL.render(smoke)}
