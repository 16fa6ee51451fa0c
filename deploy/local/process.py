"""Detached service processes: start in their own session, track by pid file, stop for good.

A pid file alone is not trusted: before a pid is reported alive or signalled, its command
line must contain a marker (the service's generated config path), so a recycled pid that
now belongs to some other program is never killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "DeployError",
    "LocalService",
    "ServiceFiles",
    "pid_running",
    "port_open",
    "read_live_pid",
    "read_pid",
    "require_tool",
    "spawn_detached",
    "stop_process",
    "tail",
    "wait_until",
]


class DeployError(RuntimeError):
    """A local service cannot be installed, started, reached or stopped."""


def require_tool(name: str, hint: str) -> str:
    """The absolute path of an executable on PATH, or a DeployError that says how to get it."""
    path = shutil.which(name)
    if path is None:
        raise DeployError(f"`{name}` is not on PATH: {hint}")
    return path


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # the state letter follows the parenthesised command name, which may contain spaces
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def pid_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (whatever program it runs)."""
    return pid > 0 and Path(f"/proc/{pid}").exists() and not _is_zombie(pid)


def read_pid(pid_file: Path) -> int | None:
    """The number in a pid file, or None when there is no readable one."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def read_live_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in ``pid_file`` if that process runs and its command line contains ``marker``."""
    pid = read_pid(pid_file)
    if pid is None or not pid_running(pid):
        return None
    cmdline = _cmdline(pid)
    # the command line reads empty for a moment while a process is in execve (the java
    # launcher may re-exec itself): look again before calling it someone else's pid
    for _ in range(20):
        if cmdline or not pid_running(pid):
            break
        time.sleep(0.05)
        cmdline = _cmdline(pid)
    return pid if marker in cmdline else None


def spawn_detached(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` in a new session (its own process group), output appended to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(
            list(argv),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,  # survives the CLI, and `down` can kill the whole group
            close_fds=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def _group_alive(pgid: int) -> bool:
    """True while any non-zombie process belongs to process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # fields after the parenthesised command name: state ppid pgrp ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False


def _reap(pid: int) -> None:
    # when this very process spawned the service (tests do), collect the zombie
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pgid)
        if not _group_alive(pgid):
            return True
        time.sleep(0.1)
    return False


def stop_process(pid_file: Path, marker: str, *, timeout: float = 30.0) -> bool:
    """SIGTERM the service's process group, SIGKILL it after ``timeout``; True if one ran."""
    pid = read_live_pid(pid_file, marker)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        if _wait_group_gone(pid, wait_s):
            break
    _reap(pid)
    if _group_alive(pid):
        raise DeployError(f"process group {pid} ({pid_file.name}) survived SIGKILL")
    pid_file.unlink(missing_ok=True)
    return True


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    log_file: Path | None = None,
    interval: float = 0.5,
) -> None:
    """Poll ``check`` until true; fail early if ``alive`` says the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise DeployError(f"{what}: the process exited during start-up{tail(log_file)}")
        time.sleep(interval)
    raise DeployError(f"{what}: not healthy after {timeout:.0f}s{tail(log_file)}")


@dataclass(frozen=True)
class ServiceFiles:
    """Where one local service keeps its files: all under ``home`` (``<settings.home>/<name>``),
    with ``<name>.pid``, ``<name>.log`` and ``data/`` there.

    The config path is the marker that identifies the service's process (module docstring).
    """

    home: Path
    config: Path

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.home.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.home.name}.log"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def live_pid(self) -> int | None:
        """The pid of our service if it runs."""
        return read_live_pid(self.pid_file, str(self.config))

    def refuse_foreign_port(self, host: str, port: int, fix: str) -> None:
        """A DeployError when some process that is not ours listens on the service's port."""
        if port_open(host, port):
            raise DeployError(
                f"port {host}:{port} is taken by a process that is not ours "
                f"({self.pid_file}); {fix}"
            )

    def wait_started(self, healthy: Callable[[], bool], *, what: str, timeout: float) -> None:
        """Wait for the service we just started to answer; fail early if its process exits."""
        pid = read_pid(self.pid_file)
        wait_until(
            healthy,
            timeout=timeout,
            what=what,
            # the pid we just started: no marker check, a start-up may be mid-exec
            alive=lambda: pid is not None and pid_running(pid),
            log_file=self.log_file,
        )

    def stop(self, *, timeout: float) -> bool:
        """:func:`stop_process`, with the service's log tail in the error."""
        try:
            return stop_process(self.pid_file, str(self.config), timeout=timeout)
        except DeployError as exc:
            raise DeployError(f"{exc}{tail(self.log_file)}") from exc


P = TypeVar("P", bound=ServiceFiles)


@dataclass(frozen=True)
class LocalService(Generic[P]):
    """One service ``citystream up``/``down``/``status`` runs: its module supplies the parts
    that differ (files, ports, launch, health probe), the start-wait-stop cycle is this one.
    """

    name: str  # as `citystream status` prints it
    title: str  # in messages
    paths: Callable[[Settings], P]
    ports: Callable[[Settings], Sequence[tuple[str, int]]]  # (host, port) it listens on
    port_fix: str  # what to do when one of the ports is taken
    launch: Callable[[Settings, P], int]  # write the config, spawn; returns the pid
    healthy: Callable[[Settings], bool]
    address: Callable[[Settings], str]
    start_timeout_s: float
    stop_timeout_s: float

    def pid(self, settings: Settings) -> int | None:
        """The pid of our service if it runs."""
        return self.paths(settings).live_pid()

    def start(self, settings: Settings) -> int:
        """Start the service unless it already runs; returns its pid (does not wait)."""
        paths = self.paths(settings)
        pid = paths.live_pid()
        if pid is not None:
            return pid
        for host, port in self.ports(settings):
            paths.refuse_foreign_port(host, port, self.port_fix)
        return self.launch(settings, paths)

    def wait(self, settings: Settings) -> None:
        """Wait until the service we just started answers its health probe."""
        self.paths(settings).wait_started(
            lambda: self.healthy(settings),
            what=f"{self.title} on {self.address(settings)}",
            timeout=self.start_timeout_s,
        )

    def stop(self, settings: Settings) -> bool:
        """Stop our service; True if one was running."""
        return self.paths(settings).stop(timeout=self.stop_timeout_s)


def tail(log_file: Path | None, lines: int = 25) -> str:
    """The last lines of a log file, formatted to append to an error message."""
    if log_file is None or not log_file.is_file():
        return ""
    text = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log_file} ---\n" + "\n".join(text)
