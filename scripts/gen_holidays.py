"""Write the Chinese holiday tables ``streams/data/holidays_cn_YYYY.csv`` from ``chinesecalendar``.

The tables are data the calendar reads (``date,kind,name``; kind ``holiday`` or
``workday`` for a 调休 working weekend day), one file per year, so that a city can ship
its own. This script is the only way the packaged ones are made: the unit test
``tests/unit/cases/test_cases_holiday_tables.py`` checks every committed table against
the package, so a hand edit or a package update that moved a day shows up there.

    .venv/bin/pip install chinesecalendar   # in the ``test`` extra
    .venv/bin/python scripts/gen_holidays.py 2027    # a new year, once the package has it
    .venv/bin/python scripts/gen_holidays.py         # rewrite every shipped year

A new year's file must also be added to the ``holiday_files`` default (``CalendarSettings``) in
``streams/settings/concerns.py`` (and to operators' ``CITYSTREAM_HOLIDAY_FILES`` where set).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import date
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("years", nargs="*", type=int, help="default: every shipped year")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="default: streams/data")
    args = parser.parse_args(argv)
    years = args.years or list(range(FIRST_SHIPPED_YEAR, package_years().stop))
    for year in years:
        path = table_path(year, args.out)
        path.write_text(render(year), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
