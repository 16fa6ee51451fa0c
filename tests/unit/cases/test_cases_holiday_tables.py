"""The packaged holiday tables are what scripts/gen_holidays.py makes from chinesecalendar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.gen_holidays import DATA_DIR, FIRST_SHIPPED_YEAR, main, render
from streams.settings import load_settings

SHIPPED = sorted(DATA_DIR.glob("holidays_cn_*.csv"))


def _year(path: Path) -> int:
    match = re.fullmatch(r"holidays_cn_(\d{4})\.csv", path.name)
    assert match, f"{path.name}: packaged tables are named holidays_cn_YYYY.csv"
    return int(match.group(1))


def test_every_year_since_the_first_is_shipped() -> None:
    years = [_year(p) for p in SHIPPED]
    assert years == list(range(FIRST_SHIPPED_YEAR, FIRST_SHIPPED_YEAR + len(years)))
    assert years[-1] >= 2026


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_table_matches_the_package(path: Path) -> None:
    # A failure means a hand edit, or a package release that corrected a past schedule:
    # rerun scripts/gen_holidays.py and look at the diff before committing it.
    assert path.read_text(encoding="utf-8") == render(_year(path))


def test_the_default_settings_load_every_shipped_table() -> None:
    names = list(load_settings(env={}).calendar.holiday_files)
    assert names == [p.name for p in SHIPPED]


def test_generator_writes_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["2025", "--out", str(tmp_path)]) == 0
    written = tmp_path / "holidays_cn_2025.csv"
    assert written.read_text(encoding="utf-8") == (DATA_DIR / written.name).read_text("utf-8")
    assert str(written) in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no schedule for 1999"):
        render(1999)
