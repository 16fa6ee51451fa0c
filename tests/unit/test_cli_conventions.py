"""The command line's conventions: help on every option, ``--json`` that parses, results on
stdout and talk on stderr, effective settings with secrets masked."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams.cli import COMMANDS, build_parser, main

JSON_COMMANDS = ("status", "db", "kpi", "quality", "settings")


def _options(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield path, action


def _without_help(parser: argparse.ArgumentParser) -> list[str]:
    return [
        f"{path} {'/'.join(a.option_strings) or a.dest}"
        for path, a in _options(parser, parser.prog)
        if not a.help or a.help == argparse.SUPPRESS
    ]


def test_every_option_of_every_command_has_help() -> None:
    parser = build_parser()
    assert len(list(_options(parser, "citystream"))) > 40  # the walk reached the commands
    assert _without_help(parser) == []


def test_the_walk_finds_an_option_without_help() -> None:
    parser = build_parser(only="status")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["status"].add_argument("--undocumented")
    assert _without_help(parser) == ["citystream status --undocumented"]


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_reporting_commands_take_json(command: str) -> None:
    args = ["db", "status"] if command == "db" else [command]
    assert build_parser(only=command).parse_args([*args, "--json"]).json is True


def test_settings_is_a_command() -> None:
    assert "settings" in COMMANDS


def test_status_json_parses(isolated_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 1  # nothing runs
    rows = orjson.loads(capsys.readouterr().out)
    assert [(r["service"], r["pid"], r["state"]) for r in rows] == [
        ("kafka", None, "down"),
        ("clickhouse", None, "down"),
    ]
    assert all(r["address"].startswith("127.0.0.1:") for r in rows)


SECRETS = {
    "CITYSTREAM_CLICKHOUSE_PASSWORD": "pw-Zq81-pipeline",
    "CITYSTREAM_CLICKHOUSE_BI_PASSWORD": "pw-Xy72-bi",
}


@pytest.mark.parametrize("extra", [[], ["--json"], ["--changed"], ["--changed", "--json"]])
def test_settings_never_show_a_password(
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITYSTREAM_PARTITIONS", "12")
    assert main(["settings", *extra]) == 0
    printed = capsys.readouterr()
    for value in SECRETS.values():
        assert value not in printed.out + printed.err
    if "--json" in extra:
        rows = {r["variable"]: r for r in orjson.loads(printed.out)}
        assert rows["CITYSTREAM_PARTITIONS"] == {
            "variable": "CITYSTREAM_PARTITIONS",
            "value": "12",
            "default": False,
        }
        for name in SECRETS:
            assert rows[name]["value"] == "***" and rows[name]["default"] is False
        if "--changed" in extra:
            assert all(not r["default"] for r in rows.values())
        else:
            assert rows["CITYSTREAM_KAFKA_VERSION"]["default"] is True
    else:
        lines = {line.split()[0]: line for line in printed.out.splitlines()}
        assert lines["CITYSTREAM_PARTITIONS"].split()[1] == "12"
        assert lines["CITYSTREAM_CLICKHOUSE_PASSWORD"].split()[1] == "***"


def test_settings_show_effective_values(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CITYSTREAM_APP_ID", "district-7")
    assert main(["settings", "--json"]) == 0
    rows = {r["variable"]: r["value"] for r in orjson.loads(capsys.readouterr().out)}
    assert rows["CITYSTREAM_APP_ID"] == "district-7"
    assert rows["CITYSTREAM_HOME"] == str(isolated_env / "var")


def test_quality_json_on_stdout_and_progress_on_stderr(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["quality", "--scenario", "ordinary", "--scale", "0.05", "--json", "--min", "0"])
    assert code == 0
    printed = capsys.readouterr()
    result = orjson.loads(printed.out)
    (score,) = result["scores"]
    assert score["scenario"] == "ordinary" and score["reports"] > 0
    assert 0.0 <= score["precision"] <= 1.0 and 0.0 <= score["recall"] <= 1.0
    assert "records simulated" in printed.err and "deduplicating" in printed.err
