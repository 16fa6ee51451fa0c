"""Where the packaged reference data lives (category tables, mappings, districts, holidays)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "DISTRICTS_DIR"]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DISTRICTS_DIR = DATA_DIR / "districts"
