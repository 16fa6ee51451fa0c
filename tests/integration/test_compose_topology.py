"""The operators' deployment shape, run natively from deploy/docker-compose.yml.

Every pipeline service of the compose file (its command and environment) runs as its own
process, with two replicas of dedup, the demo profile's departments desk, and ``migrate``
as the one-shot it is; the synthetic ``simulator`` service is replaced by the test's own
typhoon slice. One role is SIGKILLed mid-stream and restarted. Every raw record must be
accounted for, the links must be the offline replay's (the single-process pipeline's, as
test_streaming.py holds), and cases, dispatches and stages must reach ClickHouse.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from clickhouse_driver import Client

from streams.contracts.topics import CASE_STATE, DISPATCH, TRANSITIONS, UPDATES
from streams.runner import (
    WorkerProcess,
    count_dead_letters,
    free_port,
    read_links,
    read_topic,
    wait_until,
)
from streams.settings import ENV_PREFIX, Settings
from streams.simulator import SimRecord, Simulation
from tests.integration.compose_topology import ComposeProcess, pipeline_services, worker_healthy
from tests.integration.pipeline_runs import ReplayedFeed, accounted, produce_feed

pytestmark = pytest.mark.integration

REPLICAS = {"dedup": 2}
KILLED = "dispatch"  # dispatch + lifecycle: the restart must recover the lifecycle table
SKIPPED = {"simulator"}  # the test feeds its own slice (a simulator run is not a slice)
TIMEOUT_S = 240.0
API_KEYS = Path(__file__).resolve().parents[2] / "deploy" / "api_keys.example.toml"


def _dot_env(settings: Settings, prefix: str, database: str) -> dict[str, str]:
    """What an operator's deploy/.env would hold, for the local services."""
    return {
        ENV_PREFIX + "CLICKHOUSE_PASSWORD": settings.clickhouse.password,
        ENV_PREFIX + "CLICKHOUSE_BI_PASSWORD": settings.clickhouse.bi_password,
        ENV_PREFIX + "CLICKHOUSE_USER": settings.clickhouse.user,
        ENV_PREFIX + "CLICKHOUSE_BI_USER": settings.clickhouse.bi_user,
        ENV_PREFIX + "CLICKHOUSE_DATABASE": database,
        ENV_PREFIX + "TOPIC_PREFIX": f"{prefix}.",
        ENV_PREFIX + "APP_ID": f"{prefix}-app",
        # The links are compared with the raw-feed replay, which knows no closures; closures
        # into dedup have their own test (test_closures_pipeline.py).
        ENV_PREFIX + "DEDUP_CLOSURES": "false",
    }


def _container_env(settings: Settings, env: dict[str, str], home: Path) -> dict[str, str]:
    """What the compose network and a container's own filesystem would provide."""
    return {
        **env,
        ENV_PREFIX + "KAFKA_BOOTSTRAP": settings.kafka.bootstrap_servers,
        ENV_PREFIX + "CLICKHOUSE_HOST": settings.clickhouse.host,
        ENV_PREFIX + "CLICKHOUSE_PORT": str(settings.clickhouse.port),
        ENV_PREFIX + "CLICKHOUSE_HTTP_PORT": str(settings.clickhouse.http_port),
        ENV_PREFIX + "HOME": str(home),
        ENV_PREFIX + "WEB_PORT": str(free_port()),
        # a shared test host, not a container: keep the web servers off the network
        ENV_PREFIX + "WEB_BIND": "127.0.0.1",
        ENV_PREFIX + "API_PORT": str(free_port()),
        ENV_PREFIX + "API_BIND": "127.0.0.1",
        # the api service's volume (./api_keys.toml), as the example file
        **(
            {ENV_PREFIX + "API_KEYS_FILE": str(API_KEYS)}
            if ENV_PREFIX + "API_KEYS_FILE" in env
            else {}
        ),
    }


