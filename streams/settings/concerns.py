"""The settings of the pipeline's concerns: Kafka, ClickHouse, pipeline, calendar, worker,
sink (the case loop's and the doors' are in :mod:`streams.settings.loop`).

Each is a frozen dataclass whose fields name their environment variable (see
:mod:`streams.settings.codecs`). Construction always validates: the field types first, then
the concern's own ranges (:meth:`Concern.check`); errors name the variable to fix.
"""

from __future__ import annotations

import dataclasses
import re
import ssl
from datetime import date
from typing import Any, Literal, cast, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.contracts.topics import MAX_MESSAGE_BYTES
from streams.settings.codecs import (
    BOOL,
    BREAK,
    CLOCK,
    DATE,
    FLOAT,
    INT,
    MASK,
    SPEC,
    STR,
    SettingsError,
    Spec,
    choice,
    clock_minutes,
    setting,
    tuple_of,
)

__all__ = [
    "LOG_LEVELS",
    "WORKER_ROLES",
    "CalendarSettings",
    "ClickHouseSettings",
    "Concern",
    "KafkaSettings",
    "LogFormat",
    "LogLevel",
    "PipelineSettings",
    "SchemaPath",
    "SinkSettings",
    "WorkerRole",
    "WorkerSettings",
]

WorkerRole = Literal[
    "normalize",
    "dedup",
    "dispatch",
    "lifecycle",
    "departments",
    "supervisors",
    "escalation",
    "patrols",
    "sink",
    "api",
]
WORKER_ROLES: tuple[WorkerRole, ...] = get_args(WorkerRole)
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel)
LogFormat = Literal["json", "text"]
SchemaPath = Literal["auto", "compat", "modern"]  # sinks/migrate.py, docs/schema.md
KafkaSecurity = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
_JAVA_SIZE = re.compile(r"[1-9][0-9]*[kKmMgG]?")


