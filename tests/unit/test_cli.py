"""The ``citystream`` entry point and its service subcommands (up / down / status).

No services are needed: the settings point at a temporary home and at free ports.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from streams.cli import COMMANDS, build_parser, main


@pytest.mark.parametrize("name", ["up", "down", "status"])
def test_service_subcommands_parse(name: str) -> None:
    args = build_parser(only=name).parse_args([name])
    assert args.command == name


def test_up_accepts_quiet_and_rejects_unknown_options() -> None:
    parser = build_parser(only="up")
    assert parser.parse_args(["up", "--quiet"]).quiet is True
    with pytest.raises(SystemExit):
        parser.parse_args(["up", "--no-such-option"])


def test_service_modules_expose_the_command_protocol() -> None:
    import importlib

    for name in ("up", "down", "status"):
        module = importlib.import_module(COMMANDS[name][0])
        assert callable(module.add_arguments) and callable(module.run)


def test_status_reports_down_and_exits_1_when_nothing_runs(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    lines = [line.split() for line in out.splitlines()[1:]]
    assert [(cols[0], cols[1], cols[2]) for cols in lines] == [
        ("kafka", "-", "down"),
        ("clickhouse", "-", "down"),
    ]


def test_down_when_nothing_runs_is_harmless(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["down"]) == 0
    assert main(["down"]) == 0
    assert capsys.readouterr().out.count("was not running") == 4


def _up_with_empty_path(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """``citystream up`` where neither mvn nor java can be found: it fails; its stderr."""
    empty_bin = home / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert main(["up"]) == 1
    return capsys.readouterr().err


def test_up_without_maven_fails_with_a_clear_message(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _up_with_empty_path(isolated_env, monkeypatch, capsys)
    assert "mvn" in err and "apt-get install -y maven" in err


def test_bad_settings_exit_2(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CITYSTREAM_KAFKA_PORT", "not-a-port")
    assert main(["status"]) == 2
    assert "CITYSTREAM_KAFKA_PORT" in capsys.readouterr().err


def test_up_without_java_fails_with_a_clear_message(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.settings import load_settings

    s = load_settings()
    libs = s.cache_dir / "kafka" / s.kafka.version / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{s.kafka.version}.jar").write_bytes(b"")
    (libs / ".complete").write_text("cached\n")  # the jars count as resolved: no mvn needed
    err = _up_with_empty_path(isolated_env, monkeypatch, capsys)
    assert "`java` is not on PATH" in err and "openjdk" in err


def test_up_refuses_a_port_taken_by_someone_else(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        monkeypatch.setenv("CITYSTREAM_KAFKA_PORT", str(port))
        assert main(["up"]) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} is taken" in err


def test_version_and_user_facing_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0
    assert re.fullmatch(r"citystream \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "digital management centre" in text and "citystream demo" in text
    assert "add_arguments" not in text and "``" not in text  # no developer docstring
