"""The services of deploy/docker-compose.yml as native processes (no Docker engine here).

Each pipeline service's ``command`` and ``environment`` come from the compose file, with
its ``${VAR:-default}`` / ``${VAR:?message}`` interpolated from an operator's ``.env`` as
a test gives it. What a container gets from the compose network (the broker's and the
database's addresses, a filesystem and ports of its own) is replaced per process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from streams.runner import ChildProcess
from streams.settings import ENV_PREFIX

__all__ = ["COMPOSE", "ComposeProcess", "interpolate", "pipeline_services", "worker_healthy"]

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "docker-compose.yml"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
_EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """docker-compose's variable substitution of one value, from ``env`` (the .env)."""

    def expand(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        got = env.get(name)
        unset = got is None or (got == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and unset:
            raise KeyError(f"compose needs {name}: {arg}")
        if op in (":-", "-") and unset:
            return arg
        return got or ""

    text = _EXPANSION.sub(expand, value.replace("$$", "\0"))
    assert "$" not in text, f"unsupported interpolation in {value!r}"
    return text.replace("\0", "$")


def pipeline_services(dot_env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """``{service: {"command": [...], "environment": {...}, "profiles": [...]}}`` for the
    services built from our image, interpolated with ``dot_env``."""
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for name, svc in data["services"].items():
        if "build" not in svc:
            continue
        env = {k: interpolate(str(v), dot_env) for k, v in svc["environment"].items()}
        out[name] = {
            "command": [interpolate(str(c), dot_env) for c in svc["command"]],
            "environment": env,
            "profiles": svc.get("profiles", []),
            "restart": svc.get("restart"),
        }
    return out


def worker_healthy(web_port: int) -> bool:
    """A worker's /health says ok, as the compose healthcheck asks it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health", timeout=3) as resp:
            return bool(orjson.loads(resp.read())["status"] == "ok")
    except OSError:
        return False


def _citystream_executable() -> str:
    """The ``citystream`` console script of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "citystream"
    assert exe.is_file(), f"{exe} is missing: pip install -e . first"
    return str(exe)


@dataclass
class ComposeProcess(ChildProcess):
    """One replica of a compose service as a child process with its environment only."""

    service: str
    command: list[str]
    environment: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def web_port(self) -> int:
        return int(self.environment[ENV_PREFIX + "WEB_PORT"])

    def start(self) -> ComposeProcess:
        assert self.command[0] == "citystream", self.command
        # a container sees only its compose environment: no CITYSTREAM_* of the test's
        base = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        self.spawn([_citystream_executable(), *self.command[1:]], {**base, **self.environment})
        return self

    def healthy(self) -> bool:
        return worker_healthy(self.web_port)

    def tail(self, n: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.log_path.name} ---\n{text[-n:]}"
