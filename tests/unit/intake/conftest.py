"""Fixtures for the intake tests: the packaged table, a district with a gazetteer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from intake_records import NOW_MS

from streams.intake.normalize import Normalizer, NormalizerConfig
from streams.reference.categories import CategoryTable, default_data_dir
from streams.reference.geo import District


@pytest.fixture(scope="session")
def table() -> CategoryTable:
    return CategoryTable.load()


@pytest.fixture(scope="session")
def district_with_gazetteer(tmp_path_factory: pytest.TempPathFactory) -> District:
    """Qibin's bounds with a small gazetteer of our own (the real one is generated)."""
    folder: Path = tmp_path_factory.mktemp("district")
    spec = orjson.loads((default_data_dir() / "districts" / "qibin.json").read_bytes())
    spec["gazetteer"] = "gaz.csv"
    spec.pop("unit_grids")  # this test district has no unit-grid layer
    spec.pop("streets")  # nor a street network
    (folder / "qibin_test.json").write_bytes(orjson.dumps(spec))
    (folder / "gaz.csv").write_text(
        "address,lat,lon\n淇河路12号,35.7402,114.2911\n华夏南路 3 号,35.7120,114.3050\n",
        encoding="utf-8",
    )
    return District.load(folder / "qibin_test.json")


@pytest.fixture
def make_normalizer(
    table: CategoryTable, district_with_gazetteer: District
) -> Callable[..., Normalizer]:
    def make(**config: Any) -> Normalizer:
        return Normalizer(
            NormalizerConfig(**config), table, district_with_gazetteer, now_fn=lambda: NOW_MS
        )

    return make


@pytest.fixture
def normalizer(make_normalizer: Callable[..., Normalizer]) -> Normalizer:
    return make_normalizer()
