"""docs/onboarding.md, done as it says, on the real broker, workers and ClickHouse (issue 17).

A fictional city (tests/fixtures/onboarding: an L-shaped district of five unit grids, its
streets, addresses, rosters, holiday table, categories and a 12345 hotline export of 2019
in its own Chinese column layout) is onboarded with ``citystream district init``, its
settings taken from the ``district.env`` it writes, its database migrated, its workers
started, and its export backfilled with ``citystream import --wait``. Then ClickHouse holds
its cases, links and dead letters, and not one record is stale: the export is judged
against its own times.

A second test interrupts an import between a flushed chunk and its checkpoint; the same
command run again sends exactly what is missing.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from clickhouse_driver import Client

import streams.onboarding.importer as importer_module
from streams.cli import main
from streams.intake.adapters.csv311 import Csv311Mapping
from streams.onboarding.importer import HEADER, Importer, plan_import
from streams.replay import replay
from streams.replay.inputs import read_inputs
from streams.runner import read_topic, wait_until
from streams.settings import Settings, load_settings
from tests.integration.pipeline_runs import start_workers

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onboarding"
ROLES = "normalize,dedup,dispatch,lifecycle,sink"  # docs/onboarding.md, section 4
TIMEOUT_S = 240.0


def _district_init(out: Path) -> None:
    """docs/onboarding.md, section 2."""
    f = FIXTURES
    argv = ["district", "init", str(out), "--name", "蓝溪区", "--admin-code", "419901"]
    argv += ["--timezone", "Asia/Shanghai", "--categories", str(f / "city")]
    argv += ["--placeholder", "34.5012,113.8005,城市中心默认坐标"]
    for flag in ("boundary", "unit_grids", "streets"):
        argv += [f"--{flag.replace('_', '-')}", str(f / f"{flag}.geojson")]
    for flag in ("gazetteer", "holidays", "inspectors", "supervisors"):
        argv += [f"--{flag}", str(f / f"{flag}.csv")]
    assert main(argv) == 0


def _source_env(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``set -a; . district.env; set +a`` (section 3)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            monkeypatch.setenv(name, value)


def _count(client: Client, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in client.execute(sql)]


def test_a_new_city_onboarded_and_backfilled_as_the_doc_says(
    settings: Settings,
    topic_name: str,
    ch_database: str,
    clickhouse: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    district = tmp_path / "lanxi"
    _district_init(district)
    _source_env(district / "district.env", monkeypatch)
    for name, value in settings.as_env().items():  # the services this test runs against
        if name.startswith(("CITYSTREAM_KAFKA", "CITYSTREAM_CLICKHOUSE")):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITYSTREAM_TOPIC_PREFIX", f"{topic_name}.")
    monkeypatch.setenv("CITYSTREAM_APP_ID", f"{topic_name}-app")
    monkeypatch.setenv("CITYSTREAM_CLICKHOUSE_DATABASE", ch_database)
    s = load_settings()
    assert s.pipeline.district == str((district / "district.json").resolve())
    assert main(["db", "migrate"]) == 0
    workers = start_workers(s, ROLES, 1, tmp_path)
    try:
        mapping = str(FIXTURES / "city" / "csv311_mapping.json")
        argv = ["import", str(FIXTURES / "export_2019.csv"), "--mapping", mapping]
        argv += ["--wait", str(TIMEOUT_S)]
        first = [*argv, "--state-dir", str(tmp_path / "import")]
        assert main(first) == 0, "\n".join(p.read_text()[-3000:] for p in tmp_path.glob("*.log"))
        said = capsys.readouterr().out
        assert "linked: 6 events into 4 cases (2 reports merged" in said
        assert "'噪音扰民' x1" in said  # the unmapped complaint type, said before sending
        assert wait_until(lambda: _stored(clickhouse, ch_database) == (6, 4), TIMEOUT_S, 2.0)
        _check_store(clickhouse, ch_database)
        # the cases are those the offline replay of the same file gives (section 4, order)
        offline = replay(read_inputs([FIXTURES / "export_2019.csv"], csv_mapping=mapping), s)
        stored = _count(clickhouse, f"SELECT event_id, case_id FROM {ch_database}.links FINAL")
        assert dict(stored) == {link["event_id"]: link["case_id"] for link in offline.links}  # type: ignore[arg-type]
        # the same export sent again without the checkpoint (another --state-dir): the
        # pipeline knows every request id, so no case or link doubles; each row comes back
        # as a dead letter, the accepted ones as duplicate_source_id (docs/onboarding.md)
        assert main([*argv, "--state-dir", str(tmp_path / "elsewhere")]) == 0
        assert wait_until(lambda: _stored(clickhouse, ch_database) == (6, 14), TIMEOUT_S, 2.0)
    finally:
        for w in workers:
            w.stop()
    cases = _count(clickhouse, f"SELECT count(DISTINCT case_id) FROM {ch_database}.links FINAL")
    assert cases == [(4,)]
    again = _count(
        clickhouse,
        f"SELECT count() FROM {ch_database}.dead_letters FINAL "
        "WHERE reason = 'duplicate_source_id'",
    )
    assert again == [(6,)]


def _stored(clickhouse: Client, db: str) -> tuple[int, int]:
    """(links, dead letters) in ClickHouse."""
    links = _count(clickhouse, f"SELECT count() FROM {db}.links FINAL")[0][0]
    dead = _count(clickhouse, f"SELECT count() FROM {db}.dead_letters FINAL")[0][0]
    return int(links), int(dead)  # type: ignore[call-overload]


def _check_store(clickhouse: Client, db: str) -> None:
    reasons = _count(
        clickhouse, f"SELECT reason, count() FROM {db}.dead_letters FINAL GROUP BY reason"
    )
    assert dict(reasons) == {  # type: ignore[arg-type]
        "unknown_category": 1,  # 噪音扰民: the city's table does not handle noise
        "bad_time": 1,  # 2019/13/45 25:00
        "placeholder_position": 1,  # the city-centre default the district declares
        "out_of_district": 1,  # inside the L's box, outside the L
    }  # and not one stale_time: the export is judged against its own times
    events = _count(
        clickhouse,
        f"SELECT source_ref, grid_code, toYear(event_time), ingest_time = event_time "
        f"FROM {db}.events FINAL ORDER BY source_ref",
    )
    refs = ["LX-0001", "LX-0002", "LX-0003", "LX-0004", "LX-0009", "LX-0010"]
    assert [e[0] for e in events] == refs
    assert {e[2] for e in events} == {2019} and all(e[3] for e in events)
    assert [e[1] for e in events][:4] == ["419901001001001"] * 2 + ["419901001002005"] * 2
    cases = _count(clickhouse, f"SELECT count(DISTINCT case_id) FROM {db}.links FINAL")
    assert cases == [(4,)]


def test_an_interrupted_import_restarted_sends_nothing_twice(
    settings: Settings, topic_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings.replace(topic_prefix=f"{topic_name}.", app_id=f"{topic_name}-app")
    export = tmp_path / "export.csv"
    lines = (FIXTURES / "export_2019.csv").read_text(encoding="utf-8").splitlines()
    body = [line.replace("LX-00", f"LX-{k:02d}") for k in range(5) for line in lines[1:]]
    export.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    plan = plan_import([export], Csv311Mapping.load(FIXTURES / "city" / "csv311_mapping.json"),
                       s.kafka.topic("raw.hotline"))  # fmt: skip
    assert len(plan) == 50
    monkeypatch.setattr(importer_module, "_CHUNK", 12)
    saves = {"n": 0}
    real_save = Importer._save_checkpoint

    def crash_on_third(self: Importer, acked: int, offsets: dict[int, int]) -> None:
        saves["n"] += 1
        if saves["n"] == 3:  # the initial one, chunk 1; chunk 2 is flushed, not checkpointed
            raise KeyboardInterrupt
        real_save(self, acked, offsets)

    monkeypatch.setattr(Importer, "_save_checkpoint", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        Importer(s, plan, tmp_path / "state").run()
    monkeypatch.setattr(Importer, "_save_checkpoint", real_save)
    again = Importer(s, plan, tmp_path / "state")
    assert again.run() == 50 - 24
    assert again.skipped == 24  # 12 checkpointed, 12 found in the topic
    seqs = Counter(
        value.decode()
        for record in read_topic(s, s.kafka.topic("raw.hotline"))
        for name, value in record.headers
        if name == HEADER
    )
    assert len(seqs) == 50 and set(seqs.values()) == {1}
