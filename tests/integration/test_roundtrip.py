"""Round trip through the real services: Kafka topic -> Faust agent -> ClickHouse table.

The Faust worker runs as a subprocess (this very file, run as a script), exactly as a
pipeline worker runs: its own event loop, signal handling and consumer group. The test
produces seeded records with kafka-python, waits until the agent has written them to a
per-test ClickHouse table, and compares what comes back with what went in.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

N_RECORDS = 600
TIMEOUT_S = 120.0
TABLE = "roundtrip"


def _records(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz数字城管井盖"
    return [
        {
            "id": i,
            "name": "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))),
            "value": rng.uniform(-1e6, 1e6),
        }
        for i in rng.sample(range(1, 10_000_000), N_RECORDS)
    ]


def _produce(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:  # two partitions, so the agent really consumes a multi-partition topic
        admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for rec in records:
            producer.send(topic, key=str(rec["id"]).encode(), value=json.dumps(rec).encode())
        producer.flush(30)
    finally:
        producer.close()


def _wait_for_rows(clickhouse: Any, table: str, worker: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + TIMEOUT_S
    count = 0
    while time.monotonic() < deadline:
        count = clickhouse.execute(f"SELECT count() FROM {table}")[0][0]
        if count >= N_RECORDS:
            # a little longer: duplicates arriving late must be seen too
            time.sleep(1.0)
            return int(clickhouse.execute(f"SELECT count() FROM {table}")[0][0])
        if worker.poll() is not None:
            break
        time.sleep(0.5)
    return int(count)


def _stop(worker: subprocess.Popen[bytes]) -> str:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
    assert worker.stdout is not None
    return worker.stdout.read().decode("utf-8", "replace")[-4000:]


@pytest.mark.integration
def test_records_roundtrip_through_faust_into_clickhouse(
    settings: Any,
    kafka_bootstrap: str,
    clickhouse: Any,
    ch_database: str,
    topic_name: str,
    tmp_path: Path,
) -> None:
    table = f"{ch_database}.{TABLE}"
    clickhouse.execute(
        f"CREATE TABLE {table} (id UInt32, name String, value Float64) "
        "ENGINE = MergeTree ORDER BY id"
    )
    sent = _records(seed=20230731)
    _produce(kafka_bootstrap, topic_name, sent)

    config = {
        "app_id": topic_name + "-app",  # starts with the topic name: the fixture cleans up
        "bootstrap": kafka_bootstrap,
        "topic": topic_name,
        "table": table,
        "datadir": str(tmp_path / "faust"),
        "clickhouse": {
            "host": settings.clickhouse.host,
            "port": settings.clickhouse.port,
            "user": settings.clickhouse.user,
            "password": settings.clickhouse.password,
        },
    }
    worker = subprocess.Popen(
        [sys.executable, __file__, json.dumps(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        count = _wait_for_rows(clickhouse, table, worker)
    finally:
        output = _stop(worker)
    assert count == N_RECORDS, f"expected {N_RECORDS} rows, got {count}; worker said:\n{output}"

    got = clickhouse.execute(f"SELECT id, name, value FROM {table} ORDER BY id")
    want = sorted((r["id"], r["name"], r["value"]) for r in sent)
    assert got == want


# ---- the worker side: runs in the subprocess ------------------------------------------


def _build_app(config: dict[str, Any]) -> Any:
    import faust
    from clickhouse_driver import Client

    app = faust.App(
        config["app_id"],
        broker=f"kafka://{config['bootstrap']}",
        store="memory://",
        web_enabled=False,  # no HTTP port to collide with other workers or tests
        datadir=config["datadir"],
        topic_partitions=2,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
    )
    source = app.topic(config["topic"], key_type=bytes, value_type=bytes, value_serializer="raw")
    client = Client(**config["clickhouse"])

    @app.agent(source)
    async def to_clickhouse(stream: Any) -> None:
        async for values in stream.take(200, within=0.5):
            rows = [json.loads(v) for v in values]
            client.execute(
                f"INSERT INTO {config['table']} (id, name, value) VALUES",
                [(r["id"], r["name"], r["value"]) for r in rows],
            )

    return app


def _worker_main(raw_config: str) -> None:
    import faust

    config = json.loads(raw_config)
    Path(config["datadir"]).mkdir(parents=True, exist_ok=True)  # faust chdirs into it
    app = _build_app(config)
    worker = faust.Worker(
        app, loglevel="WARNING", workdir=config["datadir"], redirect_stdouts=False
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    _worker_main(sys.argv[1])
