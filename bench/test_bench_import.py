"""``citystream import`` of a 311 export to the raw topic, beside a plain csv-module parse.

Needs Kafka (``citystream up``): skipped when it is down, FAILED under ``CI=true``. Run:
``citystream bench --suites intake`` (``--smoke``: 5,000 rows). Path ``import``:

* subject: :func:`plan_import` (read, map to Open311 JSON, times, sort) and
  :class:`Importer` (produce with a header per record, checkpoints) of a 100,000-row NYC
  web-download export (41 columns) to a fresh ``raw.hotline``; events = rows. Goal:
  >= 50,000 rows/s;
* peer ``csv-module``: ``csv.reader`` over the same file, every cell touched and nothing
  else: the floor any CSV import stands on.

Each subject round gets its own topic prefix (its topics created before the clock starts,
as a running pipeline has them) and checkpoint folder, deleted afterwards.
"""

from __future__ import annotations

import csv
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bench.e2e.kafka_io import delete_topics
from bench.harness import SUBJECT, BenchScale, peer, record
from bench.harness.services import unavailable
from deploy.local.kafka import kafka_healthy
from streams.app.kafka_admin import ensure_topics
from streams.intake.adapters.csv311 import Csv311Mapping
from streams.onboarding.importer import Importer, plan_import
from streams.settings import Settings, load_settings

pytestmark = pytest.mark.bench

SEED = 20240402
_HEADER = (
    "Unique Key,Created Date,Closed Date,Agency,Agency Name,Complaint Type,Descriptor,"
    "Location Type,Incident Zip,Incident Address,Street Name,Cross Street 1,Cross Street 2,"
    "Intersection Street 1,Intersection Street 2,Address Type,City,Landmark,Facility Type,"
    "Status,Due Date,Resolution Description,Resolution Action Updated Date,Community Board,"
    "BBL,Borough,X Coordinate (State Plane),Y Coordinate (State Plane),Open Data Channel Type,"
    "Park Facility Name,Park Borough,Vehicle Type,Taxi Company Borough,Taxi Pick Up Location,"
    "Bridge Highway Name,Bridge Highway Direction,Road Ramp,Bridge Highway Segment,Latitude,"
    "Longitude,Location"
)
_TYPES = ("Illegal Parking", "Noise - Residential", "HEAT/HOT WATER", "Street Condition",
          "Blocked Driveway", "UNSANITARY CONDITION", "Water System", "Sewer")  # fmt: skip


@pytest.fixture(scope="module")
def export(bench_scale: BenchScale, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A month of NYC 311 requests in the web download's layout, made up, seeded."""
    n = bench_scale.pick(100_000, smoke=5_000)
    rng = random.Random(SEED)
    start = datetime(2024, 4, 1)
    path = tmp_path_factory.mktemp("import") / "nyc311.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(_HEADER.split(","))
        for i in range(n):
            created = start + timedelta(seconds=rng.randrange(30 * 86400))
            lat, lon = 40.55 + rng.random() * 0.3, -74.15 + rng.random() * 0.3
            row = [""] * 41
            row[0], row[1] = str(60_000_000 + i), created.strftime("%m/%d/%Y %I:%M:%S %p")
            row[3], row[5], row[6] = "NYPD", rng.choice(_TYPES), "Loud Music/Party"
            row[8], row[9], row[19] = "10001", f"{rng.randrange(1, 999)} WEST 34 STREET", "Closed"
            row[25], row[38], row[39] = "MANHATTAN", f"{lat:.8f}", f"{lon:.8f}"
            row[40] = f"({lat:.8f}, {lon:.8f})"
            writer.writerow(row)
    return path


@pytest.fixture(scope="module")
def kafka() -> Settings:
    settings = load_settings()
    if not kafka_healthy(settings):
        unavailable(f"Kafka at {settings.kafka.bootstrap_servers} is not reachable: citystream up")
    return settings


@pytest.fixture
def prefixes(kafka: Settings) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for prefix in made:
        delete_topics(kafka, prefix)


def test_import_to_kafka(
    benchmark: pytest.FixtureRequest,
    export: Path,
    kafka: Settings,
    prefixes: list[str],
    tmp_path: Path,
) -> None:
    mapping = Csv311Mapping.load("nyc")
    rows = sum(1 for _ in export.open(encoding="utf-8")) - 1

    def setup() -> tuple[tuple[Settings, Path], dict[str, object]]:
        prefix = f"bench-import-{uuid.uuid4().hex[:8]}."
        prefixes.append(prefix)
        s = kafka.replace(topic_prefix=prefix, partitions=2)
        ensure_topics(s)  # a pipeline's topics exist when its history is imported
        return (s, tmp_path / prefix), {}

    def run(s: Settings, state: Path) -> int:
        plan = plan_import([export], mapping, s.kafka.topic("raw.hotline"))
        return Importer(s, plan, state).run()

    record(benchmark, path="import", role=SUBJECT, events=rows)
    sent = benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    assert sent == rows


def test_csv_module_parse(benchmark: pytest.FixtureRequest, export: Path) -> None:
    rows = sum(1 for _ in export.open(encoding="utf-8")) - 1

    def run() -> int:
        n = cells = 0
        with export.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            for row in reader:
                n += 1
                cells += len(row)
        return n

    record(benchmark, path="import", role=peer("csv-module"), events=rows)
    assert benchmark.pedantic(run, rounds=3, iterations=1) == rows