class Concern:
    """Base of the settings dataclasses: type checks, :meth:`check`, masked secrets."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(cast(Any, self)):
            spec: Spec | None = f.metadata.get(SPEC)
            value = getattr(self, f.name)
            if spec is None:  # a nested concern (the top-level Settings)
                if type(value) is not f.default_factory:
                    raise SettingsError(f"{f.name} must be a {f.default_factory}, got {value!r}")
                continue
            if not spec.codec.accepts(value):
                shown = MASK if spec.secret else repr(value)
                raise SettingsError(f"{spec.variable}={shown} is not {spec.codec.kind}")
            object.__setattr__(self, f.name, spec.codec.normalize(value))
        self.check()

    def check(self) -> None:
        """Ranges and relations between fields; raises SettingsError naming the variable."""

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(cast(Any, self)):
            spec: Spec | None = f.metadata.get(SPEC)
            shown = MASK if spec is not None and spec.secret else repr(getattr(self, f.name))
            parts.append(f"{f.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _require(self, ok: bool, name: str, rule: str) -> None:
        if not ok:
            spec: Spec = next(
                f.metadata[SPEC] for f in dataclasses.fields(cast(Any, self)) if f.name == name
            )
            raise SettingsError(f"{spec.variable}={getattr(self, name)!r}: {rule}")

    def _require_port(self, *names: str) -> None:
        for name in names:
            self._require(1 <= getattr(self, name) <= 65535, name, "not a TCP port")


@dataclasses.dataclass(frozen=True, repr=False)
class KafkaSettings(Concern):
    version: str = setting("4.1.1", "KAFKA_VERSION", STR)
    host: str = setting("127.0.0.1", "KAFKA_HOST", STR)
    port: int = setting(19092, "KAFKA_PORT", INT)
    controller_port: int = setting(19093, "KAFKA_CONTROLLER_PORT", INT)
    bootstrap: str = setting("", "KAFKA_BOOTSTRAP", STR)  # empty: host:port
    heap: str = setting("768m", "KAFKA_HEAP", STR)  # the broker JVM's -Xmx/-Xms
    topic_prefix: str = setting("", "TOPIC_PREFIX", STR)
    partitions: int = setting(1, "PARTITIONS", INT)
    # How clients reach a broker that requires TLS and/or SASL (docs/security.md); the
    # local broker of `citystream up` is plaintext on loopback.
    security_protocol: KafkaSecurity = setting(
        "PLAINTEXT", "KAFKA_SECURITY_PROTOCOL", choice(*get_args(KafkaSecurity), upper=True)
    )
    sasl_mechanism: SaslMechanism = setting(
        "SCRAM-SHA-512", "KAFKA_SASL_MECHANISM", choice(*get_args(SaslMechanism), upper=True)
    )
    sasl_username: str = setting("", "KAFKA_SASL_USERNAME", STR)
    sasl_password: str = setting("", "KAFKA_SASL_PASSWORD", STR, secret=True)
    ssl_cafile: str = setting("", "KAFKA_SSL_CAFILE", STR)  # empty: the system's CAs

    def check(self) -> None:
        self._require_port("port", "controller_port")
        self._require(self.partitions >= 1, "partitions", "must be >= 1")
        self._require(bool(_JAVA_SIZE.fullmatch(self.heap)), "heap", "expected e.g. 768m or 2g")
        if self.sasl:
            rule = f"needed with CITYSTREAM_KAFKA_SECURITY_PROTOCOL={self.security_protocol}"
            self._require(bool(self.sasl_username), "sasl_username", rule)
            self._require(bool(self.sasl_password), "sasl_password", rule)

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or f"{self.host}:{self.port}"

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the asyncio clients (Faust, aiokafka); None: no TLS."""
        return ssl.create_default_context(cafile=self.ssl_cafile or None) if self.tls else None

    def aiokafka_options(self) -> dict[str, Any]:
        """:meth:`client_options` in aiokafka's form (a TLS context instead of a CA file)."""
        options = {k: v for k, v in self.client_options().items() if k != "ssl_cafile"}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options

    def client_options(self) -> dict[str, Any]:
        """kafka-python's connection keywords (bootstrap servers, TLS, SASL): every client
        the pipeline makes outside Faust takes them."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.tls and self.ssl_cafile:
            options["ssl_cafile"] = self.ssl_cafile
        if self.sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options

    def topic(self, name: str) -> str:
        """The full topic name for a logical topic such as ``raw.sensor``."""
        return f"{self.topic_prefix}{name}"


@dataclasses.dataclass(frozen=True, repr=False)
class ClickHouseSettings(Concern):
    host: str = setting("127.0.0.1", "CLICKHOUSE_HOST", STR)
    port: int = setting(19000, "CLICKHOUSE_PORT", INT)
    http_port: int = setting(18123, "CLICKHOUSE_HTTP_PORT", INT)
    database: str = setting("citystream", "CLICKHOUSE_DATABASE", STR)
    user: str = setting("citystream", "CLICKHOUSE_USER", STR)
    password: str = setting("citystream", "CLICKHOUSE_PASSWORD", STR, secret=True)
    bi_user: str = setting("bi", "CLICKHOUSE_BI_USER", STR)
    bi_password: str = setting("bi-readonly", "CLICKHOUSE_BI_PASSWORD", STR, secret=True)
    # the Debian package's server, run by `citystream up`
    binary: str = setting("/usr/sbin/clickhouse-server", "CLICKHOUSE_BINARY", STR)
    # the native protocol over TLS (the server's tcp_port_secure; docs/security.md)
    secure: bool = setting(False, "CLICKHOUSE_SECURE", BOOL)
    ca_certs: str = setting("", "CLICKHOUSE_CA_CERTS", STR)  # empty: the system's CAs
    # the schema path of a new database (auto: modern when the server is recent enough);
    # a database keeps the path it was built on (docs/schema.md)
    schema: SchemaPath = setting("auto", "CLICKHOUSE_SCHEMA", choice(*get_args(SchemaPath)))
    # modern path TTLs (sinks/retention.py): GPS pings are raw material of the patrol
    # sessions, kept for half a year of complaints about them; a dead letter's row stays,
    # its raw payload goes after a quarter (time enough to replay a fixed adapter over it)
    patrol_track_days: int = setting(180, "CLICKHOUSE_PATROL_TRACK_DAYS", INT)
    dead_letter_payload_days: int = setting(90, "CLICKHOUSE_DEAD_LETTER_PAYLOAD_DAYS", INT)

    def check(self) -> None:
        self._require_port("port", "http_port")
        for name in ("patrol_track_days", "dead_letter_payload_days"):
            self._require(getattr(self, name) >= 1, name, "at least 1 (day)")
        if self.ca_certs:
            self._require(self.secure, "ca_certs", "only with CITYSTREAM_CLICKHOUSE_SECURE=true")

    def client_options(self) -> dict[str, Any]:
        """clickhouse-driver's connection keywords for the pipeline user (TLS if secure)."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }
        if self.secure:
            options.update(secure=True, verify=True)
            if self.ca_certs:
                options["ca_certs"] = self.ca_certs
        return options


