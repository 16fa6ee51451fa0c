"""Bad pings and bad track batches: how the simulator damages them, named by the reason intake
must give (streams/intake/tracks.py), as :mod:`streams.simulator.bad` does for reports.

Two kinds need a good ping before them, which :class:`~streams.simulator.track_feed.TrackFeed`
checks: a GPS jump is judged against the device's previous accepted ping, so it needs one
less than :data:`JUMP_MAX_GAP_MS` before; a duplicate repeats the previous accepted ping.
"""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

import orjson

from streams.contracts.reasons import Reason
from streams.simulator.bad import ELSEWHERE, UNPARSEABLE_TIMES
from streams.simulator.district import District
from streams.simulator.geo import to_declared_crs

__all__ = [
    "BATCH_KINDS",
    "JUMP_MAX_GAP_MS",
    "POINT_KINDS",
    "KindCycle",
    "damage_batch",
    "damage_point",
    "jump_position",
]

# damages of one ping: only that ping is dead-lettered
POINT_KINDS: tuple[Reason, ...] = (
    Reason.MISSING_FIELD,
    Reason.WRONG_TYPE,
    Reason.BAD_TIME,
    Reason.BAD_COORDINATES,
    Reason.OUT_OF_DISTRICT,
    Reason.FUTURE_TIME,
    Reason.STALE_TIME,
    Reason.SPEED_JUMP,
    Reason.DUPLICATE_POINT,  # the previous ping sent again at the head of the next batch
)
# damages of a whole batch: one dead letter for all its pings; DUPLICATE_POINT here is a
# good batch uploaded twice (a retry after a lost acknowledgement): each ping of the copy
# is its own dead letter
BATCH_KINDS: tuple[Reason, ...] = (
    Reason.MALFORMED_JSON,
    Reason.NOT_AN_OBJECT,
    Reason.MISSING_FIELD,
    Reason.WRONG_TYPE,
    Reason.UNKNOWN_CRS,
    Reason.UNKNOWN_INSPECTOR,
    Reason.DUPLICATE_POINT,
)
JUMP_MAX_GAP_MS = 60_000  # half the intake's default jump window (120 s)
_HOUR_MS, _DAY_MS = 3_600_000, 86_400_000


class KindCycle:
    """Kinds in shuffled rounds, so that every kind shows up once per round."""

    def __init__(self, kinds: tuple[Reason, ...], rng: random.Random) -> None:
        self.kinds, self.rng = kinds, rng
        self.round: list[Reason] = []

    def peek(self) -> Reason:
        if not self.round:
            fresh = list(self.kinds)
            self.rng.shuffle(fresh)
            self.round = fresh[::-1]
        return self.round[-1]

    def pop(self) -> Reason:
        kind = self.peek()
        self.round.pop()
        return kind


def damage_point(
    kind: Reason, point: dict[str, Any], crs: str, t_ms: int, epoch: bool, rng: random.Random
) -> str:
    """Damage ``point`` (a good ping taken at ``t_ms``) in place as ``kind``; the detail."""
    if kind is Reason.MISSING_FIELD:
        name = rng.choice(("ts", "lat", "lon"))
        del point[name]
        return f"dropped {name}"
    if kind is Reason.WRONG_TYPE:
        point["lat"] = str(point["lat"])
        return "lat is a string"
    if kind is Reason.BAD_TIME:
        point["ts"] = rng.choice(UNPARSEABLE_TIMES)
        return "ts unparseable"
    if kind is Reason.BAD_COORDINATES:
        lat, lon = point["lat"], point["lon"]
        point["lat"], point["lon"] = rng.choice(((lon, lat), (0.0, 0.0), (lat + 60.0, lon)))
        return f"impossible position {point['lat']},{point['lon']}"
    if kind is Reason.OUT_OF_DISTRICT:
        lat, lon = to_declared_crs(crs, *rng.choice(ELSEWHERE))
        point["lat"], point["lon"] = round(lat, 6), round(lon, 6)
        return f"position {lat:.4f},{lon:.4f} outside the district"
    if kind in (Reason.FUTURE_TIME, Reason.STALE_TIME):
        ahead = kind is Reason.FUTURE_TIME
        shift = int(rng.uniform(1, 48) * _HOUR_MS) if ahead else -int(rng.uniform(4, 400) * _DAY_MS)
        point["ts"] = _ts(t_ms + shift, epoch, point["ts"])
        return f"terminal clock {shift / _HOUR_MS:+.1f} h off"
    raise ValueError(f"{kind} is not a damage of a single ping")


def _ts(ms: int, epoch: bool, like: Any) -> Any:
    """``ms`` written as the terminal writes times: epoch ms, or ISO 8601 in ``like``'s zone."""
    if epoch:
        return ms
    zone = datetime.fromisoformat(like).tzinfo
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")


def jump_position(
    district: District, x: float, y: float, gap_ms: int, rng: random.Random
) -> tuple[float, float, float]:
    """A fix taken at ``(x, y)`` (metres) thrown far off (a multipath or cell-tower fix):
    WGS84 (lat, lon) and a small claimed accuracy. From a ping ``gap_ms`` before, that is
    well over any walking or cycling speed even net of both pings' accuracy (at most 60 m
    each). Thrown towards the district's centre, so it stays inside the district."""
    distance = max(600.0, 20.0 * gap_ms / 1000 + 200.0)
    angle = math.atan2(-y, -x) + rng.uniform(-0.6, 0.6)
    lat, lon = district.lat_lon(x + distance * math.cos(angle), y + distance * math.sin(angle))
    return lat, lon, round(rng.uniform(5.0, 10.0), 1)


def damage_batch(kind: Reason, batch: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    """The bytes of ``batch`` (a good one, changed in place) damaged as ``kind``."""
    if kind is Reason.MALFORMED_JSON:
        text = orjson.dumps(batch, option=orjson.OPT_INDENT_2).decode("utf-8")
        cut = int(len(text) * rng.uniform(0.4, 0.9))
        return text[:cut].encode("utf-8"), f"JSON truncated at {cut} chars"
    if kind is Reason.NOT_AN_OBJECT:
        return b"[" + orjson.dumps(batch) + b"]", "JSON array around the batch"
    if kind is Reason.MISSING_FIELD:
        name = rng.choice(("device_id", "inspector_id", "crs", "points"))
        del batch[name]
        detail = f"dropped {name}"
    elif kind is Reason.WRONG_TYPE:
        if rng.random() < 0.5:
            batch["points"] = {str(k): p for k, p in enumerate(batch["points"])}
            detail = "points is an object"
        else:
            batch["inspector_id"] = int(batch["inspector_id"].rpartition("-")[2])
            detail = "inspector_id is a number"
    elif kind is Reason.UNKNOWN_CRS:
        batch["crs"] = rng.choice(("cgcs2000", "epsg:3857", "utm50n"))
        detail = f"crs {batch['crs']}"
    elif kind is Reason.UNKNOWN_INSPECTOR:
        batch["inspector_id"] = f"INS-{rng.randint(900, 999)}"  # a terminal not handed back
        detail = f"inspector {batch['inspector_id']} not in the roster"
    else:
        raise ValueError(f"{kind} is not a damage of a whole batch")
    return orjson.dumps(batch), detail
