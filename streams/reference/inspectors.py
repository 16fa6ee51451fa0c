"""The inspector roster (铁脚板): who patrols, at which level, where, and on which days.

The data lives in ``streams/data/inspectors.csv`` (or ``CITYSTREAM_INSPECTOR_ROSTER``), one
row per inspector::

    inspector_id,name,department,level,home_streets,home_grids,weekdays,shifts
    INS-005,王建军,municipal,staff,淮河路;泰山路;淇河路,,mon;tue;wed;thu;fri;sat;sun,morning;afternoon

* ``level``: ``principal_leader`` (主要负责同志), ``section_chief`` (科级干部) or ``staff``
  (股级干部 and the staff they lead): the patrol rules are per level (DOMAIN.md).
* ``home_streets`` / ``home_grids``: the area the inspector is in charge of, as street names
  and/or unit-grid codes (14 or 15 digits), ``;``-separated; ``*`` in ``home_streets`` is
  the whole district. At least one of the two must be given.
* ``weekdays`` (``mon`` .. ``sun``) and ``shifts`` (:data:`SHIFTS`): the shift calendar,
  the days and shifts the inspector is rostered to patrol. A patrol starts inside its
  shift's window and may run over it.

The packaged file is generated from the simulated district (``citystream simulate
--write-district``); a real city replaces it. Loading refuses a bad file naming the line.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from streams.reference.categories import DEPARTMENTS
from streams.reference.data import DATA_DIR, read_csv_rows

__all__ = [
    "LEVELS",
    "LIST_SEP",
    "ROSTER_COLUMNS",
    "SHIFTS",
    "WEEKDAYS",
    "WHOLE_DISTRICT",
    "Inspector",
    "InspectorRoster",
    "InspectorRosterError",
    "default_inspector_roster_path",
]

LEVELS: tuple[str, ...] = ("principal_leader", "section_chief", "staff")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = weekday()
# shift -> (start, end) local time: when a patrol of the shift starts
SHIFTS: dict[str, tuple[str, str]] = {
    "morning": ("08:00", "12:00"),
    "afternoon": ("14:00", "18:00"),
    "evening": ("18:30", "22:30"),
}
WHOLE_DISTRICT = "*"
LIST_SEP = ";"
ROSTER_COLUMNS = (  # the roster file's header, in order
    "inspector_id",
    "name",
    "department",
    "level",
    "home_streets",
    "home_grids",
    "weekdays",
    "shifts",
)


class InspectorRosterError(ValueError):
    """The inspector roster file is invalid."""


def default_inspector_roster_path() -> Path:
    return DATA_DIR / "inspectors.csv"


@dataclass(frozen=True, slots=True)
class Inspector:
    inspector_id: str
    name: str
    department: str
    level: str  # one of LEVELS
    home_streets: tuple[str, ...]  # ("*",) = the whole district
    home_grids: tuple[str, ...]
    weekdays: frozenset[int]  # 0 = Monday, as date.weekday()
    shifts: tuple[str, ...]  # names in SHIFTS

    @property
    def whole_district(self) -> bool:
        return self.home_streets == (WHOLE_DISTRICT,)

    def rostered_on(self, weekday: int) -> bool:
        return weekday in self.weekdays

    def in_home_area(self, street: str = "", grid_code: str = "") -> bool:
        """Whether a place (its street name and/or unit grid) is in the inspector's area."""
        return (
            self.whole_district
            or (bool(street) and street in self.home_streets)
            or (bool(grid_code) and grid_code in self.home_grids)
        )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(LIST_SEP) if part.strip()]


