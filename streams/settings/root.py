"""The top-level :class:`Settings` (where local state lives, one object per concern) and
:func:`load_settings`, which reads them from a settings file and the environment.

One table, derived from the fields' metadata, maps each variable ``CITYSTREAM_<NAME>`` to
its concern and field; ``load_settings``, ``Settings.as_env``, ``Settings.replace`` and
:func:`env_names` all read it, so a variable can be neither parsed nor written twice.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from streams.settings.codecs import (
    BENCH_ENV_PREFIX,
    ENV_PREFIX,
    MASK,
    PATH,
    SPEC,
    SettingsError,
    Spec,
    setting,
)
from streams.settings.concerns import (
    CalendarSettings,
    ClickHouseSettings,
    Concern,
    KafkaSettings,
    PipelineSettings,
    SinkSettings,
    WorkerSettings,
)
from streams.settings.loop import (
    ApiSettings,
    DispatchSettings,
    EscalationSettings,
    PatrolSettings,
    VerifySettings,
    WalkSettings,
)

__all__ = [
    "PROJECT_ROOT",
    "SETTINGS_FILE_VARIABLE",
    "Settings",
    "env_names",
    "load_settings",
    "user_cache_home",
    "user_data_home",
]

# the source checkout (bench/ lives there); never a default for run-time state
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE_VARIABLE = ENV_PREFIX + "SETTINGS_FILE"


def _xdg(env: Mapping[str, str], variable: str, fallback: str) -> Path:
    base = env.get(variable, "")
    # the XDG spec: a relative path in the variable is invalid and is to be ignored
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / fallback
    return root / "citystream"


def user_data_home(env: Mapping[str, str]) -> Path:
    """Where state lives without CITYSTREAM_HOME: ``$XDG_DATA_HOME/citystream``, else
    ``~/.local/share/citystream``."""
    return _xdg(env, "XDG_DATA_HOME", ".local/share")


def user_cache_home(env: Mapping[str, str]) -> Path:
    """Downloads (Kafka jars) without CITYSTREAM_CACHE_DIR: ``$XDG_CACHE_HOME/citystream``,
    else ``~/.cache/citystream``."""
    return _xdg(env, "XDG_CACHE_HOME", ".cache")


@dataclasses.dataclass(frozen=True, repr=False)
class Settings(Concern):
    """Every tunable of citystream, grouped by concern; always valid, frozen.

    ``Settings()`` gives the defaults (home and cache in the user's folders, as the
    process environment's XDG variables say); :func:`load_settings` reads the variables.
    """

    home: Path = setting(env="HOME", codec=PATH, factory=lambda: user_data_home(os.environ))
    cache_dir: Path = setting(
        env="CACHE_DIR", codec=PATH, factory=lambda: user_cache_home(os.environ)
    )
    kafka: KafkaSettings = dataclasses.field(default_factory=KafkaSettings)
    clickhouse: ClickHouseSettings = dataclasses.field(default_factory=ClickHouseSettings)
    pipeline: PipelineSettings = dataclasses.field(default_factory=PipelineSettings)
    calendar: CalendarSettings = dataclasses.field(default_factory=CalendarSettings)
    worker: WorkerSettings = dataclasses.field(default_factory=WorkerSettings)
    sink: SinkSettings = dataclasses.field(default_factory=SinkSettings)
    dispatch: DispatchSettings = dataclasses.field(default_factory=DispatchSettings)
    verify: VerifySettings = dataclasses.field(default_factory=VerifySettings)
    escalation: EscalationSettings = dataclasses.field(default_factory=EscalationSettings)
    walk: WalkSettings = dataclasses.field(default_factory=WalkSettings)
    patrol: PatrolSettings = dataclasses.field(default_factory=PatrolSettings)
    api: ApiSettings = dataclasses.field(default_factory=ApiSettings)

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with settings changed by their flat names.

        A flat name is the variable without ``CITYSTREAM_``, lower case: ``kafka_port``,
        ``partitions``, ``app_id``, ``worker_roles``, ``holiday_files`` ... (see
        :func:`env_names`); values are typed (tuples, dates), not text. A whole concern
        may be given by its attribute (``kafka=KafkaSettings(...)``). Unknown names raise.
        """
        table = _table()
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        unknown = []
        for name, value in changes.items():
            entry = table.get(name)
            if entry is None and name in _concern_names():
                top[name] = value
            elif entry is None:
                unknown.append(name)
            elif entry.concern is None:
                top[entry.attr] = value
            else:
                nested.setdefault(entry.concern, {})[entry.attr] = value
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for concern, attrs in nested.items():
            top[concern] = dataclasses.replace(top.get(concern, getattr(self, concern)), **attrs)
        return dataclasses.replace(self, **top)

    def effective(self) -> list[EffectiveSetting]:
        """Every setting as its variable and rendered value, secrets masked, and whether it
        differs from the default (``citystream settings``)."""
        defaults = Settings()
        rows = []
        for e in _table().values():
            value = e.spec.codec.render(e.get(self))
            changed = value != e.spec.codec.render(e.get(defaults))
            shown = MASK if e.spec.secret else value
            rows.append(EffectiveSetting(e.spec.variable, shown, changed))
        return rows

    def as_env(self) -> dict[str, str]:
        """Every setting as its environment variable, for child processes (secrets too)."""
        return {e.spec.variable: e.spec.codec.render(e.get(self)) for e in _table().values()}


class EffectiveSetting(NamedTuple):
    variable: str
    shown: str  # the value as its variable would hold it; MASK for a secret
    changed: bool  # differs from the default


class _Entry(NamedTuple):
    concern: str | None  # attribute of the concern on Settings; None: Settings' own field
    attr: str
    spec: Spec

    def get(self, settings: Settings) -> Any:
        owner = settings if self.concern is None else getattr(settings, self.concern)
        return getattr(owner, self.attr)


@functools.cache
def _concern_names() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(Settings) if SPEC not in f.metadata)