@dataclasses.dataclass(frozen=True, repr=False)
class PipelineSettings(Concern):
    district: str = setting("qibin", "DISTRICT", STR)
    categories_file: str = setting("", "CATEGORIES_FILE", STR)  # empty: the packaged table
    # the campaign calendar (streams/data/campaigns.csv format: streams/reference/campaigns.py)
    campaigns_file: str = setting("", "CAMPAIGNS_FILE", STR)  # empty: the packaged calendar
    tile_size_m: float = setting(2000.0, "TILE_SIZE_M", FLOAT)
    cell_size_m: float = setting(100.0, "CELL_SIZE_M", FLOAT)
    # How far behind its tile's newest event an event is still matched against the tile's
    # dedup state; the state keeps cases this much longer. Beyond it an event opens a case
    # of its own, flagged beyond state (docs/lateness.md). A week: 12345 platforms forward
    # tickets up to days late, and a week is also the recurrence window.
    allowed_lateness_s: int = setting(7 * 86400, "ALLOWED_LATENESS_S", INT)
    # A record arriving more than this after its event time is flagged late (fused flags
    # bit 1) in the events and links tables and the KPIs. Nothing is rejected for it.
    late_after_s: int = setting(6 * 3600, "LATE_AFTER_S", INT)
    recurrence_window_s: int = setting(7 * 86400, "RECURRENCE_WINDOW_S", INT)
    # How long after its last report an open case keeps matching beyond its time window,
    # for the categories whose table row leaves ``max_open_age_s`` empty (categories.csv
    # sets it per category). Only where closures reach dedup: see ``dedup_closures``.
    max_open_age_s: int = setting(0, "MAX_OPEN_AGE_S", INT)
    # The lifecycle sends each close and void back to the dedup tiles holding the case
    # (closure frames on events.fused), so a report after a closure is a recurrence and an
    # open case keeps attracting reports up to its category's open age. Off: no closure
    # reaches dedup and the time window alone decides (open age 0), as in an offline replay
    # of raw feeds, which knows no closures.
    dedup_closures: bool = setting(True, "DEDUP_CLOSURES", BOOL)
    redelivery_horizon_s: int = setting(3600, "REDELIVERY_HORIZON_S", INT)
    # Dedup tile records above this go to the changelog in parts (a catch-up backlog can
    # make one tile's record larger than the topics' message limit).
    changelog_part_bytes: int = setting(4 * 1024 * 1024, "CHANGELOG_PART_BYTES", INT)
    idle_source_ms: int = setting(2000, "IDLE_SOURCE_MS", INT)
    # A live raw partition (its last record was stamped within this of the worker's clock)
    # that is caught up moves its watermark to the time the consumer last saw its end minus
    # this: a record not yet on the broker then will be stamped after that. Dedup's other
    # sources then wait this long for a quiet one, not for its next record or for
    # idle_source_ms (docs/lateness.md, "Live sources"). 0: off.
    live_source_skew_ms: int = setting(100, "LIVE_SOURCE_SKEW_MS", INT)
    # The bound on events a worker holds in memory: the dedup reorder buffers of its
    # partitions stay under it (a quarter of it pauses the raw partitions ahead of the
    # watermark; fetching resumes below an eighth), and every in-memory queue and batch is
    # a sixteenth of it at most (queues_max_events), so what was fetched before a pause
    # fits in the rest. Nothing is dropped: the paused records wait on the broker.
    max_pending_events: int = setting(400_000, "MAX_PENDING_EVENTS", INT)
    batch_max_events: int = setting(4096, "BATCH_MAX_EVENTS", INT)
    # The longest a batch of a Faust agent's take waits to fill (the sink, patrols, and
    # dedup in a process with the sink role); in a catch-up batches fill before it runs
    # out. Normalize, dedup and dispatch take what one fetch brought (bulk, no wait): this
    # no longer adds to a record's arrival-to-dispatch time.
    batch_max_ms: int = setting(100, "BATCH_MAX_MS", INT)
    max_payload_bytes: int = setting(64 * 1024, "MAX_PAYLOAD_BYTES", INT)
    # Validation, not lateness: an event time this far before its arrival is implausible
    # (a clock reset, a typo in the year) and dead-lettered stale_time.
    max_event_age_days: int = setting(400, "MAX_EVENT_AGE_DAYS", INT)
    max_future_skew_s: int = setting(300, "MAX_FUTURE_SKEW_S", INT)
    # 2 major + 2 minor digits; 5 for GB/T 47678 style codes
    category_code_digits: int = setting(4, "CATEGORY_CODE_DIGITS", INT)
    # bound of the normalizer's duplicate-source-id memory
    intake_seen_ids: int = setting(1_000_000, "INTAKE_SEEN_IDS", INT)

    @property
    def queues_max_events(self) -> int:
        """The bound of every in-memory queue and batch of records (``max_pending_events``)."""
        return self.max_pending_events // 16

    @property
    def normalize_batch_events(self) -> int:
        """Records per normalize batch: ``batch_max_events``, within the queues' bound."""
        return min(self.batch_max_events, self.queues_max_events)

    def check(self) -> None:
        self._require(self.cell_size_m > 0, "cell_size_m", "must be > 0")
        self._require(
            self.tile_size_m >= self.cell_size_m, "tile_size_m", "the tile must be >= one cell"
        )
        for name in (
            "allowed_lateness_s",
            "late_after_s",
            "recurrence_window_s",
            "max_open_age_s",
            "redelivery_horizon_s",
            "idle_source_ms",
            "live_source_skew_ms",
            "batch_max_ms",
            "max_future_skew_s",
            "intake_seen_ids",
        ):
            self._require(getattr(self, name) >= 0, name, "must be >= 0")
        for name in ("batch_max_events", "max_payload_bytes", "max_event_age_days"):
            self._require(getattr(self, name) >= 1, name, "must be >= 1")
        self._require(self.max_pending_events >= 1024, "max_pending_events", "must be >= 1024")
        self._require(2 <= self.category_code_digits <= 8, "category_code_digits", "not in [2, 8]")
        # half the topics' message limit: a part plus its framing must fit one message
        limit = MAX_MESSAGE_BYTES // 2
        self._require(
            1024 <= self.changelog_part_bytes <= limit,
            "changelog_part_bytes",
            f"must be in [1024, {limit}] (half the topics' message limit)",
        )


