"""The weekly meeting report opened in headless Chromium (Debian's ``chromium``): it
renders without console or loading errors, every section of the meeting is in the DOM
Chromium built, and its screenshot is written to docs/images/report-weekly.png.

Marked ``browser``; under CI=true a missing chromium fails the test instead of skipping it
(scripts/bootstrap.sh installs it). The report is made from a synthetic store on chdb, the
same data as the report's figure tests (tests/report_store.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bench.harness.services import unavailable
from sinks.kpi.meeting_html import meeting_html
from sinks.kpi.meetings import MEETINGS, SECTIONS, period_of
from sinks.kpi.sections import report_data
from sinks.sql import ChdbExecutor
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from tests.report_store import report_tables

pytestmark = pytest.mark.browser

Insert = Callable[[str, str, Mapping[str, Any]], None]
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "images" / "report-weekly.png"
# what Chromium logs for a page's console errors, failed loads and blocked requests
_PAGE_ERRORS = re.compile(r"CONSOLE|Uncaught|net::ERR_|Failed to load|Refused to", re.I)


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        unavailable("chromium is not installed: apt-get install chromium (scripts/bootstrap.sh)")
    return path


def _headless(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: CI runs as root, which Chromium's sandbox refuses
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--enable-logging=stderr", "--log-level=0", "--virtual-time-budget=2000",
        *extra, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _page_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if _PAGE_ERRORS.search(line)]


def test_console_errors_are_seen(tmp_path: Path) -> None:
    """The error check itself: a page with a failing script and a missing image fails it."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="missing.png"><script>noSuchFunction()</script>'
        "</body></html>",
        encoding="utf-8",
    )
    result = _headless(page, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _page_errors(result.stderr), result.stderr[-2000:]


def test_weekly_report_renders_in_chromium(
    chdb_executor: ChdbExecutor, migrated_db: str, insert: Insert, tmp_path: Path
) -> None:
    for table, columns in report_tables().items():
        insert(migrated_db, table, columns)
    meeting = MEETINGS["weekly"]
    tz = "Asia/Shanghai"
    data = report_data(
        chdb_executor, migrated_db, tz, period_of(meeting, date(2023, 7, 19)), int(time.time())
    )
    assert data.surge_happened
    page = tmp_path / "report-weekly.html"
    page.write_text(meeting_html(data, StreetNetwork.for_district(District.load("qibin")), tz))

    result = _headless(page, "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _page_errors(result.stderr) == []
    dom = result.stdout
    sections = re.findall(r'<section id="sec-([a-z]+)">', dom)
    assert sections == [k for k, _, _ in SECTIONS if k in meeting.sections]
    for key, zh, en in SECTIONS:
        if key in sections:
            assert f"{zh} {en}" in dom, key  # Chinese first, English beside
    assert dom.count("<svg") >= 5  # trend, bars per department and street, map, surge

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = _headless(page, f"--screenshot={SCREENSHOT}", "--window-size=1200,2600")
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert _page_errors(shot.stderr) == []
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
