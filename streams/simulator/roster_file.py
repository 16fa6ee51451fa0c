"""The simulated district's inspector roster as the packaged file ``streams/data/inspectors.csv``.

Generated from :func:`build_district`'s inspectors (their department, role and beat) and the
shift calendar the patrol schedule follows (:data:`streams.simulator.patrols.PLANNED`), so
the roster the pipeline loads and the patrols the simulator walks agree; a unit test checks
the committed file is what this module produces (``citystream simulate --write-district``
rewrites it). Names are drawn per inspector id: the district's generator stays untouched.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

from streams.reference.inspectors import (
    LIST_SEP,
    ROSTER_COLUMNS,
    WEEKDAYS,
    WHOLE_DISTRICT,
    default_inspector_roster_path,
)
from streams.simulator.district import District, Inspector
from streams.simulator.names import GIVEN_NAMES, SURNAMES
from streams.simulator.patrols import PLANNED

__all__ = ["LEVEL_OF_ROLE", "inspector_names", "roster_csv", "write_roster_file"]

# the simulator's roles -> the roster's levels (streams/reference/inspectors.py)
LEVEL_OF_ROLE = {"head": "principal_leader", "chief": "section_chief", "staff": "staff"}


def inspector_names(inspectors: list[Inspector]) -> dict[str, str]:
    """A distinct Chinese name per inspector, the same for the same ids."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for who in inspectors:
        rng = random.Random(f"name:{who.inspector_id}")
        surname, k = rng.choice(SURNAMES), rng.randrange(len(GIVEN_NAMES))
        name = surname + GIVEN_NAMES[k]
        while name in taken:  # 20 x 30 names for ~60 people: a clash takes the next one
            k = (k + 1) % len(GIVEN_NAMES)
            name = surname + GIVEN_NAMES[k]
        taken.add(name)
        names[who.inspector_id] = name
    return names


def _home_streets(district: District, who: Inspector) -> str:
    if len(who.beat) == len(district.streets):
        return WHOLE_DISTRICT
    return LIST_SEP.join(district.streets[s].name for s in who.beat)


def roster_csv(district: District) -> str:
    """The roster file's text: one row per inspector, in id order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ROSTER_COLUMNS)
    names = inspector_names(district.inspectors)
    for who in district.inspectors:
        days, shifts = PLANNED[who.role]
        writer.writerow(
            (
                who.inspector_id,
                names[who.inspector_id],
                who.department,
                LEVEL_OF_ROLE[who.role],
                _home_streets(district, who),
                "",
                LIST_SEP.join(WEEKDAYS[d] for d in days),
                LIST_SEP.join(shifts),
            )
        )
    return buf.getvalue()


def write_roster_file(district: District, path: Path | None = None) -> Path:
    """Write the roster (default: the packaged file) and return its path."""
    target = path or default_inspector_roster_path()
    target.write_text(roster_csv(district), encoding="utf-8")
    return target