class _RowReader:
    """Reads one row, raising :class:`InspectorRosterError` with ``path:line``."""

    def __init__(self, path: Path, line: int, streets: Collection[str] | None) -> None:
        self.where, self.streets = f"{path}:{line}", streets

    def fail(self, message: str) -> InspectorRosterError:
        return InspectorRosterError(f"{self.where}: {message}")

    def choice(self, row: dict[str, str], column: str, allowed: Collection[str]) -> str:
        value = (row[column] or "").strip()
        if value not in allowed:
            raise self.fail(f"{column} {value!r} is not one of {', '.join(allowed)}")
        return value

    def area(self, row: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        streets, grids = _split(row["home_streets"] or ""), _split(row["home_grids"] or "")
        if not streets and not grids:
            raise self.fail("no home area: give home_streets (or *) and/or home_grids")
        if WHOLE_DISTRICT in streets and len(streets) > 1:
            raise self.fail("home_streets is either * or a list of streets")
        if self.streets is not None:
            unknown = [s for s in streets if s != WHOLE_DISTRICT and s not in self.streets]
            if unknown:
                raise self.fail(f"home street(s) {unknown} not in the street network")
        for code in grids:
            if not (code.isascii() and code.isdigit() and len(code) in (14, 15)):
                raise self.fail(f"home grid {code!r} is not a 14 or 15 digit unit-grid code")
        if len(set(streets)) != len(streets) or len(set(grids)) != len(grids):
            raise self.fail("home area lists a street or grid twice")
        return tuple(streets), tuple(grids)

    def calendar(self, row: dict[str, str]) -> tuple[frozenset[int], tuple[str, ...]]:
        days, shifts = _split(row["weekdays"] or ""), _split(row["shifts"] or "")
        if not days or not shifts:
            raise self.fail("the shift calendar needs at least one weekday and one shift")
        for day in days:
            self.choice({"weekdays": day}, "weekdays", WEEKDAYS)
        for shift in shifts:
            self.choice({"shifts": shift}, "shifts", tuple(SHIFTS))
        if len(set(days)) != len(days) or len(set(shifts)) != len(shifts):
            raise self.fail("the shift calendar lists a weekday or shift twice")
        return frozenset(WEEKDAYS.index(d) for d in days), tuple(shifts)

    def inspector(self, row: dict[str, str]) -> Inspector:
        who, name = (row["inspector_id"] or "").strip(), (row["name"] or "").strip()
        if not who:
            raise self.fail("inspector_id is empty")
        if not name:
            raise self.fail(f"inspector {who} has no name")
        department = self.choice(row, "department", DEPARTMENTS)
        level = self.choice(row, "level", LEVELS)
        streets, grids = self.area(row)
        days, shifts = self.calendar(row)
        return Inspector(who, name, department, level, streets, grids, days, shifts)


@dataclass(frozen=True)
class InspectorRoster:
    """Every inspector by id."""

    inspectors: dict[str, Inspector]
    path: Path

    @classmethod
    def load(
        cls, path: str | Path | None = None, streets: Collection[str] | None = None
    ) -> InspectorRoster:
        """Read and validate a roster; ``None`` or ``""`` means the packaged default.

        ``streets``: the street network's names, when known, to refuse home streets that
        are not in it.
        """
        roster_path = Path(path) if path else default_inspector_roster_path()
        rows = read_csv_rows(roster_path, ROSTER_COLUMNS, InspectorRosterError)
        inspectors: dict[str, Inspector] = {}
        for line, row in enumerate(rows, 2):
            reader = _RowReader(roster_path, line, streets)
            if None in row:  # csv.DictReader puts surplus cells under the key None
                raise reader.fail("more cells than columns")
            inspector = reader.inspector(row)
            if inspector.inspector_id in inspectors:
                raise reader.fail(f"inspector {inspector.inspector_id} is listed twice")
            inspectors[inspector.inspector_id] = inspector
        if not inspectors:
            raise InspectorRosterError(f"{roster_path}: the roster lists nobody")
        return cls(inspectors, roster_path)

    def __contains__(self, inspector_id: object) -> bool:
        return inspector_id in self.inspectors

    def __getitem__(self, inspector_id: str) -> Inspector:
        return self.inspectors[inspector_id]

    def __iter__(self) -> Iterator[Inspector]:
        return iter(self.inspectors.values())

    def __len__(self) -> int:
        return len(self.inspectors)

    def ids(self) -> frozenset[str]:
        return frozenset(self.inspectors)

    def at_level(self, level: str) -> list[Inspector]:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}, expected one of {LEVELS}")
        return [i for i in self.inspectors.values() if i.level == level]
