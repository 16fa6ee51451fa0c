"""Where the packaged reference data lives (category tables, mappings, districts, holidays)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CITIES_DIR", "DATA_DIR", "DISTRICTS_DIR", "read_csv_rows"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DISTRICTS_DIR = DATA_DIR / "districts"
# per city: its category table, service-code map and 311 export mapping (docs/onboarding.md)
CITIES_DIR = DATA_DIR / "cities"


def read_csv_rows(
    path: Path, required: Iterable[str], error: type[ValueError]
) -> list[dict[str, str]]:
    """The rows of a reference CSV file with a header; ``error`` when the file or one of the
    ``required`` columns is missing."""
    if not path.is_file():
        raise error(f"{path} does not exist")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(required) - set(reader.fieldnames or ())
        if missing:
            raise error(f"{path}: missing column(s) {sorted(missing)}")
        return list(reader)
