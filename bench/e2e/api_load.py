"""The api under load: concurrent HTTP clients posting Open311 requests and working cases
through the department desk, against a running ``api`` worker beside the pipeline.

Posters send requests at gazetteer positions with random service codes, one after another,
each on its own key. Desk clients each own a few dispatched cases and step them through
sign → hold → resume → hold ...; a client acts on a case only once the desk listing shows
the status its last action led to, as a person at a desk does, so every accepted action is
legal when the lifecycle applies it. Every answer's status and latency is recorded.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import math
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from streams.reference.data import DISTRICTS_DIR

__all__ = ["LoadResult", "gazetteer_points", "keys_toml", "run_load", "spaced", "write_keys"]

# the cycle of a desk client's case: status seen -> the action that moves it on
NEXT_ACTION = {"dispatched": "sign", "signed": "hold", "on_hold": "resume"}
AFTER = {"sign": "signed", "hold": "on_hold", "resume": "signed"}
SERVICE_CODES = ("RD-COVER", "RD-GRATE", "RD-DAMAGE", "LT-OUT", "SW-GARB", "SW-BIN", "EN-PARK")


def gazetteer_points(district: str = "qibin") -> list[tuple[str, float, float]]:
    with (DISTRICTS_DIR / f"{district}_gazetteer.csv").open(encoding="utf-8") as fh:
        return [(r["address"], float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh)]


def spaced(
    points: list[tuple[str, float, float]], n: int, metres: float
) -> list[tuple[str, float, float]]:
    """``n`` points at least ``metres`` apart (greedy, in file order)."""
    chosen: list[tuple[str, float, float]] = []
    for p in points:
        far = all(
            math.hypot((p[1] - q[1]) * 111_320, (p[2] - q[2]) * 111_320 * 0.81) >= metres
            for q in chosen
        )
        if far:
            chosen.append(p)
        if len(chosen) == n:
            return chosen
    raise ValueError(f"only {len(chosen)} points {metres} m apart")


def keys_toml(keys: dict[str, tuple[str, list[str]]]) -> str:
    """A keys file for ``{key id: (secret, scopes)}``."""
    out = []
    for key_id, (secret, scopes) in keys.items():
        quoted = ", ".join(f'"{s}"' for s in scopes)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        out.append(f'[[keys]]\nid = "{key_id}"\nsha256 = "{digest}"\nscopes = [{quoted}]\n')
    return "\n".join(out)


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    request_ids: list[str] = field(default_factory=list)  # 201 answers
    update_ids: list[str] = field(default_factory=list)  # 202 answers

    def add(self, kind: str, status: int, started: float) -> None:
        self.latencies_ms.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        self.statuses[(kind, status)] += 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, q: float, kind: str | None = None) -> float:
        values = (
            self.latencies_ms.get(kind, [])
            if kind
            else [v for vs in self.latencies_ms.values() for v in vs]
        )
        return float(np.percentile(values, q)) if values else float("nan")


async def _poster(
    session: Any,
    base: str,
    key: str,
    points: list[tuple[str, float, float]],
    deadline: float,
    result: LoadResult,
    rng: random.Random,
) -> None:
    while time.monotonic() < deadline:
        _, lat, lon = rng.choice(points)
        body = urlencode(
            {
                "api_key": key,
                "service_code": rng.choice(SERVICE_CODES),
                "lat": lat,
                "long": lon,
                "description": "load test",
            }
        )
        started = time.perf_counter()
        async with session.post(
            f"{base}/open311/v2/requests.json",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as r:
            answer = await r.json()
        result.add("open311_post", r.status, started)
        if r.status == 201:
            result.request_ids.append(answer[0]["service_request_id"])


async def _desk(
    session: Any, base: str, key: str, cases: list[int], deadline: float, result: LoadResult
) -> None:
    expected: dict[int, str] = {}
    headers = {"X-Api-Key": key}
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.get(f"{base}/desk/v1/departments/municipal/cases", headers=headers) as r:
            listing = await r.json()
        result.add("desk_list", r.status, started)
        status = {c["case_id"]: c["status"] for c in listing["cases"]}
        moved = False
        for case_id in cases:
            seen = status.get(case_id)
            if seen is None or expected.get(case_id, seen) != seen or seen not in NEXT_ACTION:
                continue
            action = NEXT_ACTION[seen]
            started = time.perf_counter()
            async with session.post(
                f"{base}/desk/v1/departments/municipal/cases/{case_id}/actions",
                json={"action": action, "note": "load test"},
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            ) as r:
                answer = await r.json()
            result.add(f"desk_{action}", r.status, started)
            if r.status == 202:
                result.update_ids.append(answer["update_id"])
                expected[case_id] = AFTER[action]
                moved = True
        if not moved:
            await asyncio.sleep(0.2)  # nothing visible yet: the listing lags a second


async def run_load(
    base: str,
    poster_keys: list[str],
    desk_keys: list[str],
    desk_cases: list[list[int]],
    seconds: float,
    points: list[tuple[str, float, float]],
    seed: int = 1,
) -> LoadResult:
    import aiohttp

    result = LoadResult()
    rng = random.Random(seed)
    limits = aiohttp.TCPConnector(limit=len(poster_keys) + len(desk_keys))
    async with aiohttp.ClientSession(connector=limits) as session:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(
                _poster(session, base, k, points, deadline, result, random.Random(rng.random()))
                for k in poster_keys
            ),
            *(
                _desk(session, base, k, c, deadline, result)
                for k, c in zip(desk_keys, desk_cases, strict=True)
            ),
        )
        result.seconds = time.monotonic() - started
    return result


def write_keys(path: Path, posters: int, desks: int) -> tuple[list[str], list[str]]:
    """A keys file with a key per client; returns (poster secrets, desk secrets)."""
    keys = {
        f"load-hotline-{i}": (f"load-hotline-{i}-key", ["open311:write"]) for i in range(posters)
    }
    keys |= {f"load-desk-{i}": (f"load-desk-{i}-key", ["desk:municipal"]) for i in range(desks)}
    keys["load-reader"] = ("load-reader-key", ["open311:read", "desk:municipal"])
    path.write_text(keys_toml(keys), encoding="utf-8")
    return (
        [keys[f"load-hotline-{i}"][0] for i in range(posters)],
        [keys[f"load-desk-{i}"][0] for i in range(desks)],
    )