@functools.cache
def _table() -> dict[str, _Entry]:
    """Flat name -> where the setting lives, in declaration order."""
    entries: list[_Entry] = []
    for f in dataclasses.fields(Settings):
        if SPEC in f.metadata:
            entries.append(_Entry(None, f.name, f.metadata[SPEC]))
            continue
        concern_cls: Any = f.default_factory
        entries.extend(
            _Entry(f.name, g.name, g.metadata[SPEC]) for g in dataclasses.fields(concern_cls)
        )
    table = {e.spec.flat_name: e for e in entries}
    if len(table) != len(entries):
        raise RuntimeError("two settings declare the same environment variable")
    return table


def env_names() -> tuple[str, ...]:
    """Every settings variable, ``CITYSTREAM_HOME`` ... (not the settings file's own)."""
    return tuple(e.spec.variable for e in _table().values())


def _read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise SettingsError(f"settings file {path} does not exist")
    values: dict[str, str] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in stripped:
            raise SettingsError(f"{path}:{lineno}: expected KEY=VALUE, got {stripped!r}")
        key, value = stripped.split("=", 1)
        values[key.strip()] = value.strip()
    return values


def _parse(spec: Spec, raw: str) -> Any:
    try:
        return spec.codec.parse(raw)
    except ValueError as exc:
        shown = MASK if spec.secret else repr(raw)
        raise SettingsError(f"{spec.variable}={shown} is not {spec.codec.kind}") from exc


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the settings file, the environment (which wins) and ``overrides``.

    ``env`` defaults to ``os.environ``. A file of ``KEY=VALUE`` lines may be named by
    ``CITYSTREAM_SETTINGS_FILE``. Every other ``CITYSTREAM_*`` variable must be a setting
    (``CITYSTREAM_BENCH_*`` belong to the benchmark harness). ``overrides`` take flat
    names and typed values, as :meth:`Settings.replace`.
    """
    env = os.environ if env is None else env
    source: dict[str, str] = {}
    settings_file = env.get(SETTINGS_FILE_VARIABLE)
    if settings_file:
        source.update(_read_file(Path(settings_file)))
    source.update({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    by_variable = {e.spec.variable: e.spec for e in _table().values()}
    values: dict[str, Any] = {}
    for key, raw in source.items():
        if not key.startswith(ENV_PREFIX) or key == SETTINGS_FILE_VARIABLE:
            continue
        if key.startswith(BENCH_ENV_PREFIX):
            continue
        spec = by_variable.get(key)
        if spec is None:
            raise SettingsError(f"unknown setting {key}")
        values[spec.flat_name] = _parse(spec, raw)
    values.update(overrides)
    defaults = Settings(home=user_data_home(env), cache_dir=user_cache_home(env))
    return defaults.replace(**values)
