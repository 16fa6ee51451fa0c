"""streams.settings: environment and file parsing, validation, immutability."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from streams.settings import ENV_PREFIX, Settings, SettingsError, load_settings


def test_empty_environment_gives_the_defaults() -> None:
    assert load_settings(env={}) == Settings()


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
    assert s.kafka_port == 29092 and isinstance(s.kafka_port, int)
    assert s.cell_size_m == 50.5
    assert s.home == tmp_path / "h" and isinstance(s.home, Path)
    assert s.bootstrap_servers == "10.0.0.7:29092"
    assert s.topic("raw.sensor") == "dev.raw.sensor"


def test_explicit_bootstrap_wins_over_host_and_port() -> None:
    s = load_settings(
        env={"CITYSTREAM_KAFKA_BOOTSTRAP": "kafka:9092", "CITYSTREAM_KAFKA_PORT": "1"}
    )
    assert s.bootstrap_servers == "kafka:9092"


@pytest.mark.parametrize(
    ("name", "raw"),
    [("KAFKA_PORT", "nineteen"), ("CELL_SIZE_M", "1e"), ("PARTITIONS", "2.5")],
)
def test_malformed_value_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=f"{ENV_PREFIX}{name}"):
        load_settings(env={ENV_PREFIX + name: raw})


def test_unknown_environment_setting_is_an_error() -> None:
    with pytest.raises(SettingsError, match="CITYSTREAM_KAFKA_PROT"):
        load_settings(env={"CITYSTREAM_KAFKA_PROT": "1"})


def test_unknown_override_is_an_error() -> None:
    with pytest.raises(SettingsError, match="no_such_field"):
        load_settings(env={}, no_such_field=1)


def test_overrides_win_over_environment() -> None:
    s = load_settings(env={"CITYSTREAM_PARTITIONS": "3"}, partitions=5)
    assert s.partitions == 5


def test_settings_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    f = tmp_path / "citystream.env"
    f.write_text(
        "# comment line\n\nCITYSTREAM_PARTITIONS = 4\nCITYSTREAM_DISTRICT=other\n"
        "CITYSTREAM_HOLIDAYS=2024-10-01,2024-10-02\n"
    )
    s = load_settings(env={"CITYSTREAM_SETTINGS_FILE": str(f), "CITYSTREAM_DISTRICT": "from-env"})
    assert s.partitions == 4
    assert s.district == "from-env"
    assert s.holidays == "2024-10-01,2024-10-02"


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


@pytest.mark.parametrize(
    "env",
    [
        {"CITYSTREAM_KAFKA_PORT": "0"},
        {"CITYSTREAM_CLICKHOUSE_HTTP_PORT": "70000"},
        {"CITYSTREAM_PARTITIONS": "0"},
        {"CITYSTREAM_CELL_SIZE_M": "0"},
        {"CITYSTREAM_TILE_SIZE_M": "50", "CITYSTREAM_CELL_SIZE_M": "100"},
        {"CITYSTREAM_BATCH_MAX_EVENTS": "0"},
    ],
)
def test_out_of_range_values_are_rejected(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(env=env)


def test_settings_are_frozen() -> None:
    s = load_settings(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kafka_port = 1  # type: ignore[misc]
    changed = s.replace(kafka_port=29092)
    assert changed.kafka_port == 29092 and s.kafka_port == Settings().kafka_port


@hyp_settings(max_examples=40, deadline=None)
@given(
    port=st.integers(1, 65535),
    partitions=st.integers(1, 64),
    cell=st.floats(1.0, 500.0, allow_nan=False),
    prefix=st.text(alphabet="abc._-", max_size=8),
)
def test_as_env_round_trips(port: int, partitions: int, cell: float, prefix: str) -> None:
    s = load_settings(
        env={}, kafka_port=port, partitions=partitions, cell_size_m=cell, topic_prefix=prefix
    )
    assert load_settings(env=s.as_env()) == s


def test_every_field_has_a_coercible_default() -> None:
    # a field whose default has a type _coerce does not know would silently stay a string
    for f in dataclasses.fields(Settings):
        default = getattr(Settings(), f.name)
        assert isinstance(default, str | int | float | bool | Path), f.name