@dataclasses.dataclass(frozen=True, repr=False)
class CalendarSettings(Concern):
    timezone: str = setting("Asia/Shanghai", "TIMEZONE", STR)
    work_day_start: str = setting("08:30", "WORK_DAY_START", CLOCK)
    work_day_end: str = setting("17:30", "WORK_DAY_END", CLOCK)
    # breaks (lunch) in the work day; the variable is comma-separated HH:MM-HH:MM
    work_breaks: tuple[tuple[str, str], ...] = setting(
        (("12:00", "14:00"),), "WORK_BREAKS", tuple_of(BREAK)
    )
    # holiday tables (date,kind,name); a bare name is looked up in streams/data
    holiday_files: tuple[str, ...] = setting(
        (
            "holidays_cn_2023.csv",
            "holidays_cn_2024.csv",
            "holidays_cn_2025.csv",
            "holidays_cn_2026.csv",
            # provisional: the law's holidays, until the State Council's notice (see
            # scripts/gen_holidays.py --statutory)
            "holidays_cn_2027.csv",
        ),
        "HOLIDAY_FILES",
        tuple_of(STR),
    )
    holidays: tuple[date, ...] = setting((), "HOLIDAYS", tuple_of(DATE))  # on top of the files
    workdays_extra: tuple[date, ...] = setting((), "WORKDAYS_EXTRA", tuple_of(DATE))  # 调休

    def check(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._require(False, "timezone", "not an IANA time zone")
        start, end = clock_minutes(self.work_day_start), clock_minutes(self.work_day_end)
        self._require(start < end, "work_day_end", f"must be after {self.work_day_start}")
        for lo, hi in self.work_breaks:
            ok = start < clock_minutes(lo) < clock_minutes(hi) < end
            self._require(ok, "work_breaks", f"{lo}-{hi} is not inside the work day")


@dataclasses.dataclass(frozen=True, repr=False)
class WorkerSettings(Concern):
    app_id: str = setting("citystream", "APP_ID", STR)
    # the roles of `citystream worker` without --roles; the variable may say `all`
    roles: tuple[WorkerRole, ...] = setting(
        ("normalize", "dedup", "dispatch", "lifecycle", "sink"),
        "WORKER_ROLES",
        tuple_of(choice(*WORKER_ROLES), everything=WORKER_ROLES),
    )
    web_port: int = setting(16066, "WEB_PORT", INT)
    web_bind: str = setting("127.0.0.1", "WEB_BIND", STR)
    department_seed: int = setting(2023, "DEPARTMENT_SEED", INT)
    log_level: LogLevel = setting("INFO", "LOG_LEVEL", choice(*LOG_LEVELS, upper=True))
    # json: one object per line; text: for people
    log_format: LogFormat = setting("json", "LOG_FORMAT", choice(*get_args(LogFormat)))

    def check(self) -> None:
        self._require_port("web_port")
        self._require(bool(self.app_id), "app_id", "must not be empty")
        self._require(bool(self.roles), "roles", "name at least one role")


@dataclasses.dataclass(frozen=True, repr=False)
class SinkSettings(Concern):
    batch_rows: int = setting(50_000, "SINK_BATCH_ROWS", INT)
    batch_ms: int = setting(1000, "SINK_BATCH_MS", INT)
    retry_max_s: float = setting(30.0, "SINK_RETRY_MAX_S", FLOAT)

    def check(self) -> None:
        self._require(self.batch_rows >= 1, "batch_rows", "must be >= 1")
        self._require(self.batch_ms >= 0, "batch_ms", "must be >= 0")
        self._require(self.retry_max_s > 0, "retry_max_s", "must be > 0")
