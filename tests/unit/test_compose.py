"""deploy/docker-compose.yml: valid for docker-compose, wired to real settings and commands.

No Docker engine runs here, so the file is checked statically: Debian's ``docker-compose
config`` validates it, every CITYSTREAM_* variable must be a setting, and every
command the pipeline image runs must parse with the real ``citystream`` parser.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.harness.services import unavailable
from streams.cli import COMMANDS, build_parser
from streams.settings import ENV_PREFIX, Settings, env_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
SETTINGS_VARIABLES = set(env_names())
INTERPOLATION = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# ${NAME}, ${NAME:-default}, ${NAME:?message}: name, operator, rest
EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# what an operator's .env must provide (docker-compose refuses to start without them)
REQUIRED_ENV = {
    "CITYSTREAM_CLICKHOUSE_PASSWORD": "pw-test",
    "CITYSTREAM_CLICKHOUSE_BI_PASSWORD": "bi-pw-test",
    "GRAFANA_ADMIN_PASSWORD": "grafana-pw-test",
}


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _pipeline_services() -> dict[str, dict[str, Any]]:
    """Services running our own image (built from deploy/Dockerfile)."""
    return {name: svc for name, svc in _services().items() if "build" in svc}


def _env_names(service: dict[str, Any]) -> set[str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return {item.split("=", 1)[0] for item in env}
    return set(env)


def check_command(command: list[str]) -> str:
    """Parse a compose ``command`` with the real CLI parser; returns the subcommand.

    Raises AssertionError for a command the CLI does not know, or SystemExit (argparse)
    for options it rejects. Skips (or fails under CI) when the subcommand's module does
    not exist yet, since the CLI could not run it either.
    """
    assert command and command[0] == "citystream", f"{command} does not run citystream"
    assert len(command) > 1, "citystream needs a subcommand"
    sub = command[1]
    assert sub in COMMANDS, f"unknown citystream subcommand {sub!r} in {command}"
    module = COMMANDS[sub][0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise  # the module exists but one of its own imports is broken
        unavailable(f"{module} (citystream {sub}) does not exist")
    build_parser(only=sub).parse_args(command[1:])
    return sub


def test_compose_file_has_the_expected_services() -> None:
    services = _services()
    assert {"kafka", "clickhouse", "migrate", "simulator"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    roles = {
        tuple(svc["command"][svc["command"].index("--roles") + 1].split(","))
        for svc in _pipeline_services().values()
        if svc["command"][1] == "worker"
    }
    assert roles == {
        ("normalize",),
        ("dedup",),
        ("dispatch", "lifecycle"),
        ("escalation",),
        ("patrols",),
        ("sink",),
        ("api",),
        ("departments", "supervisors"),
    }
    # every worker role of the app runs somewhere in the compose file
    from streams.app.factory import ROLES

    assert {r for group in roles for r in group} == set(ROLES)


def test_kafka_image_matches_the_native_kafka_version() -> None:
    image = _services()["kafka"]["image"]
    assert image == f"apache/kafka:{Settings().kafka.version}"


def test_every_citystream_variable_is_a_setting() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = {n for n in INTERPOLATION.findall(text) if n.startswith(ENV_PREFIX)}
    for svc in _services().values():
        used |= {n for n in _env_names(svc) if n.startswith(ENV_PREFIX)}
    assert used, "the compose file passes no CITYSTREAM_* settings at all"
    assert used - SETTINGS_VARIABLES == set(), "not settings variables"


def test_pipeline_services_get_the_broker_and_database_of_the_compose_services() -> None:
    kafka_env = _services()["kafka"]["environment"]
    for name, svc in _pipeline_services().items():
        env = svc["environment"]
        assert env["CITYSTREAM_KAFKA_BOOTSTRAP"] in kafka_env["KAFKA_ADVERTISED_LISTENERS"], name
        assert env["CITYSTREAM_CLICKHOUSE_HOST"] in _services(), name


def test_depends_on_conditions_are_satisfiable() -> None:
    services = _services()
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dep, spec in depends.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
            else:
                assert spec["condition"] == "service_completed_successfully"
                assert services[dep].get("restart") == "no", f"{dep} must be a one-shot"


def _compose_config(env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    # no .env of a developer's may answer for the test: an empty one, no CITYSTREAM_*
    # variables but ``env``
    empty = tmp / "empty.env"
    empty.write_text("", encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    return subprocess.run(
        [exe, "-f", str(COMPOSE), "--env-file", str(empty), "config"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**clean, **env},
    )


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    result = _compose_config(REQUIRED_ENV, tmp_path)
    assert result.returncode == 0, result.stderr
    assert REQUIRED_ENV["CITYSTREAM_CLICKHOUSE_PASSWORD"] in result.stdout


@pytest.mark.parametrize("missing", sorted(REQUIRED_ENV))
def test_docker_compose_refuses_to_run_without_a_password(missing: str, tmp_path: Path) -> None:
    env = {k: v for k, v in REQUIRED_ENV.items() if k != missing}
    result = _compose_config(env, tmp_path)
    assert result.returncode != 0
    assert missing in result.stderr
    result = _compose_config({**env, missing: ""}, tmp_path)  # empty counts as unset
    assert result.returncode != 0


def test_no_password_has_a_default() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    expansions = EXPANSION.findall(text)
    passwords = {(name, op) for name, op, _ in expansions if "PASSWORD" in name}
    assert {name for name, _ in passwords} == set(REQUIRED_ENV)
    assert {op for _, op in passwords} == {":?"}, "a password must be required, not defaulted"


def test_workers_serve_metrics_beyond_their_own_container() -> None:
    for name, svc in _pipeline_services().items():
        if svc["command"][1] == "worker":
            assert svc["environment"]["CITYSTREAM_WEB_BIND"] == "0.0.0.0", name


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    out = {}
    for item in value.split(","):
        name, address = item.split("://")
        host, port = address.rsplit(":", 1)
        out[name] = (host, int(port))
    return out


def test_kafka_is_reachable_from_the_host_on_a_second_listener() -> None:
    kafka = _services()["kafka"]
    env = kafka["environment"]
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    external = set(advertised) - {env["KAFKA_INTER_BROKER_LISTENER_NAME"]}
    assert len(external) == 1, advertised
    (name,) = external
    host, port = advertised[name]
    assert name in protocols and name in listeners
    # the advertised address is the published one, on the loopback interface only
    assert host == "127.0.0.1"
    assert f"127.0.0.1:{port}:{listeners[name][1]}" in kafka["ports"]
    # the containers keep the internal listener
    inter = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert advertised[inter] == ("kafka", listeners[inter][1])


@pytest.mark.parametrize("service", sorted(_pipeline_services()))
def test_service_command_parses_with_the_cli(service: str) -> None:
    command = _pipeline_services()[service]["command"]
    assert check_command(command) == command[1]


@pytest.mark.parametrize(
    "command",
    [
        ["citystream", "bogus-subcommand"],
        ["python", "-m", "streams"],
        ["citystream"],
        ["citystream", "status", "--no-such-option"],
    ],
)
def test_command_check_rejects_bad_commands(command: list[str]) -> None:
    with pytest.raises((AssertionError, SystemExit)):
        check_command(command)


def test_worker_healthchecks_probe_the_configured_web_port() -> None:
    for name, svc in _pipeline_services().items():
        if svc["command"][1] != "worker":
            continue
        port = svc["environment"]["CITYSTREAM_WEB_PORT"]
        probe = " ".join(svc["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health" in probe, name


def test_the_api_is_published_and_its_healthcheck_probes_it() -> None:
    api = _pipeline_services()["api"]
    port = api["environment"]["CITYSTREAM_API_PORT"]
    assert api["environment"]["CITYSTREAM_API_BIND"] == "0.0.0.0"
    assert f"127.0.0.1:{port}:{port}" in api["ports"]
    assert f"127.0.0.1:{port}/health" in " ".join(api["healthcheck"]["test"])
    keys = api["environment"]["CITYSTREAM_API_KEYS_FILE"]
    assert any(v.endswith(f":{keys}:ro") for v in api["volumes"])


def test_worker_services_run_disjoint_role_sets() -> None:
    # each service is one consumer group (its role set); two services sharing a role would
    # both consume its topics, and the second to start refuses to (citystream worker)
    seen: dict[str, str] = {}
    for name, svc in _pipeline_services().items():
        if svc["command"][1] != "worker":
            continue
        for role in svc["command"][svc["command"].index("--roles") + 1].split(","):
            assert role not in seen, f"{role} runs in both {seen[role]} and {name}"
            seen[role] = name


def test_the_integration_tests_interpolate_as_docker_compose_does() -> None:
    from tests.integration.compose_topology import interpolate

    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d}/${UNSET:-d}/${EMPTY:-d}/${EMPTY-d}", env) == "x/d/d/"
    assert interpolate("${SET:?need it}$${SET}", env) == "x${SET}"
    with pytest.raises(KeyError, match="need it"):
        interpolate("${EMPTY:?need it}", env)
    with pytest.raises(KeyError):
        interpolate("${UNSET?}", env)


def test_the_rollup_job_is_a_long_running_service() -> None:
    # the KPI rollups' refresh (docs/bi/rollups.md) keeps running beside the workers, after
    # the schema is migrated; it is no worker, so it has no web server for a healthcheck
    rollup = _pipeline_services()["rollup"]
    command = rollup["command"]
    assert check_command(command) == "db"
    assert command[2] == "rollup"
    assert float(command[command.index("--every") + 1]) > 0
    assert rollup.get("restart", "unless-stopped") == "unless-stopped"
    assert rollup["healthcheck"] == {"disable": True}
    assert rollup["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
