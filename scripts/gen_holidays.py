"""Write the Chinese holiday tables ``streams/data/holidays_cn_YYYY.csv`` from ``chinesecalendar``.

The tables are data the calendar reads (``date,kind,name``; kind ``holiday`` or
``workday`` for a 调休 working weekend day), one file per year, so that a city can ship
its own. This script is the only way the packaged ones are made: the unit test
``tests/unit/cases/test_cases_holiday_tables.py`` checks every committed table against
the package, so a hand edit or a package update that moved a day shows up there.

    .venv/bin/pip install chinesecalendar   # in the ``test`` extra
    .venv/bin/python scripts/gen_holidays.py 2027    # a new year, once the package has it
    .venv/bin/python scripts/gen_holidays.py         # rewrite every shipped year
    .venv/bin/python scripts/gen_holidays.py --statutory 2027   # before the notice

``--statutory`` writes a *provisional* table (every row ``basis=statutory``): the public
holidays that 全国年节及纪念日放假办法 (as amended in 2024, in force since 2025) fixes
for a year, with the lunar dates from ``lunar-python`` (``test`` extra), and none of the
State Council's 调休 arrangement, which only its notice says. The calendar counts the year
as covered and warns at every start until the notice's table replaces it.

A new year's file must also be added to the ``holiday_files`` default (``CalendarSettings``) in
``streams/settings/concerns.py`` (and to operators' ``CITYSTREAM_HOLIDAY_FILES`` where set).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import date, timedelta
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "streams" / "data"
FIRST_SHIPPED_YEAR = 2023  # the earliest table in streams/data; older years on demand


def table_path(year: int, data_dir: Path = DATA_DIR) -> Path:
    return data_dir / f"holidays_cn_{year}.csv"


def package_years() -> range:
    """The years the installed ``chinese_calendar`` has the State Council's schedule for."""
    import chinese_calendar

    years = {day.year for day in chinese_calendar.holidays}
    return range(min(years), max(years) + 1)


def render(year: int) -> str:
    """The CSV text of one year's table, rows sorted by date."""
    import chinese_calendar

    known = package_years()
    if year not in known:
        raise SystemExit(
            f"chinesecalendar {chinese_calendar.__version__} has no schedule for {year} "
            f"(it knows {known.start}..{known.stop - 1}); upgrade it once the State "
            "Council's notice is out, or write the table by hand"
        )
    tables = {"holiday": chinese_calendar.holidays, "workday": chinese_calendar.workdays}
    rows: list[tuple[date, str, str]] = sorted(
        (day, kind, name)
        for kind, days in tables.items()
        for day, name in days.items()
        if day.year == year
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("date", "kind", "name"))
    writer.writerows((day.isoformat(), kind, name) for day, kind, name in rows)
    return out.getvalue()


# the amended law's first year: before it, Spring Festival was 3 days and Labour Day 1
STATUTORY_SINCE = 2025


def statutory_days(year: int) -> list[tuple[date, str]]:
    """The public holidays the law fixes for ``year``, by date: New Year's Day (1 Jan),
    Spring Festival (New Year's Eve and the first three days of the lunar year),
    Tomb-sweeping Day (the Qingming solar term), Labour Day (1-2 May), Dragon Boat Festival
    (5th of the 5th lunar month), Mid-autumn Festival (15th of the 8th), National Day
    (1-3 Oct)."""
    from lunar_python import Lunar, Solar

    if year < STATUTORY_SINCE:
        raise SystemExit(
            f"the statutory holidays are those of the law in force since 2025, not {year}"
        )

    def lunar(month: int, day: int) -> date:
        solar = Lunar.fromYmd(year, month, day).getSolar()
        return date(solar.getYear(), solar.getMonth(), solar.getDay())

    new_year = lunar(1, 1)
    qingming = Solar.fromYmd(year, 4, 1).getLunar().getJieQiTable()["清明"]
    days = [
        (date(year, 1, 1), "New Year's Day"),
        *((new_year + timedelta(days=k), "Spring Festival") for k in range(-1, 3)),
        (date(qingming.getYear(), qingming.getMonth(), qingming.getDay()), "Tomb-sweeping Day"),
        (date(year, 5, 1), "Labour Day"),
        (date(year, 5, 2), "Labour Day"),
        (lunar(5, 5), "Dragon Boat Festival"),
        (lunar(8, 15), "Mid-autumn Festival"),
        *((date(year, 10, d), "National Day") for d in (1, 2, 3)),
    ]
    return sorted(days)


def render_statutory(year: int) -> str:
    """The CSV text of a provisional table: the law's holidays of ``year``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("date", "kind", "name", "basis"))
    writer.writerows(
        (day.isoformat(), "holiday", name, "statutory") for day, name in statutory_days(year)
    )
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("years", nargs="*", type=int, help="default: every shipped year")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="default: streams/data")
    parser.add_argument(
        "--statutory",
        action="store_true",
        help="a provisional table from the law alone, for a year the notice has not covered",
    )
    args = parser.parse_args(argv)
    if args.statutory and not args.years:
        parser.error("--statutory needs the years to write")
    years = args.years or list(range(FIRST_SHIPPED_YEAR, package_years().stop))
    for year in years:
        path = table_path(year, args.out)
        path.write_text(
            render_statutory(year) if args.statutory else render(year), encoding="utf-8"
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
