"""The supervisor roster (监督员排班): who verifies cases where, and when they are on duty.

The data lives in ``streams/data/supervisors.csv`` (or ``CITYSTREAM_SUPERVISOR_ROSTER``):
one row per supervisor and shift, ``street,area,supervisor_id,shift_start,shift_end``.
``street`` is a 9-digit street code (the first 9 digits of a unit-grid code) or ``*``: the
district's duty desk, for cases in no listed street (e.g. outside every unit grid). ``area``
is ``urban`` or ``rural``, which sets the verification time limit. Shifts are local
``HH:MM`` times; a shift that ends at or before its start runs past midnight.

Loading checks that every street (and ``*``, which must exist) is covered around the clock,
so :meth:`SupervisorRoster.on_duty` always has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams.reference.data import DATA_DIR, read_csv_rows

__all__ = [
    "AREAS",
    "DISTRICT_DESK",
    "RosterError",
    "Shift",
    "SupervisorRoster",
    "default_roster_path",
]

AREAS: tuple[str, ...] = ("urban", "rural")
DISTRICT_DESK = "*"
_COLUMNS = ("street", "area", "supervisor_id", "shift_start", "shift_end")
DAY_MINUTES = 24 * 60


class RosterError(ValueError):
    """The roster file is invalid."""


def default_roster_path() -> Path:
    return DATA_DIR / "supervisors.csv"


def _minute(path: Path, line: int, text: str) -> int:
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise RosterError(f"{path}:{line}: shift time {text!r} is not HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > DAY_MINUTES:
        raise RosterError(f"{path}:{line}: shift time {text!r} is not a time of day")
    return value


@dataclass(frozen=True, slots=True)
class Shift:
    supervisor_id: str
    start_min: int  # local minutes after midnight
    end_min: int  # <= start_min: the shift runs past midnight

    def covers(self, minute: int) -> bool:
        if self.start_min < self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


@dataclass(frozen=True)
class SupervisorRoster:
    """Shifts and area type per street (``*`` = the district desk)."""

    shifts: dict[str, tuple[Shift, ...]]
    areas: dict[str, str]
    path: Path

    @classmethod
    def load(cls, path: str | Path | None = None) -> SupervisorRoster:
        """Read and validate a roster; ``None`` or ``""`` means the packaged default."""
        roster_path = Path(path) if path else default_roster_path()
        rows = read_csv_rows(roster_path, _COLUMNS, RosterError)
        shifts: dict[str, list[Shift]] = {}
        areas: dict[str, str] = {}
        for line, row in enumerate(rows, 2):
            street, area, who = row["street"].strip(), row["area"].strip(), row["supervisor_id"]
            if street != DISTRICT_DESK and not (len(street) == 9 and street.isdigit()):
                raise RosterError(f"{roster_path}:{line}: street {street!r} is not 9 digits or *")
            if area not in AREAS:
                raise RosterError(f"{roster_path}:{line}: area {area!r} not in {AREAS}")
            if areas.setdefault(street, area) != area:
                raise RosterError(f"{roster_path}:{line}: street {street} is both urban and rural")
            if not who.strip():
                raise RosterError(f"{roster_path}:{line}: supervisor_id is empty")
            start = _minute(roster_path, line, row["shift_start"].strip())
            end = _minute(roster_path, line, row["shift_end"].strip())
            shifts.setdefault(street, []).append(Shift(who.strip(), start, end % DAY_MINUTES))
        roster = cls({k: tuple(v) for k, v in shifts.items()}, areas, roster_path)
        roster._check_coverage()
        return roster

    def _check_coverage(self) -> None:
        if DISTRICT_DESK not in self.shifts:
            raise RosterError(f"{self.path}: no row for the district desk (street *)")
        for street, shifts in self.shifts.items():
            # shift edges are the only places where coverage can change
            edges = sorted({s.start_min for s in shifts} | {s.end_min for s in shifts} | {0})
            gaps = [m for m in edges if not any(s.covers(m) for s in shifts)]
            if gaps:
                at = f"{gaps[0] // 60:02d}:{gaps[0] % 60:02d}"
                raise RosterError(f"{self.path}: street {street} has nobody on duty at {at}")

    def desk_of(self, street: str) -> str:
        """The roster street that covers ``street``: itself if listed, else ``*``."""
        return street if street in self.shifts else DISTRICT_DESK

    def area_of(self, street: str) -> str:
        return self.areas[self.desk_of(street)]

    def on_duty(self, street: str, local_minute: int, pick: int) -> str:
        """A supervisor on duty for ``street`` at a local time; ``pick`` (e.g. the case id)
        spreads the work over everyone on duty, the same way on every replay."""
        desk = self.desk_of(street)
        duty = [s.supervisor_id for s in self.shifts[desk] if s.covers(local_minute)]
        return duty[pick % len(duty)]

    def supervisors(self) -> frozenset[str]:
        return frozenset(s.supervisor_id for shifts in self.shifts.values() for s in shifts)
