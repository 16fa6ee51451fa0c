"""What the api reads, from ClickHouse (the tables the sink keeps): cases, links, stages,
escalations, verify tasks, dispatch orders and the api's own audit rows.

Freshness: a row is here once the sink flushed it (``CITYSTREAM_SINK_BATCH_MS``, 1 s by
default) after the lifecycle wrote it, so reads lag the pipeline by about a second or two.
Times are read as epoch seconds (``toUInt32``) and returned in epoch ms, as elsewhere.
The queries keep to the SQL ClickHouse 18.16 shares with current releases.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from sinks.clickhouse import make_client
from streams.settings import Settings

__all__ = ["ClickHouseReads", "Reads"]

_TERMINAL = ("closed", "voided")
_CASE_COLUMNS = (
    "case_id, category_key, department, status, street, grid_code, lat, lon, urgent, "
    "rework_count, toUInt32(opened_at) AS opened_at, toUInt32(dispatched_at) AS dispatched_at, "
    "toUInt32(deadline) AS deadline, toUInt32(signed_at) AS signed_at, "
    "toUInt32(handled_at) AS handled_at, toUInt32(closed_at) AS closed_at, "
    "toUInt32(voided_at) AS voided_at"
)
_TIME_FIELDS = (
    "opened_at",
    "dispatched_at",
    "deadline",
    "signed_at",
    "handled_at",
    "closed_at",
    "voided_at",
    "issued_at",
    "due_at",
    "accepted_at",
    "escalated_at",
)


class Reads(Protocol):
    """The api's reads (blocking: the service runs them in a thread)."""

    def cases(self, case_ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...
    def department_cases(self, department: str) -> list[dict[str, Any]]: ...
    def open_cases(self) -> list[dict[str, Any]]: ...
    def case_events(self, case_id: int) -> list[dict[str, Any]]: ...
    def case_stages(self, case_id: int) -> list[dict[str, Any]]: ...
    def case_audit(self, case_id: int, request_ids: Sequence[str]) -> list[dict[str, Any]]: ...
    def escalations(self, case_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]: ...
    def links(self, event_ids: Sequence[int]) -> dict[int, int]: ...
    def handle_notes(self, case_ids: Sequence[int]) -> dict[int, str]: ...
    def open_tasks(self, supervisor: str) -> list[dict[str, Any]]: ...
    def open_task(self, case_id: int) -> dict[str, Any] | None: ...
    def dispatch_order(self, case_id: int) -> dict[str, Any] | None: ...
    def requests(
        self, ids: Sequence[str], start_ms: int, end_ms: int, limit: int
    ) -> list[dict[str, Any]]: ...


def _ms(row: dict[str, Any]) -> dict[str, Any]:
    for name in _TIME_FIELDS:
        if name in row:
            row[name] = int(row[name]) * 1000
    return row


class ClickHouseReads:
    """:class:`Reads` on the pipeline's database; one driver connection per thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = settings.clickhouse.database
        self.local = threading.local()

    def _query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = make_client(self.settings, use_numpy=False)
        rows, columns = client.execute(sql.format(db=self.db), params or {}, with_column_types=True)
        names = [name for name, _ in columns]
        return [_ms(dict(zip(names, row, strict=True))) for row in rows]

    def cases(self, case_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not case_ids:
            return {}
        rows = self._query(
            f"SELECT {_CASE_COLUMNS} FROM {{db}}.cases FINAL WHERE case_id IN %(ids)s",
            {"ids": tuple(int(c) for c in case_ids)},
        )
        return {int(r["case_id"]): r for r in rows}

    def department_cases(self, department: str) -> list[dict[str, Any]]:
        return self._query(
            f"SELECT {_CASE_COLUMNS} FROM {{db}}.cases FINAL "
            "WHERE department = %(d)s AND dispatched_at > 0 AND status NOT IN %(done)s "
            "ORDER BY deadline, case_id",
            {"d": department, "done": _TERMINAL},
        )

    def open_cases(self) -> list[dict[str, Any]]:
        """Every case from dispatch until closed or voided (the board)."""
        return self._query(
            f"SELECT {_CASE_COLUMNS} FROM {{db}}.cases FINAL "
            "WHERE dispatched_at > 0 AND status NOT IN %(done)s ORDER BY deadline, case_id",
            {"done": _TERMINAL},
        )

    def case_events(self, case_id: int) -> list[dict[str, Any]]:
        """The reports linked to a case, from every channel, in time order."""
        return self._query(
            "SELECT event_id, source, source_ref, toUInt32(event_time) AS event_time, "
            "reporter, text, address, device_id FROM {db}.events FINAL WHERE event_id IN "
            "(SELECT event_id FROM {db}.links FINAL WHERE case_id = %(c)s) "
            "ORDER BY event_time, event_id",
            {"c": int(case_id)},
        )

    def case_stages(self, case_id: int) -> list[dict[str, Any]]:
        return self._query(
            "SELECT seq, action, from_status, to_status, toUInt32(ts) AS ts, actor, "
            "department, note, result FROM {db}.case_stages FINAL WHERE case_id = %(c)s "
            "ORDER BY seq",
            {"c": int(case_id)},
        )

    def case_audit(self, case_id: int, request_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The api's writes about a case: its desk actions, and the Open311 requests among
        its reports (their photos)."""
        return self._query(
            "SELECT audit_id, key_id, action, media_urls, record, "
            "toUInt32(accepted_at) AS accepted_at FROM {db}.api_audit FINAL "
            "WHERE case_id = %(c)s OR audit_id IN %(ids)s ORDER BY accepted_at",
            {"c": int(case_id), "ids": tuple(f"open311:{r}" for r in request_ids) or ("",)},
        )

    def escalations(self, case_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        out: dict[int, list[dict[str, Any]]] = {}
        if not case_ids:
            return out
        rows = self._query(
            "SELECT case_id, level, toUInt32(escalated_at) AS escalated_at "
            "FROM {db}.escalations FINAL WHERE case_id IN %(ids)s ORDER BY escalated_at",
            {"ids": tuple(int(c) for c in case_ids)},
        )
        for r in rows:
            out.setdefault(int(r.pop("case_id")), []).append(r)
        return out

    def links(self, event_ids: Sequence[int]) -> dict[int, int]:
        if not event_ids:
            return {}
        rows = self._query(
            "SELECT event_id, case_id FROM {db}.links FINAL WHERE event_id IN %(ids)s",
            {"ids": tuple(int(e) for e in event_ids)},
        )
        return {int(r["event_id"]): int(r["case_id"]) for r in rows}

    def handle_notes(self, case_ids: Sequence[int]) -> dict[int, str]:
        """The note of each case's latest handling report (处置反馈), its department's word."""
        if not case_ids:
            return {}
        rows = self._query(
            "SELECT case_id, note FROM {db}.case_stages FINAL "
            "WHERE case_id IN %(ids)s AND action = 'handle' ORDER BY case_id, seq",
            {"ids": tuple(int(c) for c in case_ids)},
        )
        return {int(r["case_id"]): str(r["note"]) for r in rows}  # the last seq wins

    def open_tasks(self, supervisor: str) -> list[dict[str, Any]]:
        return self._query(
            "SELECT task_id, case_id, rework_round, supervisor, department, category_key, "
            "grid_code, street, area, toUInt32(issued_at) AS issued_at, "
            "toUInt32(due_at) AS due_at FROM {db}.verify_tasks FINAL "
            "WHERE supervisor = %(s)s AND status = 'open' ORDER BY due_at, case_id",
            {"s": supervisor},
        )

    def open_task(self, case_id: int) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT task_id, case_id, supervisor, department, toUInt32(due_at) AS due_at "
            "FROM {db}.verify_tasks FINAL WHERE case_id = %(c)s AND status = 'open' "
            "ORDER BY rework_round DESC LIMIT 1",
            {"c": int(case_id)},
        )
        return rows[0] if rows else None

    def dispatch_order(self, case_id: int) -> dict[str, Any] | None:
        """The dispatch order in force (a re-dispatch replaces the first order's row)."""
        rows = self._query(
            "SELECT case_id, department, urgent, toUInt32(dispatched_at) AS dispatched_at "
            "FROM {db}.dispatches FINAL WHERE case_id = %(c)s",
            {"c": int(case_id)},
        )
        return rows[0] if rows else None

    def requests(
        self, ids: Sequence[str], start_ms: int, end_ms: int, limit: int
    ) -> list[dict[str, Any]]:
        """Open311 requests this api accepted (audit rows), newest first."""
        where = "action = 'open311_request'"
        params: dict[str, Any] = {"limit": limit}
        if ids:
            where += " AND audit_id IN %(ids)s"
            params["ids"] = tuple(f"open311:{i}" for i in ids)
        else:
            where += " AND toUInt32(accepted_at) >= %(start)s AND toUInt32(accepted_at) <= %(end)s"
            params.update(start=start_ms // 1000, end=end_ms // 1000)
        return self._query(
            "SELECT audit_id, record, toUInt32(accepted_at) AS accepted_at "
            f"FROM {{db}}.api_audit FINAL WHERE {where} ORDER BY accepted_at DESC "
            "LIMIT %(limit)s",
            params,
        )
