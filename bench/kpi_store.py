"""The KPI benchmarks' store of synthetic events, built once per run, mostly server-side.

Generating 10 M events in Python (``sinks.synthetic``: the verify tasks and escalations
are built row by row) took about a minute per 500 k cases on the shared 2 cores, seven
times over, most of the KPI suite's time. Instead, one chunk of cases is generated and
written through the real sink (as before), and the other chunks are copies of it made by
the server (``INSERT ... SELECT``) with every id moved past the chunk's own
(:data:`ID_STRIDE` x the copy's number) and the texts that spell an id spelled anew. So
the store has as many rows, distinct cases, events, versions of a case, re-sent
escalations and settled verify tasks as before, over the same 90 days, units and
departments: what the queries read, group and deduplicate with ``FINAL`` is the same
amount of the same kind. (The old chunks came from different seeds whose case ids could
collide across chunks, folding about 6 % of the cases into others' by ``FINAL``; the copies
keep every case apart.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sinks.sql import Executor, insertable_columns
from sinks.synthetic import generate

__all__ = ["CHUNK_CASES", "ID_STRIDE", "copy_sql", "fill_store"]

CHUNK_CASES = 500_000  # the most cases generated in Python at once (as before)
# above every id of a chunk (``sinks.synthetic``: case ids <= 50 x its cases, event ids
# <= 10 x its events) and below the patrol events' ids (10**12), added per copy
ID_STRIDE = 10**9

_OFF = "toUInt64({stride} * k)"
_CASE = f"toUInt64(case_id + {_OFF})"
_EVENT = f"toUInt64(event_id + {_OFF})"
_RECURRENCE = f"if(recurrence_of = 0, recurrence_of, toUInt64(recurrence_of + {_OFF}))"
_REF = f"concat('ref-', toString({_EVENT}))"
# the columns that hold or spell an id, per table; every other column is copied as it is
_MOVED: dict[str, dict[str, str]] = {
    "cases": {"case_id": _CASE, "recurrence_of": _RECURRENCE},
    "events": {"event_id": _EVENT, "source_ref": _REF},
    "links": {
        "event_id": _EVENT,
        "case_id": _CASE,
        "recurrence_of": _RECURRENCE,
        "source_ref": _REF,
    },
    "dispatches": {"case_id": _CASE},
    "verify_tasks": {
        "task_id": f"concat(toString({_CASE}), ':v', toString(rework_round))",
        "case_id": _CASE,
    },
    "escalations": {
        "escalation_id": f"concat(toString({_CASE}), ':', level)",
        "case_id": _CASE,
    },
    # no id: a visit is its (inspector, grid, time), so a copy is k seconds later
    "patrol_visits": {"visited_at": "visited_at + k"},
}


def copy_sql(database: str, table: str, columns: list[str], copies: int) -> str:
    """One INSERT writing ``copies`` - 1 copies of ``table``'s rows, ids moved."""
    moved = _MOVED[table]
    exprs = ", ".join(moved[c].format(stride=ID_STRIDE) if c in moved else c for c in columns)
    return (
        f"INSERT INTO {database}.{table} ({', '.join(columns)}) "
        f"SELECT {exprs} FROM {database}.{table} "
        f"ARRAY JOIN arrayMap(i -> i + 1, range({copies - 1})) AS k"  # k = 1 .. copies - 1
    )


Write = Callable[[dict[str, dict[str, Any]]], None]


def fill_store(ex: Executor, database: str, write: Write, n_cases: int, days: int) -> int:
    """Write about ``n_cases`` synthetic cases (about 3 events each) over ``days``: one
    chunk through ``write`` (the tables' columns, written and flushed by the caller's
    sink), the rest as server-side copies (at least one, so small stores take the same
    path). Returns the cases written (the chunk times the copies)."""
    copies = max(2, math.ceil(n_cases / CHUNK_CASES))
    chunk = max(1, math.ceil(n_cases / copies))
    data = generate(chunk, seed=1, days=days)
    write(data.tables)
    for table in data.tables:
        ex.execute(copy_sql(database, table, insertable_columns(ex, database, table), copies))
    return chunk * copies
