"""An Api over fake reads and a recording writer, with the keys of api_keys.py."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.api.build import build_api
from streams.api.http import Request, Response
from streams.api.service import Api
from streams.settings import Settings

NOW_MS = 1_796_000_000_000  # 2026-11-30, inside the packaged holiday tables
KEYS = {
    "hotline": ("demo-hotline", ["open311:write", "open311:read"]),
    "reader": ("demo-reader", ["open311:read"]),
    "municipal": ("demo-municipal", ["desk:municipal"]),
    "sanitation": ("demo-sanitation", ["desk:sanitation"]),
    "sup": ("demo-sup", ["verify:SUP-001-01"]),
    "operators": ("demo-operators", ["board:read"]),
}


class FakeReads:
    """The tables as plain dicts (times in epoch ms, as ClickHouseReads returns them)."""

    def __init__(self) -> None:
        self.case_rows: dict[int, dict[str, Any]] = {}
        self.link_rows: dict[int, int] = {}
        self.notes: dict[int, str] = {}
        self.tasks: list[dict[str, Any]] = []
        self.orders: dict[int, dict[str, Any]] = {}
        self.audit: list[dict[str, Any]] = []
        self.escalation_rows: dict[int, list[dict[str, Any]]] = {}
        self.events: dict[int, list[dict[str, Any]]] = {}
        self.stages: dict[int, list[dict[str, Any]]] = {}

    def open_cases(self) -> list[dict[str, Any]]:
        return [c for c in self.case_rows.values() if c["status"] not in ("closed", "voided")]

    def case_events(self, case_id: int) -> list[dict[str, Any]]:
        return self.events.get(case_id, [])

    def case_stages(self, case_id: int) -> list[dict[str, Any]]:
        return self.stages.get(case_id, [])

    def case_audit(self, case_id: int, request_ids: Sequence[str]) -> list[dict[str, Any]]:
        ids = {f"open311:{r}" for r in request_ids}
        return [a for a in self.audit if a["case_id"] == case_id or a["audit_id"] in ids]

    def cases(self, case_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return {c: self.case_rows[c] for c in case_ids if c in self.case_rows}

    def department_cases(self, department: str) -> list[dict[str, Any]]:
        return [c for c in self.case_rows.values() if c["department"] == department]

    def escalations(self, case_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        return {c: self.escalation_rows[c] for c in case_ids if c in self.escalation_rows}

    def links(self, event_ids: Sequence[int]) -> dict[int, int]:
        return {e: self.link_rows[e] for e in event_ids if e in self.link_rows}

    def handle_notes(self, case_ids: Sequence[int]) -> dict[int, str]:
        return {c: self.notes[c] for c in case_ids if c in self.notes}

    def open_tasks(self, supervisor: str) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t["supervisor"] == supervisor]

    def open_task(self, case_id: int) -> dict[str, Any] | None:
        return next((t for t in self.tasks if t["case_id"] == case_id), None)

    def dispatch_order(self, case_id: int) -> dict[str, Any] | None:
        return self.orders.get(case_id)

    def requests(
        self, ids: Sequence[str], start_ms: int, end_ms: int, limit: int
    ) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self.audit
            if (ids and r["audit_id"] in {f"open311:{i}" for i in ids})
            or (not ids and start_ms <= r["accepted_at"] <= end_ms)
        ]
        return rows[:limit]


class RecordingWriter:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(v) for t, _, v in self.sent if t == topic]


def case_row(case_id: int, status: str, department: str = "municipal", **extra: Any) -> dict:
    row = {
        "case_id": case_id,
        "category_key": "C0102",
        "department": department,
        "status": status,
        "street": "410611001",
        "grid_code": "410611001001001",
        "lat": 35.7,
        "lon": 114.27,
        "urgent": 1,
        "rework_count": 0,
        "opened_at": NOW_MS - 3_600_000,
        "dispatched_at": NOW_MS - 3_000_000,
        "deadline": NOW_MS + 3_600_000,
        "signed_at": 0,
        "handled_at": 0,
        "closed_at": 0,
        "voided_at": 0,
    }
    row.update(extra)
    return row


def keys_file(path: Path) -> Path:
    lines = []
    for key_id, (secret, scopes) in KEYS.items():
        digest = hashlib.sha256(secret.encode()).hexdigest()
        quoted = ", ".join(f'"{s}"' for s in scopes)
        lines.append(f'[[keys]]\nid = "{key_id}"\nsha256 = "{digest}"\nscopes = [{quoted}]\n')
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Client:
    """Calls the Api as the web server would, with a key by name."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: bytes = b"",
        content_type: str = "",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = {k.lower(): v for k, v in (headers or {}).items()}
        if key is not None:
            all_headers["x-api-key"] = KEYS[key][0] if key in KEYS else key
        if content_type:
            all_headers["content-type"] = content_type
        request = Request(method, path, query or {}, all_headers, body)
        return await self.api.handle(request)


@pytest.fixture
def reads() -> FakeReads:
    return FakeReads()


@pytest.fixture
def writer() -> RecordingWriter:
    return RecordingWriter()


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return Settings().replace(api_keys_file=str(keys_file(tmp_path / "keys.toml")))


@pytest.fixture
def client(api_settings: Settings, reads: FakeReads, writer: RecordingWriter) -> Client:
    api = build_api(api_settings, writer, reads)
    api.clock = lambda: NOW_MS / 1000
    return Client(api)
