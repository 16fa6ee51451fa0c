"""Overlays: the modern path's storage of a migration's tables (docs/schema.md).

An overlay (``sinks/migrations/modern/NNNN_name.sql``) holds only ``CREATE TABLE`` and
``ALTER TABLE ... ADD COLUMN`` statements; each takes the place of the base file's
statement for the same table or column. An overlay may change how a table is stored (types
wrapped in ``LowCardinality``, codecs, partition and sort keys, engine settings) but not
what it holds: :func:`check_overlay` refuses an overlay whose columns differ from the base
file's in name, order or value type, and an overlay statement without a base statement to
replace. So both paths have the same tables, columns, views and data; the writer
(:mod:`sinks.tables`) reads the base files and serves both.
"""

from __future__ import annotations

import re

from sinks.tables import column_definitions

__all__ = ["OverlayError", "apply_overlay", "check_overlay", "value_type"]

_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS (\S+)\.(\w+) \((.*?)\)\s*ENGINE", re.S)
_ADD = re.compile(r"^ALTER TABLE (\S+)\.(\w+)\s+ADD COLUMN(?: IF NOT EXISTS)? (\w+) (.+)$", re.S)
_LOW_CARDINALITY = re.compile(r"^LowCardinality\((.+)\)$")
# a column line: name, type (possibly with parentheses), then CODEC/TTL/DEFAULT clauses
_COLUMN = re.compile(
    r"^\s*(\w+) ((?:LowCardinality\()?(?:AggregateFunction\([\w, ]+\)|\w+)\)?)"
    r"(?:\s+(?:CODEC|TTL|DEFAULT)\b.*?)?,?\s*(?:--.*)?$"
)


class OverlayError(ValueError):
    """An overlay does not fit its base migration."""


def _key(statement: str) -> tuple[str, ...] | None:
    """What a statement defines: ("table", t), ("column", t, c), or None (anything else)."""
    create = _CREATE.match(statement)
    if create is not None:
        return ("table", create.group(2))
    add = _ADD.match(statement)
    if add is not None:
        return ("column", add.group(2), add.group(3))
    return None


def value_type(type_text: str) -> str:
    """The type of the values a column holds: ``LowCardinality(String)`` holds Strings."""
    match = _LOW_CARDINALITY.match(type_text)
    return type_text if match is None else match.group(1)


def _columns(where: str, body: str) -> list[tuple[str, str]]:
    columns = []
    for line, match in column_definitions(body, _COLUMN):
        if match is None:
            raise OverlayError(f"{where}: cannot read the column definition {line!r}")
        columns.append((match.group(1), value_type(match.group(2))))
    return columns


def _defined(where: str, statement: str) -> list[tuple[str, str]]:
    """The columns (name, value type) a CREATE or ADD COLUMN statement defines."""
    create = _CREATE.match(statement)
    if create is not None:
        return _columns(where, create.group(3))
    add = _ADD.match(statement)
    if add is None:
        raise OverlayError(f"{where}: not a CREATE TABLE or ADD COLUMN: {statement[:80]!r}")
    rest = _COLUMN.match(f"{add.group(3)} {add.group(4).split(' AFTER ')[0].strip()}")
    if rest is None:
        raise OverlayError(f"{where}: cannot read the added column {statement[:80]!r}")
    return [(rest.group(1), value_type(rest.group(2)))]


def check_overlay(base: list[str], overlay: list[str], where: str) -> None:
    """Refuse an overlay that would make the paths hold different tables or columns."""
    by_key = {_key(s): s for s in base if _key(s) is not None}
    seen: set[tuple[str, ...]] = set()
    for statement in overlay:
        key = _key(statement)
        if key is None:
            raise OverlayError(
                f"{where}: an overlay holds only CREATE TABLE and ADD COLUMN statements, "
                f"not {statement[:80]!r}"
            )
        if key in seen:
            raise OverlayError(f"{where}: the overlay defines {key} twice")
        seen.add(key)
        if key not in by_key:
            raise OverlayError(f"{where}: the overlay defines {key}, which the base file does not")
        theirs, ours = _defined(where, by_key[key]), _defined(where, statement)
        if theirs != ours:
            raise OverlayError(
                f"{where}: the overlay's {key} has columns {ours}, the base file's {theirs}"
            )


def apply_overlay(base: list[str], overlay: list[str], where: str) -> list[str]:
    """The base statements with those the overlay redefines replaced, in the base order."""
    check_overlay(base, overlay, where)
    replacements = {_key(s): s for s in overlay}
    return [replacements.get(_key(s), s) if _key(s) is not None else s for s in base]
