"""deploy.local without real services: process groups, health waits, generated configs."""

from __future__ import annotations

import hashlib
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from deploy.local import clickhouse, kafka
from deploy.local.process import (
    DeployError,
    read_live_pid,
    require_tool,
    spawn_detached,
    stop_process,
    wait_until,
)
from streams.settings import load_settings


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _spawn(tmp_path: Path, script: str) -> tuple[int, Path, str]:
    marker = str(tmp_path / "marker")
    pid_file = tmp_path / "svc.pid"
    # the marker is an unused argument so it shows in /proc/<pid>/cmdline
    pid = spawn_detached(
        ["/bin/sh", "-c", script, marker], pid_file=pid_file, log_file=tmp_path / "svc.log"
    )
    wait_until(lambda: len(_group_members(pid)) >= 2, timeout=10, what="test group")
    return pid, pid_file, marker


def test_stop_process_kills_the_whole_group(tmp_path: Path) -> None:
    pid, pid_file, marker = _spawn(tmp_path, "sleep 300 & sleep 300; wait")
    assert read_live_pid(pid_file, marker) == pid
    assert read_live_pid(pid_file, "some-other-service") is None  # recycled-pid guard
    assert stop_process(pid_file, marker, timeout=10) is True
    assert _group_members(pid) == []
    assert not pid_file.exists()
    assert stop_process(pid_file, marker) is False  # idempotent


def test_stop_process_escalates_to_sigkill(tmp_path: Path) -> None:
    pid, pid_file, marker = _spawn(tmp_path, "trap '' TERM; sleep 300 & sleep 300; wait")
    started = time.monotonic()
    assert stop_process(pid_file, marker, timeout=0.5) is True
    assert _group_members(pid) == []
    assert time.monotonic() - started < 8


def test_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text("999999999\n")
    assert read_live_pid(pid_file, "anything") is None
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but not the service
    assert read_live_pid(pid_file, "no-such-marker-in-pytest-cmdline") is None
    pid_file.write_text("garbage")
    assert read_live_pid(pid_file, "") is None


def test_wait_until_times_out_with_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("line one\nthe real reason\n")
    with pytest.raises(DeployError, match=r"(?s)not healthy after.*the real reason"):
        wait_until(lambda: False, timeout=0.3, what="svc", log_file=log, interval=0.05)
    with pytest.raises(DeployError, match="exited during start-up"):
        wait_until(lambda: False, timeout=30, what="svc", alive=lambda: False, interval=0.05)


def test_require_tool_names_the_tool_and_the_fix() -> None:
    assert require_tool(Path(sys.executable).name, "n/a")
    with pytest.raises(DeployError, match=r"no-such-tool-xyz.*apt-get install"):
        require_tool("no-such-tool-xyz", "apt-get install it")


def test_kafka_properties_follow_the_settings(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, kafka_port=29092, kafka_controller_port=29093,
                      partitions=3)  # fmt: skip
    paths = kafka.kafka_paths(s)
    lines = kafka._server_properties(s, paths).splitlines()
    props = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:29093"
    assert props["num.partitions"] == "3"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["auto.create.topics.enable"] == "true"
    assert Path(props["log.dirs"]).is_relative_to(tmp_path)


def test_clickhouse_config_listens_only_on_the_configured_ports(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, clickhouse_port=29000, clickhouse_http_port=28123)
    root = ET.fromstring(clickhouse._config_xml(s, clickhouse.clickhouse_paths(s)).encode())
    assert root.tag == "yandex"  # ClickHouse 18.16 syntax
    assert [e.text for e in root.findall("listen_host")] == ["127.0.0.1"]
    assert root.findtext("tcp_port") == "29000"
    assert root.findtext("http_port") == "28123"
    assert root.find("interserver_http_port") is None
    assert Path(str(root.findtext("path"))).is_relative_to(tmp_path)


def test_clickhouse_users_readonly_bi_and_local_default(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, clickhouse_bi_user="analyst",
                      clickhouse_bi_password="s3cret")  # fmt: skip
    root = ET.fromstring(clickhouse._users_xml(s).encode())
    # 2: reads only, but queries may carry settings (BI tools send max_execution_time)
    assert root.findtext("profiles/bi_readonly/readonly") == "2"
    bi = root.find("users/analyst")
    assert bi is not None and bi.findtext("profile") == "bi_readonly"
    assert bi.findtext("password_sha256_hex") == hashlib.sha256(b"s3cret").hexdigest()
    pipeline = root.find(f"users/{s.clickhouse.user}")
    assert pipeline is not None and pipeline.findtext("profile") == "default"
    for user in root.findall("users/*"):
        ips = {ip.text for ip in user.findall("networks/ip")}
        assert ips == {"::1", "127.0.0.1"}, user.tag


def test_clickhouse_rejects_user_names_that_break_the_xml(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, clickhouse_user="bad user<")
    with pytest.raises(DeployError, match="alphanumeric"):
        clickhouse._users_xml(s)


def test_missing_clickhouse_without_apt_get_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load_settings(env={}, home=tmp_path, clickhouse_binary=str(tmp_path / "nope"))
    monkeypatch.setattr(clickhouse.shutil, "which", lambda _name: None)
    with pytest.raises(DeployError, match="no apt-get"):
        clickhouse.ensure_installed(s)
