"""Dedup quality on a city's own labels: where a 311 export marks duplicates, how well the
dedup's cases agree with them (``citystream quality --export``; docs/onboarding.md).

Two kinds of label, declared in the mapping's ``labels`` (section 1 of the doc):

- ``parent_id``: the column holding the request a duplicate was closed into (Chicago's
  ``PARENT_SR_NUMBER``). Rows form incidents (a row, its children, theirs ...) and the
  pairwise precision and recall of the cases are measured against them, as against the
  simulator's truth (:func:`streams.cli.quality.pairwise_linkage`);
- ``duplicate``: a column whose value says duplicate (``values``: exact, ``contains``:
  case-insensitive substrings; e.g. Boston's closure reason, Baltimore's status). Without
  a parent it says that a row is a duplicate, not of which: precision and recall are then
  per report (a report the dedup merged into a case another report opened, against a
  report the city marked duplicate).

A city's labels miss duplicates (an audit found 23 %) and mark some that are not (a
request closed as a duplicate of another one far away): precision against them is a
lower bound of the dedup's own.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.intake.adapters.csv311 import Csv311Error, Csv311Mapping, header_key

__all__ = ["ExportLabels", "read_labels", "report_level"]


@dataclass(frozen=True)
class ExportLabels:
    parent: dict[str, str]  # request id -> its parent's (rows naming one)
    flagged: set[str]  # request ids whose duplicate column says duplicate
    rows: int
    has_parent: bool
    has_flag: bool

    def incident(self, ref: str) -> str:
        """The root of ``ref``'s parent chain (a cycle stops where it closes)."""
        seen = {ref}
        while (up := self.parent.get(ref)) is not None and up not in seen:
            seen.add(up)
            ref = up
        return ref


def _column(header: list[str], name: Any, path: Path, what: str) -> int:
    if not isinstance(name, str) or not name:
        raise Csv311Error(f"mapping labels: {what} must name a column, got {name!r}")
    keys = [header_key(h) for h in header]
    try:
        return keys.index(header_key(name))
    except ValueError:
        raise Csv311Error(f"{path}: no column {name!r} ({what} of the mapping labels)") from None


def _flag_test(spec: Any) -> tuple[str, Any]:
    if not isinstance(spec, dict) or "column" not in spec:
        raise Csv311Error(f"mapping labels: duplicate must be {{column, values|contains}}: {spec}")
    values = {str(v) for v in spec.get("values", ())}
    contains = [str(c).casefold() for c in spec.get("contains", ())]
    if not values and not contains:
        raise Csv311Error("mapping labels: duplicate needs values or contains")

    def test(cell: str) -> bool:
        cell = cell.strip()
        return cell in values or any(c in cell.casefold() for c in contains)

    return spec["column"], test


def read_labels(paths: list[Path], mapping: Csv311Mapping) -> ExportLabels:
    """The labels of every row of ``paths``; an error when the mapping declares none."""
    spec = mapping.labels
    if not spec.get("parent_id") and not spec.get("duplicate"):
        raise Csv311Error(f"mapping {mapping.name} declares no duplicate labels (labels: ...)")
    flag_column, flag = _flag_test(spec["duplicate"]) if spec.get("duplicate") else ("", None)
    parent: dict[str, str] = {}
    flagged: set[str] = set()
    rows = 0
    parent_name = spec.get("parent_id")
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            resolved = mapping.resolve(header, path)
            ref_at = header.index(resolved.columns["service_request_id"])
            parent_at = _column(header, parent_name, path, "parent_id") if parent_name else -1
            flag_at = _column(header, flag_column, path, "duplicate") if flag else -1
            for cells in reader:
                if not cells or ref_at >= len(cells):
                    continue
                rows += 1
                ref = cells[ref_at].strip()
                if 0 <= parent_at < len(cells) and (up := cells[parent_at].strip()) and up != ref:
                    parent[ref] = up
                if flag is not None and flag_at < len(cells) and flag(cells[flag_at]):
                    flagged.add(ref)
    return ExportLabels(parent, flagged, rows, bool(parent_name), flag is not None)


def report_level(merged: set[str], flagged: set[str], scored: set[str]) -> tuple[float, float]:
    """Precision and recall of ``merged`` reports against ``flagged`` ones, over ``scored``."""
    predicted, true = merged & scored, flagged & scored
    both = len(predicted & true)
    return (
        both / len(predicted) if predicted else 1.0,
        both / len(true) if true else 1.0,
    )
