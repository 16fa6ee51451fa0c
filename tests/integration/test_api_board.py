"""The case board in a real browser: headless Chromium (Debian's ``chromium``) loads
``/board`` from a running ``api`` worker over a pipeline seeded with a simulated day, and
shows every open case of the store, overdue and escalated first. The screenshot it takes
is the one in docs/api.md (copy it there by hand when the page changes)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from clickhouse_driver import Client

from bench.harness.services import unavailable
from streams.app.kafka_admin import ensure_topics
from streams.runner import WorkerProcess, free_port, wait_until
from streams.settings import Settings
from streams.simulator import Simulation
from tests.integration.api_client import DEMO_KEYS, Http, write_keys
from tests.integration.pipeline_runs import produce_feed

pytestmark = pytest.mark.integration

PIPELINE = "normalize,dedup,dispatch,lifecycle,escalation,sink"


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    assert found is not None
    return found


def _browse(browser: str, url: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2200",
            *flags,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_board_renders_the_open_cases_in_chromium(
    pipeline_settings: Settings, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    browser = _chromium()
    s = pipeline_settings.replace(
        api_port=free_port(), api_keys_file=str(write_keys(tmp_path / "keys.toml"))
    )
    ensure_topics(s)
    workers = [
        WorkerProcess(s, PIPELINE, free_port(), tmp_path / "pipeline.log").start(),
        WorkerProcess(s, "api", free_port(), tmp_path / "api.log").start(),
    ]
    counts: list[int] = []

    def settled() -> bool:
        for w in workers:
            assert w.alive, w.log_path.read_text()[-3000:]
        (n,) = clickhouse.execute(
            f"SELECT count() FROM {ch_database}.cases FINAL "
            "WHERE dispatched_at > 0 AND status NOT IN ('closed', 'voided')"
        )[0]
        counts.append(int(n))
        return n > 0 and counts[-4:] == [n] * 4

    try:
        assert wait_until(Http(s.api.port).healthy, 180.0, 0.5)
        produce_feed(s, Simulation("ordinary", seed=7, scale=0.01).records())
        assert wait_until(settled, 240.0, 2.0), counts[-5:]
        open_cases = {
            int(c)
            for (c,) in clickhouse.execute(
                f"SELECT case_id FROM {ch_database}.cases FINAL "
                "WHERE dispatched_at > 0 AND status NOT IN ('closed', 'voided')"
            )
        }
        key = DEMO_KEYS["operators"][0]
        url = f"http://operators:{key}@127.0.0.1:{s.api.port}/board"
        dom = _browse(browser, url, "--dump-dom")
        shot = tmp_path / "board.png"
        picture = _browse(browser, url, f"--screenshot={shot}")
    finally:
        for w in workers:
            w.stop()
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert "Case board" in page and "<script" not in page
    rows = re.findall(r'<tr class="(\w+)"><td><a href="/board/cases/(\d+)">', page)
    assert {int(c) for _, c in rows} == open_cases
    kinds = [k for k, _ in rows]
    order = {"overdue": 0, "escalated": 1, "open": 2}
    assert kinds == sorted(kinds, key=order.__getitem__)
    assert len(re.findall(r'<circle class="case', page)) == len(open_cases)
    assert picture.returncode == 0 and shot.stat().st_size > 10_000, picture.stderr[-2000:]
    print(f"board screenshot: {shot}")
