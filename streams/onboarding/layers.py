"""Checks of a district's polygon layers against each other: unit-grid codes, overlaps
between grids, grids outside the boundary, and gaps the grids leave inside it.

Areas are measured on a lattice of sample points (streams/reference/polygons.py) whose
step follows the tolerance, so a problem smaller than the tolerance is not reported and
one larger is, give or take a lattice cell at each edge.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from streams.reference.polygons import Lattice, Shape

__all__ = ["GBT_30428_1", "CoverageReport", "check_codes", "check_coverage"]

# GB/T 30428.1: admin area (6) + street (3) + community (3) + sequence (3); the older
# 14-digit form has a 2-digit sequence
GBT_30428_1 = r"{admin}\d{{3}}\d{{3}}\d{{2,3}}"
_MAX_POINTS = 4_000_000  # lattice size: bounds memory (a few bytes per point) and time


def check_codes(
    grids: list[Shape], where_file: str, admin_code: str, pattern: str | None
) -> list[str]:
    """Each grid's ``grid_code``: present, unique, and of the GB/T 30428.1 form under the
    district's admin code, or of the declared ``pattern`` (a regular expression)."""
    rule = pattern or GBT_30428_1.format(admin=re.escape(admin_code))
    regex = re.compile(rule)
    errors: list[str] = []
    first: dict[str, int] = {}
    for g in grids:
        raw = g.properties.get("grid_code")
        code = str(raw).strip() if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        where = f"{where_file}: feature {g.feature}"
        if not code:
            errors.append(f"{where}: no grid_code property")
            continue
        if not regex.fullmatch(code):
            norm = "the declared pattern" if pattern else "GB/T 30428.1 (admin code + 9 digits)"
            errors.append(f"{where} (grid_code {code}): does not match {norm} {rule!r}")
        if code in first:
            errors.append(f"{where} (grid_code {code}): duplicate of feature {first[code]}")
        first.setdefault(code, g.feature)
    return errors


@dataclass(frozen=True)
class CoverageReport:
    step_m: float
    boundary_m2: float
    gap_m2: float
    errors: list[str]


def check_coverage(
    boundary: list[Shape],
    grids: list[Shape],
    files: tuple[str, str],
    tolerance_m2: float,
) -> CoverageReport:
    """Overlaps between grids, grid area outside the boundary, and boundary area no grid
    covers, each an error when above ``tolerance_m2``."""
    min_step = max(0.5, math.sqrt(tolerance_m2) / 4.0)
    lattice = Lattice.over(boundary + grids, _MAX_POINTS, min_step)
    inside = np.zeros((lattice.ny, lattice.nx), dtype=bool)
    for shape in boundary:
        rows, cols, mask = lattice.mask(shape)
        inside[rows, cols] |= mask
    owner = np.full((lattice.ny, lattice.nx), -1, dtype=np.int32)
    overlaps: Counter[tuple[int, int]] = Counter()
    errors: list[str] = []
    cell = lattice.cell_m2
    for i, grid in enumerate(grids):
        rows, cols, mask = lattice.mask(grid)
        window = owner[rows, cols]  # a view: writes land in owner
        taken = window[mask & (window >= 0)]
        for j, n in zip(*np.unique(taken, return_counts=True), strict=True):
            overlaps[(int(j), i)] += int(n)
        window[mask & (window < 0)] = i
        outside = int((mask & ~inside[rows, cols]).sum()) * cell
        if outside > tolerance_m2:
            errors.append(
                f"{files[1]}: feature {grid.feature} ({grid.label}): {outside:,.0f} m² lie "
                f"outside the boundary in {files[0]} (tolerance {tolerance_m2:g} m²)"
            )
    for (j, i), n in sorted(overlaps.items()):
        if n * cell > tolerance_m2:
            a, b = grids[j], grids[i]
            errors.append(
                f"{files[1]}: features {a.feature} ({a.label}) and {b.feature} ({b.label}) "
                f"overlap by {n * cell:,.0f} m² (tolerance {tolerance_m2:g} m²)"
            )
    gap = inside & (owner < 0)
    gap_m2 = int(gap.sum()) * cell
    if grids and gap_m2 > tolerance_m2:
        row, col = np.unravel_index(int(np.argmax(gap)), gap.shape)
        lat, lon = lattice.position(int(row), int(col))
        errors.append(
            f"{files[1]}: the unit grids leave {gap_m2:,.0f} m² of the boundary in {files[0]} "
            f"uncovered, e.g. at ({lat:.6f}, {lon:.6f}) (tolerance {tolerance_m2:g} m²)"
        )
    return CoverageReport(lattice.step, int(inside.sum()) * cell, gap_m2, errors)
