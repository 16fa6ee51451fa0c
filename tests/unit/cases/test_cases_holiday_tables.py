"""The packaged holiday tables are what scripts/gen_holidays.py makes: from chinesecalendar
for the years it has the State Council's notice for, from the law (provisional) after."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.gen_holidays import (
    DATA_DIR,
    FIRST_SHIPPED_YEAR,
    STATUTORY_SINCE,
    main,
    package_years,
    render,
    render_statutory,
    statutory_days,
)
from streams.cases.calendar import load_holiday_file
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
def test_table_matches_the_package_or_the_law(path: Path) -> None:
    # A failure means a hand edit, or a package release that corrected a past schedule:
    # rerun scripts/gen_holidays.py and look at the diff before committing it. A year the
    # package has no notice for is shipped provisional, from the law.
    year = _year(path)
    if year in package_years():
        assert path.read_text(encoding="utf-8") == render(year)
    else:
        assert path.read_text(encoding="utf-8") == render_statutory(year)
        assert load_holiday_file(path).provisional_years == {year}


@pytest.mark.parametrize("year", [y for y in package_years() if y >= STATUTORY_SINCE])
def test_the_law_s_holidays_are_holidays_in_every_notice(year: int) -> None:
    # the lunar dates, the solar term and the amended law against the State Council's own
    # schedules: every statutory day is a holiday there (the notice adds bridged days)
    notice = load_holiday_file(DATA_DIR / f"holidays_cn_{year}.csv")
    days = statutory_days(year)
    assert len(days) == 13  # 1 + 4 + 1 + 2 + 1 + 1 + 3 days since 2025
    missing = [(d, name) for d, name in days if d not in notice.holidays]
    assert missing == []
    assert notice.provisional_years == frozenset()


def test_the_law_is_not_applied_to_years_before_it() -> None:
    with pytest.raises(SystemExit, match="since 2025"):
        statutory_days(2024)


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
    assert main(["--statutory", "2031", "--out", str(tmp_path)]) == 0
    provisional = load_holiday_file(tmp_path / "holidays_cn_2031.csv")
    assert provisional.provisional_years == {2031} and provisional.workdays == frozenset()
