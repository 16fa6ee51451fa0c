"""streams.settings: environment and file parsing, validation, immutability."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from streams.contracts.topics import MAX_MESSAGE_BYTES
from streams.settings import (
    ENV_PREFIX,
    WORKER_ROLES,
    ClickHouseSettings,
    KafkaSettings,
    PipelineSettings,
    Settings,
    SettingsError,
    env_names,
    load_settings,
)

# Every variable of the flat settings object before it was split by concern (commit
# 317e23e): operators' .env files name these, so each must still load. The two bench knobs
# moved to the bench harness and are no settings any more, but stay accepted (ignored).
OLD_NAMES = [
    "HOME",
    "CACHE_DIR",
    "KAFKA_VERSION",
    "KAFKA_HOST",
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "KAFKA_BOOTSTRAP",
    "KAFKA_HEAP",
    "TOPIC_PREFIX",
    "PARTITIONS",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_PORT",
    "CLICKHOUSE_HTTP_PORT",
    "CLICKHOUSE_DATABASE",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "CLICKHOUSE_BI_USER",
    "CLICKHOUSE_BI_PASSWORD",
    "CLICKHOUSE_BINARY",
    "DISTRICT",
    "CATEGORIES_FILE",
    "TILE_SIZE_M",
    "CELL_SIZE_M",
    "ALLOWED_LATENESS_S",
    "RECURRENCE_WINDOW_S",
    "MAX_OPEN_AGE_S",
    "REDELIVERY_HORIZON_S",
    "CHANGELOG_PART_BYTES",
    "IDLE_SOURCE_MS",
    "BATCH_MAX_EVENTS",
    "BATCH_MAX_MS",
    "MAX_PAYLOAD_BYTES",
    "MAX_EVENT_AGE_DAYS",
    "MAX_FUTURE_SKEW_S",
    "CATEGORY_CODE_DIGITS",
    "INTAKE_SEEN_IDS",
    "SINK_BATCH_ROWS",
    "SINK_BATCH_MS",
    "SINK_RETRY_MAX_S",
    "APP_ID",
    "WORKER_ROLES",
    "WEB_PORT",
    "WEB_BIND",
    "DEPARTMENT_SEED",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "TIMEZONE",
    "WORK_DAY_START",
    "WORK_DAY_END",
    "WORK_BREAKS",
    "HOLIDAY_FILES",
    "HOLIDAYS",
    "WORKDAYS_EXTRA",
    "DISPATCH_LIMIT_URGENT_S",
    "DISPATCH_LIMIT_NORMAL_S",
]
# Variables added since; each must load like the old ones.
BENCH_NAMES = ("BENCH_KPI_EVENTS", "BENCH_SMOKE")
# a value of each old variable, in the text form operators wrote (lists comma-separated)
EXAMPLES = {
    "HOME": "/srv/citystream",
    "CACHE_DIR": "/srv/cache",
    "KAFKA_HEAP": "2g",
    "CATEGORIES_FILE": "/etc/citystream/categories.csv",
    "TILE_SIZE_M": "1500",
    "CELL_SIZE_M": "50.5",
    "SINK_RETRY_MAX_S": "12.5",
    "DISPATCH_RETURN_LIMIT_HOURS": "3.5",
    "TRACK_MAX_SPEED_MPS": "6.5",
    "CHANGELOG_PART_BYTES": "2097152",
    "WORKER_ROLES": "dedup, sink",
    "LOG_LEVEL": "debug",
    "ESCALATION_CLOCK": "feed",
    "KAFKA_SECURITY_PROTOCOL": "SSL",
    "KAFKA_SASL_MECHANISM": "PLAIN",
    "CLICKHOUSE_SECURE": "true",
    "CLICKHOUSE_SCHEMA": "modern",
    "ESCALATION_TICK_S": "30.5",
    "LOG_FORMAT": "text",
    "TIMEZONE": "UTC",
    "WORK_DAY_START": "09:00",
    "WORK_DAY_END": "18:00",
    "WORK_BREAKS": "12:00-13:00,15:00-15:15",
    "HOLIDAY_FILES": "holidays_cn_2024.csv, /etc/extra.csv",
    "HOLIDAYS": "2024-10-01,2024-10-02",
    "WORKDAYS_EXTRA": "2024-10-12",
    "ESCALATION_REMIND_SHARE": "0.75",
    "ESCALATION_DEPARTMENT_HEAD_OVERDUE": "0.25",
    "ESCALATION_DISTRICT_LEADER_OVERDUE": "1.5",
    "DEDUP_CLOSURES": "false",
    "WALK_BUFFER_M": "30",
    "WALK_MIN_ALONG_M": "40.5",
    "WALK_MIN_SHARE": "0.75",
    "API_RATE_PER_S": "7.5",
}


def _env(**values: str) -> dict[str, str]:
    return {ENV_PREFIX + k.upper(): v for k, v in values.items()}


def test_every_old_variable_name_still_loads() -> None:
    current = {n.removeprefix(ENV_PREFIX) for n in env_names()}
    assert set(OLD_NAMES) <= current, "a variable operators' .env files use was renamed"
    names = sorted(current)  # every variable, old and new, must reach its setting
    defaults = Settings().as_env()
    env = {ENV_PREFIX + n: "1" for n in BENCH_NAMES}  # the harness's: accepted, not settings
    for name in names:
        default = defaults[ENV_PREFIX + name]
        other = str(int(default) + 1) if default.isdigit() else default + "x"
        env[ENV_PREFIX + name] = EXAMPLES.get(name, other)
    loaded = load_settings(env=env).as_env()
    unchanged = [n for n in names if loaded[ENV_PREFIX + n] == defaults[ENV_PREFIX + n]]
    assert unchanged == [], "each variable must reach its setting"


def test_empty_environment_gives_the_defaults(tmp_path: Path) -> None:
    env = _env(home=str(tmp_path / "h"), cache_dir=str(tmp_path / "c"))
    assert load_settings(env=env) == Settings(home=tmp_path / "h", cache_dir=tmp_path / "c")


def test_environment_values_are_coerced_to_the_field_types(tmp_path: Path) -> None:
    s = load_settings(
        env={
            "CITYSTREAM_KAFKA_PORT": "29092",
            "CITYSTREAM_CELL_SIZE_M": "50.5",
            "CITYSTREAM_HOME": str(tmp_path / "h"),
            "CITYSTREAM_TOPIC_PREFIX": "dev.",
            "CITYSTREAM_KAFKA_HOST": "10.0.0.7",
            "UNRELATED": "ignored",
        }
    )
    assert s.kafka.port == 29092 and isinstance(s.kafka.port, int)
    assert s.pipeline.cell_size_m == 50.5
    assert s.home == tmp_path / "h" and isinstance(s.home, Path)
    assert s.kafka.bootstrap_servers == "10.0.0.7:29092"
    assert s.kafka.topic("raw.sensor") == "dev.raw.sensor"


def test_lists_parse_from_the_same_comma_strings_into_typed_tuples() -> None:
    s = load_settings(env={ENV_PREFIX + k: v for k, v in EXAMPLES.items()})
    assert s.worker.roles == ("dedup", "sink")
    assert s.worker.log_level == "DEBUG" and s.worker.log_format == "text"
    assert s.calendar.work_breaks == (("12:00", "13:00"), ("15:00", "15:15"))
    assert s.calendar.holiday_files == ("holidays_cn_2024.csv", "/etc/extra.csv")
    assert s.calendar.holidays == (date(2024, 10, 1), date(2024, 10, 2))
    assert s.calendar.workdays_extra == (date(2024, 10, 12),)
    assert load_settings(env=_env(worker_roles="all")).worker.roles == WORKER_ROLES
    empty = load_settings(env=_env(holiday_files="", work_breaks="", holidays=" , "))
    assert empty.calendar.holiday_files == () and empty.calendar.work_breaks == ()
    assert empty.calendar.holidays == ()
    # and back: the variables child processes get are the text the parser reads
    env = s.as_env()
    assert env["CITYSTREAM_WORK_BREAKS"] == "12:00-13:00,15:00-15:15"
    assert env["CITYSTREAM_HOLIDAYS"] == "2024-10-01,2024-10-02"
    assert env["CITYSTREAM_WORKER_ROLES"] == "dedup,sink"


def test_explicit_bootstrap_wins_over_host_and_port() -> None:
    s = load_settings(
        env={"CITYSTREAM_KAFKA_BOOTSTRAP": "kafka:9092", "CITYSTREAM_KAFKA_PORT": "1"}
    )
    assert s.kafka.bootstrap_servers == "kafka:9092"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("KAFKA_PORT", "nineteen"),
        ("CELL_SIZE_M", "1e"),
        ("CELL_SIZE_M", "nan"),
        ("PARTITIONS", "2.5"),
        ("WORKER_ROLES", "normalize,bogus"),
        ("LOG_FORMAT", "xml"),
        ("WORK_DAY_START", "8:3"),
        ("WORK_BREAKS", "12:00"),
        ("WORK_BREAKS", "12:00-12:75"),
        ("HOLIDAYS", "2024-13-01"),
        ("HOME", " "),
    ],
)
def test_malformed_value_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}"):
        load_settings(env={ENV_PREFIX + name: raw})


def test_unknown_environment_setting_is_an_error() -> None:
    with pytest.raises(SettingsError, match="CITYSTREAM_KAFKA_PROT"):
        load_settings(env={"CITYSTREAM_KAFKA_PROT": "1"})


def test_unknown_override_or_replace_name_is_an_error() -> None:
    with pytest.raises(SettingsError, match="no_such_field"):
        load_settings(env={}, no_such_field=1)
    with pytest.raises(SettingsError, match="port"):
        Settings().replace(port=1)  # flat names are the variables': kafka_port


def test_overrides_win_over_environment() -> None:
    s = load_settings(env={"CITYSTREAM_PARTITIONS": "3"}, partitions=5)
    assert s.kafka.partitions == 5


def test_settings_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    f = tmp_path / "citystream.env"
    f.write_text(
        "# comment line\n\nCITYSTREAM_PARTITIONS = 4\nCITYSTREAM_DISTRICT=other\n"
        "CITYSTREAM_HOLIDAYS=2024-10-01,2024-10-02\n"
    )
    s = load_settings(env={"CITYSTREAM_SETTINGS_FILE": str(f), "CITYSTREAM_DISTRICT": "from-env"})
    assert s.kafka.partitions == 4
    assert s.pipeline.district == "from-env"
    assert s.calendar.holidays == (date(2024, 10, 1), date(2024, 10, 2))


def test_settings_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(env={"CITYSTREAM_SETTINGS_FILE": str(tmp_path / "missing.env")})
    bad = tmp_path / "bad.env"
    bad.write_text("CITYSTREAM_PARTITIONS=2\njust words\n")
    with pytest.raises(SettingsError, match=r"bad.env:2"):
        load_settings(env={"CITYSTREAM_SETTINGS_FILE": str(bad)})
    unknown = tmp_path / "unknown.env"
    unknown.write_text("CITYSTREAM_NOT_A_SETTING=1\n")
    with pytest.raises(SettingsError, match="CITYSTREAM_NOT_A_SETTING"):
        load_settings(env={"CITYSTREAM_SETTINGS_FILE": str(unknown)})


OUT_OF_RANGE = [
    {"CITYSTREAM_KAFKA_PORT": "0"},
    {"CITYSTREAM_CLICKHOUSE_HTTP_PORT": "70000"},
    {"CITYSTREAM_WEB_PORT": "65536"},
    {"CITYSTREAM_PARTITIONS": "0"},
    {"CITYSTREAM_CELL_SIZE_M": "0"},
    {"CITYSTREAM_TILE_SIZE_M": "50", "CITYSTREAM_CELL_SIZE_M": "100"},
    {"CITYSTREAM_BATCH_MAX_EVENTS": "0"},
    {"CITYSTREAM_CHANGELOG_PART_BYTES": "1023"},
    {"CITYSTREAM_CHANGELOG_PART_BYTES": str(MAX_MESSAGE_BYTES // 2 + 1)},
    {"CITYSTREAM_SINK_BATCH_ROWS": "0"},
    {"CITYSTREAM_KAFKA_HEAP": "lots"},
    {"CITYSTREAM_TIMEZONE": "Mars/Olympus"},
    {"CITYSTREAM_WORK_DAY_START": "18:00", "CITYSTREAM_WORK_DAY_END": "09:00"},
    {"CITYSTREAM_WORK_BREAKS": "07:00-08:00"},
    {"CITYSTREAM_WORKER_ROLES": ""},
    {"CITYSTREAM_DISPATCH_LIMIT_URGENT_S": "0"},
    {"CITYSTREAM_TRACK_MAX_SPEED_MPS": "0"},
    {"CITYSTREAM_TRACK_JUMP_WINDOW_S": "-1"},
    {"CITYSTREAM_TRACK_SEEN_POINTS": "1"},
]


@pytest.mark.parametrize("env", OUT_OF_RANGE)
def test_out_of_range_values_are_rejected_naming_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="|".join(env)):
        load_settings(env=env)


def test_changelog_part_limit_follows_the_topics_message_limit() -> None:
    at_limit = MAX_MESSAGE_BYTES // 2
    assert (
        load_settings(env={}, changelog_part_bytes=at_limit).pipeline.changelog_part_bytes
        == at_limit
    )


@pytest.mark.parametrize(
    ("build", "variable"),
    [
        (lambda: KafkaSettings(port=0), "CITYSTREAM_KAFKA_PORT"),
        (lambda: KafkaSettings(partitions=0), "CITYSTREAM_PARTITIONS"),
        (lambda: PipelineSettings(cell_size_m=0.0), "CITYSTREAM_CELL_SIZE_M"),
        (lambda: ClickHouseSettings(port="19000"), "CITYSTREAM_CLICKHOUSE_PORT"),  # type
        (lambda: PipelineSettings(batch_max_events=True), "CITYSTREAM_BATCH_MAX_EVENTS"),
        (lambda: Settings(home="var"), "CITYSTREAM_HOME"),  # str, not a Path
        (lambda: Settings().replace(partitions=0), "CITYSTREAM_PARTITIONS"),
        (lambda: Settings().replace(worker_roles="dedup,sink"), "CITYSTREAM_WORKER_ROLES"),
        (lambda: Settings().replace(worker_roles=("dedup", "nope")), "CITYSTREAM_WORKER_ROLES"),
        (lambda: Settings().replace(log_format="yaml"), "CITYSTREAM_LOG_FORMAT"),
        (lambda: Settings().replace(holidays=("2024-10-01",)), "CITYSTREAM_HOLIDAYS"),
        (lambda: Settings().replace(clickhouse_http_port=70000), "CITYSTREAM_CLICKHOUSE_HTTP"),
    ],
)
def test_direct_construction_and_replace_validate(
    build: Callable[[], object], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        build()


def test_a_whole_concern_must_have_its_type() -> None:
    with pytest.raises(SettingsError, match="kafka"):
        Settings(kafka=ClickHouseSettings())  # type: ignore[arg-type]
    s = Settings().replace(kafka=KafkaSettings(partitions=4))
    assert s.kafka.partitions == 4


def test_floats_accept_integers_and_stay_floats() -> None:
    s = Settings().replace(tile_size_m=3000)
    assert s.pipeline.tile_size_m == 3000.0 and isinstance(s.pipeline.tile_size_m, float)


def test_secrets_are_masked_in_repr_but_reach_child_processes() -> None:
    s = load_settings(
        env={}, clickhouse_password="hunter2-secret", clickhouse_bi_password="bi-secret-9"
    )
    for text in (repr(s), str(s), repr(s.clickhouse)):
        assert "hunter2-secret" not in text and "bi-secret-9" not in text
        assert "password=***" in text and "bi_password=***" in text
    assert "user='citystream'" in repr(s)  # the rest is shown
    env = s.as_env()
    assert env["CITYSTREAM_CLICKHOUSE_PASSWORD"] == "hunter2-secret"
    assert env["CITYSTREAM_CLICKHOUSE_BI_PASSWORD"] == "bi-secret-9"


def test_home_and_cache_come_from_the_variables_else_the_user_folders(tmp_path: Path) -> None:
    xdg = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    s = load_settings(env=xdg)
    assert s.home == tmp_path / "data" / "citystream"
    assert s.cache_dir == tmp_path / "cache" / "citystream"
    plain = load_settings(env={"XDG_DATA_HOME": "relative/ignored"})  # the XDG spec says so
    assert plain.home == Path.home() / ".local" / "share" / "citystream"
    assert plain.cache_dir == Path.home() / ".cache" / "citystream"
    explicit = load_settings(env={**xdg, **_env(home="~/state", cache_dir=str(tmp_path / "c"))})
    assert explicit.home == Path.home() / "state" and explicit.cache_dir == tmp_path / "c"
    # never a folder beside the installed package
    assert "streams" not in Settings().home.parts


def test_settings_are_frozen() -> None:
    s = load_settings(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kafka.port = 1  # type: ignore[misc]
    changed = s.replace(kafka_port=29092)
    assert changed.kafka.port == 29092 and s.kafka.port == KafkaSettings().port
    assert changed.clickhouse is s.clickhouse  # the other concerns are shared, unchanged


@hyp_settings(max_examples=40, deadline=None)
@given(
    port=st.integers(1, 65535),
    partitions=st.integers(1, 64),
    cell=st.floats(1.0, 500.0, allow_nan=False),
    prefix=st.text(alphabet="abc._-", max_size=8),
    roles=st.lists(st.sampled_from(WORKER_ROLES), min_size=1, max_size=4, unique=True),
    days=st.lists(st.dates(date(2000, 1, 1), date(2099, 12, 31)), max_size=3),
)
def test_as_env_round_trips(
    port: int, partitions: int, cell: float, prefix: str, roles: list[str], days: list[date]
) -> None:
    s = load_settings(
        env={},
        kafka_port=port,
        partitions=partitions,
        cell_size_m=cell,
        topic_prefix=prefix,
        worker_roles=tuple(roles),
        holidays=tuple(days),
    )
    assert load_settings(env=s.as_env()) == s


def test_env_names_are_the_one_table() -> None:
    names = env_names()
    assert len(names) == len(set(names)) and all(n.startswith(ENV_PREFIX) for n in names)
    assert set(Settings().as_env()) == set(names)


def test_kafka_tls_and_sasl_reach_every_client() -> None:
    plain = Settings().kafka
    assert plain.client_options() == {
        "bootstrap_servers": plain.bootstrap_servers,
        "security_protocol": "PLAINTEXT",
    }
    secured = Settings().replace(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="pipeline",
        kafka_sasl_password="s3cret",
        kafka_ssl_cafile="/etc/citystream/ca.pem",
    )
    options = secured.kafka.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_cafile"] == "/etc/citystream/ca.pem"
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == (
        "SCRAM-SHA-512",
        "pipeline",
    )
    assert "s3cret" not in repr(secured)  # a secret never shows
    # aiokafka takes a TLS context (here on the system's CAs) instead of a CA file
    aio = secured.replace(kafka_ssl_cafile="").kafka.aiokafka_options()
    assert "ssl_cafile" not in aio and aio["security_protocol"] == "SASL_SSL"
    assert aio["sasl_plain_password"] == "s3cret" and aio["ssl_context"] is not None
    with pytest.raises(SettingsError, match="CITYSTREAM_KAFKA_SASL_USERNAME"):
        Settings().replace(kafka_security_protocol="SASL_PLAINTEXT")


def test_clickhouse_tls_options() -> None:
    assert "secure" not in Settings().clickhouse.client_options()
    secured = Settings().replace(clickhouse_secure=True, clickhouse_ca_certs="/etc/ca.pem")
    options = secured.clickhouse.client_options()
    assert (options["secure"], options["verify"], options["ca_certs"]) == (
        True,
        True,
        "/etc/ca.pem",
    )
    with pytest.raises(SettingsError, match="CITYSTREAM_CLICKHOUSE_CA_CERTS"):
        Settings().replace(clickhouse_ca_certs="/etc/ca.pem")
