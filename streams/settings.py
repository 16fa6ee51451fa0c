"""The one settings object: every tunable of citystream, read from the environment.

Each field maps to an environment variable ``CITYSTREAM_<FIELD>`` (upper case). A file of
``KEY=VALUE`` lines may be named by ``CITYSTREAM_SETTINGS_FILE``; the environment wins over
the file. Nothing here runs at import time: call :func:`load_settings` where you need it.
The docker-compose file and the native CLI read exactly these variables.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "CITYSTREAM_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range."""


@dataclass(frozen=True)
class Settings:
    # -- where local state lives (ignored folder inside the project by default) ----------
    home: Path = field(default_factory=lambda: PROJECT_ROOT / "var")
    cache_dir: Path = field(default_factory=lambda: PROJECT_ROOT / ".cache")

    # -- Kafka ---------------------------------------------------------------------------
    kafka_version: str = "4.1.1"
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_bootstrap: str = ""  # empty: derived from kafka_host:kafka_port
    kafka_heap: str = "768m"
    topic_prefix: str = ""
    partitions: int = 1

    # -- ClickHouse ----------------------------------------------------------------------
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = 19000
    clickhouse_http_port: int = 18123
    clickhouse_database: str = "citystream"
    clickhouse_user: str = "citystream"
    clickhouse_password: str = "citystream"
    clickhouse_bi_user: str = "bi"
    clickhouse_bi_password: str = "bi-readonly"
    clickhouse_binary: str = "/usr/sbin/clickhouse-server"  # Debian package's server

    # -- pipeline ------------------------------------------------------------------------
    district: str = "qibin"
    categories_file: str = ""  # empty: the packaged default table
    tile_size_m: float = 2000.0
    cell_size_m: float = 100.0
    # How far behind its tile's newest event an event is still matched against the tile's
    # dedup state; the state keeps cases this much longer. Beyond it an event opens a case
    # of its own, flagged beyond state (docs/lateness.md). A week: 12345 platforms forward
    # tickets up to days late, and a week is also the recurrence window.
    allowed_lateness_s: int = 7 * 86400
    # A record arriving more than this after its event time is flagged late (fused flags
    # bit 1) in the events and links tables and the KPIs. Nothing is rejected for it.
    late_after_s: int = 6 * 3600
    recurrence_window_s: int = 7 * 86400
    # How long an open case (not closed by its department) keeps matching beyond its time
    # window. 0 = the window alone decides: right wherever case closures do not reach the
    # dedup state (offline replays of raw feeds).
    max_open_age_s: int = 0
    redelivery_horizon_s: int = 3600
    # Dedup tile records above this go to the changelog in parts (the topics take 16 MiB
    # messages; a catch-up backlog can make one tile's record larger than that).
    changelog_part_bytes: int = 4 * 1024 * 1024
    idle_source_ms: int = 2000
    batch_max_events: int = 4096
    # The longest a normalize or dedup batch waits to fill: each stage adds up to this to
    # a record's arrival-to-dispatch time; in a catch-up batches fill before it runs out.
    batch_max_ms: int = 100
    max_payload_bytes: int = 64 * 1024
    # Validation, not lateness: an event time this far before its arrival is implausible
    # (a clock reset, a typo in the year) and dead-lettered stale_time.
    max_event_age_days: int = 400
    max_future_skew_s: int = 300
    category_code_digits: int = 4  # 2 major + 2 minor; 5 for GB/T 47678 style codes
    intake_seen_ids: int = 1_000_000  # bound of the normalizer's duplicate-source-id memory

    # -- sinks ---------------------------------------------------------------------------
    sink_batch_rows: int = 50_000
    sink_batch_ms: int = 1000
    sink_retry_max_s: float = 30.0
    bench_kpi_events: int = 1_500_000  # events in the KPI latency bench (10_000_000: big run)
    # tiny sizes in every bench suite (`citystream bench --smoke`, CI): proves they run
    bench_smoke: bool = False

    # -- Faust workers -------------------------------------------------------------------
    app_id: str = "citystream"
    worker_roles: str = "normalize,dedup,dispatch,lifecycle,sink"
    web_port: int = 16066
    web_bind: str = "127.0.0.1"
    department_seed: int = 2023
    log_level: str = "INFO"
    log_format: str = "json"  # json (one object per line) or text

    # -- working-hours calendar ----------------------------------------------------------
    timezone: str = "Asia/Shanghai"
    work_day_start: str = "08:30"
    work_day_end: str = "17:30"
    work_breaks: str = "12:00-14:00"  # comma-separated HH:MM-HH:MM breaks (lunch) in the day
    # comma-separated holiday tables (date,kind,name); a bare name is looked up in streams/data
    holiday_files: str = (
        "holidays_cn_2023.csv,holidays_cn_2024.csv,holidays_cn_2025.csv,holidays_cn_2026.csv"
    )
    holidays: str = ""  # comma-separated ISO dates, on top of the holiday files
    workdays_extra: str = ""  # comma-separated ISO dates that are adjusted working days

    # -- dispatch ------------------------------------------------------------------------
    dispatch_limit_urgent_s: int = 10 * 60  # open + dispatch, clock time
    dispatch_limit_normal_s: int = 30 * 60

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.kafka_host}:{self.kafka_port}"

    def topic(self, name: str) -> str:
        """The full topic name for a logical topic such as ``raw.sensor``."""
        return f"{self.topic_prefix}{name}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The settings as environment variables, for child processes."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


def _coerce(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw).expanduser()
    except ValueError as exc:
        raise SettingsError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {type(default).__name__}"
        ) from exc
    return raw


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


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the frozen settings from a settings file, the environment and overrides."""
    env = os.environ if env is None else env
    source: dict[str, str] = {}
    settings_file = env.get(ENV_PREFIX + "SETTINGS_FILE")
    if settings_file:
        source.update(_read_file(Path(settings_file)))
    source.update({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    defaults = Settings()
    values: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for key, raw in source.items():
        if not key.startswith(ENV_PREFIX) or key == ENV_PREFIX + "SETTINGS_FILE":
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in known:
            raise SettingsError(f"unknown setting {key}")
        values[name] = _coerce(name, raw, getattr(defaults, name))
    unknown = set(overrides) - known
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values.update(overrides)
    settings = dataclasses.replace(defaults, **values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    for name in (
        "kafka_port",
        "kafka_controller_port",
        "clickhouse_port",
        "clickhouse_http_port",
        "web_port",
    ):
        port = getattr(s, name)
        if not 1 <= port <= 65535:
            raise SettingsError(f"{ENV_PREFIX}{name.upper()}={port} is not a TCP port")
    if s.partitions < 1:
        raise SettingsError(f"{ENV_PREFIX}PARTITIONS must be >= 1, got {s.partitions}")
    if s.cell_size_m <= 0 or s.tile_size_m < s.cell_size_m:
        raise SettingsError("cell size must be > 0 and the tile at least one cell wide")
    if s.late_after_s < 0 or s.allowed_lateness_s < 0:
        raise SettingsError(
            f"{ENV_PREFIX}LATE_AFTER_S and {ENV_PREFIX}ALLOWED_LATENESS_S must be >= 0"
        )
    if s.batch_max_events < 1:
        raise SettingsError(f"{ENV_PREFIX}BATCH_MAX_EVENTS must be >= 1")
    if not 1024 <= s.changelog_part_bytes <= 8 * 1024 * 1024:
        raise SettingsError(
            f"{ENV_PREFIX}CHANGELOG_PART_BYTES must be in [1024, 8388608] (half the topics' "
            f"16 MiB message limit), got {s.changelog_part_bytes}"
        )
