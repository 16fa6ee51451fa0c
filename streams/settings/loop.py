"""The settings of the case loop and the doors: dispatch, verification, escalation, the
foot patrol's walks, roster and position pings, and the api (the centre's HTTP doors:
Open311 and the desks). Same rules as :mod:`streams.settings.concerns`: frozen dataclasses
whose fields name their environment variable, validated at construction.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

from streams.contracts.topics import MAX_MESSAGE_BYTES
from streams.settings.codecs import FLOAT, INT, STR, choice, setting
from streams.settings.concerns import Concern

__all__ = [
    "ApiSettings",
    "DispatchSettings",
    "EscalationClock",
    "EscalationSettings",
    "PatrolSettings",
    "VerifySettings",
    "WalkSettings",
]

EscalationClock = Literal["wall", "feed"]


@dataclasses.dataclass(frozen=True, repr=False)
class DispatchSettings(Concern):
    limit_urgent_s: int = setting(10 * 60, "DISPATCH_LIMIT_URGENT_S", INT)  # open + dispatch
    limit_normal_s: int = setting(30 * 60, "DISPATCH_LIMIT_NORMAL_S", INT)
    # 退单: a department may return a case this long after its dispatch (working hours on
    # the calendar; clock hours for urgent cases, as their deadlines)
    return_limit_hours: float = setting(2.0, "DISPATCH_RETURN_LIMIT_HOURS", FLOAT)

    def check(self) -> None:
        for name in ("limit_urgent_s", "limit_normal_s"):
            self._require(getattr(self, name) >= 1, name, "must be >= 1")
        self._require(self.return_limit_hours > 0, "return_limit_hours", "must be > 0")


@dataclasses.dataclass(frozen=True, repr=False)
class VerifySettings(Concern):
    # who verifies where and when (streams/data/supervisors.csv format); empty: packaged
    roster_file: str = setting("", "SUPERVISOR_ROSTER", STR)
    # handled -> verified, clock time, by the area type of the case's street in the roster
    limit_urban_s: int = setting(3600, "VERIFY_LIMIT_URBAN_S", INT)
    limit_rural_s: int = setting(2 * 3600, "VERIFY_LIMIT_RURAL_S", INT)

    def check(self) -> None:
        for name in ("limit_urban_s", "limit_rural_s"):
            self._require(getattr(self, name) >= 1, name, "must be >= 1")


@dataclasses.dataclass(frozen=True, repr=False)
class EscalationSettings(Concern):
    # the escalation ladder (streams/cases/escalation.py), as shares of a case's time limit
    remind_share: float = setting(0.8, "ESCALATION_REMIND_SHARE", FLOAT)  # 催办
    department_head_overdue: float = setting(0.5, "ESCALATION_DEPARTMENT_HEAD_OVERDUE", FLOAT)
    district_leader_overdue: float = setting(1.0, "ESCALATION_DISTRICT_LEADER_OVERDUE", FLOAT)
    # who ticks the centre's clock (streams/contracts/clock.py): the escalation workers with
    # the wall clock (live), or whoever replays history once the loop has answered (feed)
    clock: EscalationClock = setting("wall", "ESCALATION_CLOCK", choice(*get_args(EscalationClock)))
    tick_s: float = setting(60.0, "ESCALATION_TICK_S", FLOAT)  # wall clock: between ticks

    def check(self) -> None:
        self._require(0 < self.remind_share <= 1, "remind_share", "not in (0, 1]")
        self._require(self.tick_s >= 1, "tick_s", "must be >= 1")
        self._require(self.department_head_overdue > 0, "department_head_overdue", "must be > 0")
        self._require(
            self.district_leader_overdue > self.department_head_overdue,
            "district_leader_overdue",
            "must be above CITYSTREAM_ESCALATION_DEPARTMENT_HEAD_OVERDUE",
        )


@dataclasses.dataclass(frozen=True, repr=False)
class WalkSettings(Concern):
    """Streets walked from patrol tracks (铁脚板): the rules of ``kernels.walk``."""

    # a track point belongs to the nearest street segment within this distance: GPS error
    # in a street canyon plus half a street's width
    buffer_m: float = setting(25.0, "WALK_BUFFER_M", FLOAT)
    # a run of points on one segment is a visit when it spans min(this, min_share x the
    # segment's length) along the segment, or lasts min_dwell_s; crossing does neither
    min_along_m: float = setting(30.0, "WALK_MIN_ALONG_M", FLOAT)
    min_share: float = setting(0.5, "WALK_MIN_SHARE", FLOAT)
    min_dwell_s: int = setting(180, "WALK_MIN_DWELL_S", INT)
    # a longer silence between two points of a track ends the run (a visit is continuous)
    max_gap_s: int = setting(120, "WALK_MAX_GAP_S", INT)

    def check(self) -> None:
        self._require(0 < self.buffer_m <= 1000, "buffer_m", "must be in (0, 1000] metres")
        self._require(0 < self.min_along_m <= 10_000, "min_along_m", "must be in (0, 10000]")
        self._require(0 < self.min_share <= 1, "min_share", "must be in (0, 1]")
        for name in ("min_dwell_s", "max_gap_s"):
            self._require(1 <= getattr(self, name) <= 7 * 86400, name, "must be in [1, 604800]")


@dataclasses.dataclass(frozen=True, repr=False)
class PatrolSettings(Concern):
    """Who patrols and how their terminals' position pings are checked (铁脚板)."""

    # who patrols (streams/data/inspectors.csv format: streams/reference/inspectors.py);
    # empty: the packaged roster of the simulated district
    roster_file: str = setting("", "INSPECTOR_ROSTER", STR)
    # A ping implying more than this from its device's previous ping is a GPS jump: faster
    # than walking or cycling (e-bikes included). Checked net of both pings' accuracy.
    track_max_speed_mps: float = setting(8.0, "TRACK_MAX_SPEED_MPS", FLOAT)
    # Pings further apart than this are not compared: after a pause the terminal may have
    # been carried in a car to the next street.
    track_jump_window_s: int = setting(120, "TRACK_JUMP_WINDOW_S", INT)
    # Clock skew: a ping this far after its batch arrived (future) ...
    track_max_future_skew_s: int = setting(300, "TRACK_MAX_FUTURE_SKEW_S", INT)
    # ... or this far before it (a clock reset, a terminal offline for days) is refused.
    track_max_age_s: int = setting(3 * 86400, "TRACK_MAX_AGE_S", INT)
    # bound of intake's memory of (device, time) pairs seen, for duplicate pings
    track_seen_points: int = setting(1_000_000, "TRACK_SEEN_POINTS", INT)
    # A device silent for longer than this ends its patrol session (streams/patrols): longer
    # than a walk between two streets, shorter than the break between two shifts.
    session_gap_s: int = setting(1800, "PATROL_SESSION_GAP_S", INT)

    def check(self) -> None:
        self._require(self.track_max_speed_mps > 0, "track_max_speed_mps", "must be > 0")
        for name in ("track_jump_window_s", "track_max_future_skew_s", "track_max_age_s"):
            self._require(getattr(self, name) >= 0, name, "must be >= 0")
        self._require(self.track_seen_points >= 2, "track_seen_points", "must be >= 2")
        self._require(self.session_gap_s >= 1, "session_gap_s", "must be >= 1")