class Topology:
    """The compose services as processes: the one-shots run, the workers kept."""

    def __init__(self, settings: Settings, dot_env: dict[str, str], tmp: Path) -> None:
        self.settings = settings
        self.tmp = tmp
        self.services = {k: v for k, v in pipeline_services(dot_env).items() if k not in SKIPPED}
        self.workers: dict[str, list[ComposeProcess]] = {}
        self.jobs: list[ComposeProcess] = []

    def process(self, service: str, replica: int, tag: str = "") -> ComposeProcess:
        svc = self.services[service]
        name = f"{service}-{replica}{tag}"
        return ComposeProcess(
            service,
            svc["command"],
            _container_env(self.settings, svc["environment"], self.tmp / "home" / name),
            self.tmp / "logs" / f"{name}.log",
        )

    def run_one_shots(self) -> None:
        for service, svc in self.services.items():
            if svc["restart"] == "no":
                proc = self.process(service, 0).start()
                assert proc.proc is not None
                assert proc.proc.wait(120) == 0, proc.tail()

    def start_workers(self) -> None:
        for service, svc in self.services.items():
            if svc["restart"] == "no":
                continue
            if svc["command"][1] != "worker":
                # the rollup job: long-running, but no worker (no web server to probe)
                assert svc["command"][1:3] == ["db", "rollup"], svc["command"]
                self.jobs.append(self.process(service, 0).start())
                continue
            self.workers[service] = [
                self.process(service, i).start() for i in range(REPLICAS.get(service, 1))
            ]

    def all(self) -> Iterator[ComposeProcess]:
        for procs in self.workers.values():
            yield from procs

    def check_alive(self) -> None:
        dead = [p for p in [*self.all(), *self.jobs] if not p.alive]
        assert not dead, "\n".join(p.tail() for p in dead)

    def healthy(self) -> bool:
        self.check_alive()
        return all(p.healthy() for p in self.all())

    def logs(self) -> str:
        return "\n".join(p.tail(1500) for p in self.all())

    def stop(self) -> None:
        for p in [*self.all(), *self.jobs]:
            p.stop()


def _count(client: Client, db: str, sql: str) -> int:
    return int(client.execute(sql.format(db=db))[0][0])


def _distinct(s: Settings, topic: str, key: str) -> set[object]:
    return {orjson.loads(r.value)[key] for r in read_topic(s, s.kafka.topic(topic))}


def _kill_and_restart(top: Topology, s: Settings, feed: list[SimRecord]) -> int:
    """Feed half, SIGKILL the killed role once its output shows, feed the rest, restart.
    Returns the dispatch orders there were at the kill."""
    half = len(feed) // 2
    produce_feed(s, feed[:half])
    assert wait_until(lambda: len(_distinct(s, DISPATCH, "case_id")) > 0, TIMEOUT_S, 1.0), (
        top.logs()
    )
    top.workers[KILLED][0].kill()  # no commit, no flush, the lifecycle table's state lost
    orders_at_kill = len(_distinct(s, DISPATCH, "case_id"))
    produce_feed(s, feed[half:])
    top.workers[KILLED][0] = top.process(KILLED, 0, "-restarted").start()
    return orders_at_kill


def test_compose_topology_accounts_for_every_record(
    settings: Settings,
    topic_name: str,
    clickhouse: Client,
    ch_database: str,
    tmp_path: Path,
) -> None:
    _run_topology(settings, topic_name, clickhouse, ch_database, tmp_path)


