"""A small HTTP client (urllib) for the api integration tests, and their keys file."""

from __future__ import annotations

import csv
import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.reference.supervisors import default_roster_path

__all__ = ["DEMO_KEYS", "Answer", "Http", "write_keys"]

DEPARTMENTS = ("municipal", "landscaping", "sanitation", "enforcement")


def _supervisors() -> list[str]:
    with default_roster_path().open(encoding="utf-8") as fh:
        return sorted({row["supervisor_id"] for row in csv.DictReader(fh)})


def demo_keys() -> dict[str, tuple[str, list[str]]]:
    """key id -> (secret, scopes): the platform, a reader, each desk, every supervisor."""
    keys = {
        "hotline": ("it-hotline-key", ["open311:write", "open311:read"]),
        "reader": ("it-reader-key", ["open311:read"]),
        "supervisors": ("it-supervisors-key", [f"verify:{s}" for s in _supervisors()]),
        "operators": ("it-operators-key", ["board:read"]),
    }
    for d in DEPARTMENTS:
        keys[d] = (f"it-{d}-key", [f"desk:{d}"])
    return keys


DEMO_KEYS = demo_keys()


def write_keys(path: Path) -> Path:
    entries = []
    for key_id, (secret, scopes) in DEMO_KEYS.items():
        quoted = ", ".join(f'"{s}"' for s in scopes)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        entries.append(f'[[keys]]\nid = "{key_id}"\nsha256 = "{digest}"\nscopes = [{quoted}]\n')
    path.write_text("\n".join(entries), encoding="utf-8")
    return path


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return orjson.loads(self.body)


class Http:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["X-Api-Key"] = DEMO_KEYS[key][0] if key in DEMO_KEYS else key
        if body is not None:
            all_headers["Content-Type"] = content_type
        request = urllib.request.Request(
            self.base + path, data=body, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return Answer(r.status, r.read(), dict(r.headers))
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.read(), dict(err.headers))

    def healthy(self) -> bool:
        try:
            return self.call("GET", "/health").status == 200
        except OSError:
            return False