@dataclasses.dataclass(frozen=True, repr=False)
class ApiSettings(Concern):
    """The ``api`` role's HTTP server (streams/api, docs/api.md)."""

    port: int = setting(18080, "API_PORT", INT)
    bind: str = setting("127.0.0.1", "API_BIND", STR)
    # the clients' keys, hashed, with their scopes (deploy/api_keys.example.toml); empty:
    # no key is known and every request that needs one is refused (401)
    keys_file: str = setting("", "API_KEYS_FILE", STR)
    # A request body above this is refused (413) before it is parsed: an Open311 request
    # or a desk action is a few hundred bytes, photos travel as URLs.
    max_body_bytes: int = setting(64 * 1024, "API_MAX_BODY_BYTES", INT)
    # per key: a token bucket refilled at rate_per_s, holding at most burst requests
    rate_per_s: float = setting(20.0, "API_RATE_PER_S", FLOAT)
    rate_burst: int = setting(40, "API_RATE_BURST", INT)
    # how many desk idempotency keys a process remembers (the lifecycle's own update ids
    # make a retry that reaches another process or a restarted one a no-op all the same)
    idempotency_keys: int = setting(100_000, "API_IDEMPOTENCY_KEYS", INT)

    def check(self) -> None:
        self._require_port("port")
        self._require(
            1024 <= self.max_body_bytes <= MAX_MESSAGE_BYTES // 4,
            "max_body_bytes",
            f"must be in [1024, {MAX_MESSAGE_BYTES // 4}]",
        )
        self._require(self.rate_per_s > 0, "rate_per_s", "must be > 0")
        self._require(self.rate_burst >= 1, "rate_burst", "must be >= 1")
        self._require(self.idempotency_keys >= 1, "idempotency_keys", "must be >= 1")