def _run_topology(
    settings: Settings, topic_name: str, clickhouse: Client, ch_database: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    top = Topology(settings, _dot_env(settings, topic_name, ch_database), tmp_path)
    # the worker processes' own settings, as the test reads their topics
    s = settings.replace(
        topic_prefix=f"{topic_name}.",
        partitions=int(top.services["normalize"]["environment"][ENV_PREFIX + "PARTITIONS"]),
        dedup_closures=False,
    )
    records = list(Simulation("typhoon", seed=11, scale=0.01).records())
    expected = ReplayedFeed.of(records, s)
    case_of, bad, total = expected.case_of, expected.bad, expected.expected_total

    top.run_one_shots()
    top.start_workers()
    try:
        assert wait_until(top.healthy, TIMEOUT_S, 1.0), top.logs()
        orders_at_kill = _kill_and_restart(top, s, records)
        finished = wait_until(lambda: accounted(s) >= total, TIMEOUT_S, 2.0, top.check_alive)
        assert finished, f"only {accounted(s)} of {total} records accounted for\n{top.logs()}"
        links = read_links(s)
        assert links.conflicts == 0
        assert links.case_of == case_of, "cases differ from the single-process (offline) run"
        _check_clickhouse(clickhouse, ch_database, s, set(case_of.values()), top)
    finally:
        top.stop()
    assert Counter(count_dead_letters(s)) == bad  # no department update lost its case
    assert "InconsistentGroupProtocol" not in top.logs()
    # the dedup replicas split the partitions between them
    for replica in top.workers["dedup"]:
        assert "dedup partition" in replica.log_path.read_text(), replica.tail()
    # the rollup service ran its refresh as the compose file declares it
    assert [j.service for j in top.jobs] == ["rollup"]
    assert f"{ch_database}: rollup cases:" in top.jobs[0].log_path.read_text(), top.jobs[0].tail()
    # the restarted process did the second half's dispatching: the kill was mid-stream
    assert len(_distinct(s, DISPATCH, "case_id")) > orders_at_kill
    print(f"compose topology: {len(records)} records in {time.monotonic() - started:.0f}s")


def _case_ids(s: Settings, topic: str) -> set[int]:
    """Case ids a topic's records name (case.updates openings carry theirs inside)."""
    values = (orjson.loads(r.value) for r in read_topic(s, s.kafka.topic(topic)))
    return {int(v.get("case_id") or v.get("case", {}).get("case_id", 0)) for v in values}


def _whereabouts(client: Client, db: str, s: Settings, cases: set[int]) -> str:
    """Where the cases missing from the store got to: which topics carry them."""
    stored = {r[0] for r in client.execute(f"SELECT DISTINCT case_id FROM {db}.cases")}
    missing = cases - stored
    on = {
        topic: len(missing & _case_ids(s, topic))
        for topic in (CASE_STATE, TRANSITIONS, DISPATCH, UPDATES)
    }
    return f"{len(missing)} cases missing from the store; of them on the topics: {on}"


def _check_clickhouse(client: Client, db: str, s: Settings, cases: set[int], top: Topology) -> None:
    """Every case, dispatch order and stage the topics hold is stored, once per id."""

    def counts() -> dict[str, tuple[int, int]]:
        """table -> (rows stored, ids the topics hold)"""
        return {
            "cases": (_count(client, db, "SELECT uniqExact(case_id) FROM {db}.cases"), len(cases)),
            "dispatches": (
                _count(client, db, "SELECT uniqExact(case_id) FROM {db}.dispatches"),
                len(_distinct(s, DISPATCH, "case_id")),
            ),
            "case_stages": (
                _count(client, db, "SELECT uniqExact(transition_id) FROM {db}.case_stages"),
                len(_distinct(s, TRANSITIONS, "transition_id")),
            ),
        }

    def stored() -> bool:
        top.check_alive()
        return all(got == want for got, want in counts().values())

    assert wait_until(stored, TIMEOUT_S, 2.0), (
        f"stored vs on the topics: {counts()}; {_whereabouts(client, db, s, cases)}\n{top.logs()}"
    )
    got = {r[0] for r in client.execute(f"SELECT DISTINCT case_id FROM {db}.cases")}
    assert got == cases
    opened = _count(client, db, "SELECT uniqExact(case_id) FROM {db}.case_stages WHERE seq = 0")
    assert opened == len(cases)
    assert _count(client, db, "SELECT count() FROM {db}.dispatches") > 0
    # the departments desk answered: stages beyond the centre's own open and dispatch
    answered = "SELECT count() FROM {db}.case_stages WHERE action NOT IN ('open', 'dispatch')"
    assert _count(client, db, answered) > 0


def test_a_worker_overlapping_a_live_role_set_refuses_to_start(
    settings: Settings, topic_name: str, tmp_path: Path
) -> None:
    s = settings.replace(
        topic_prefix=f"{topic_name}.", app_id=f"{topic_name}-app", home=tmp_path / "home"
    )
    dedup = WorkerProcess(s, "dedup", free_port(), tmp_path / "dedup.log").start()
    try:
        up = wait_until(lambda: f"{s.worker.app_id}.dedup" in _live_groups(s), TIMEOUT_S, 1.0)
        assert up, dedup.log_path.read_text()[-3000:]
        overlapping = WorkerProcess(s, "normalize,dedup", free_port(), tmp_path / "both.log")
        overlapping.start()
        assert overlapping.proc is not None
        assert overlapping.proc.wait(120) == 2
        assert f"{s.worker.app_id}.dedup" in overlapping.log_path.read_text()
        # a replica of the same role set joins the group
        replica = WorkerProcess(s, "dedup", free_port(), tmp_path / "replica.log").start()
        try:
            assert wait_until(lambda: worker_healthy(replica.web_port), TIMEOUT_S, 1.0), (
                replica.log_path.read_text()[-3000:]
            )
        finally:
            replica.stop()
    finally:
        dedup.stop()


def _live_groups(s: Settings) -> set[str]:
    from streams.app.kafka_admin import consumer_groups

    return {g for g, live in consumer_groups(s, s.worker.app_id).items() if live}
