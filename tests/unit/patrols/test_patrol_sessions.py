"""Patrol sessions (streams/patrols): the book against a plain per-device reference, gaps,
redeliveries, a restart from the changelog records, and a session walked == walk_tracks."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kernels import walk_tracks
from kernels.grid import project
from streams.app.patrols_agent import Ping, apply_pings, judge_pings, restore_intake
from streams.contracts.tracks import POINT_DTYPE, TrackPoints
from streams.intake.tracks import TrackIntake
from streams.patrols import ClosedSession, SessionBook, SessionWalker, visit_rows
from streams.patrols.sessions import StateRecord
from streams.settings import Settings
from streams.simulator import Simulation, TrackRecord

GAP_MS = 1_800_000
CHUNK = 25  # raw messages per add, as the agent takes them


class Batches:
    """A day of simulated batches as intake parses them, with origins (partition 0)."""

    def __init__(self) -> None:
        sim = Simulation("ordinary", seed=4, scale=0.01, days=2, shirkers=0.1)
        self.records = [r for r in sim.feed() if isinstance(r, TrackRecord)]
        self.sim = sim

    def parsed(self, lo: int, hi: int, intake: TrackIntake) -> tuple[TrackPoints, list[int]]:
        part = self.records[lo:hi]
        res = intake.parse(
            [r.value for r in part],
            ingest_ms=[r.arrival_ms for r in part],
            origins=[(0, i) for i in range(lo, hi)],
        )
        return res.points, [r.arrival_ms for r in part]


@pytest.fixture(scope="module")
def batches() -> Batches:
    return Batches()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


def _run(
    batches: Batches,
    settings: Settings,
    book: SessionBook,
    spans: Iterable[tuple[int, int]],
    latest: dict[bytes, bytes | None] | None = None,
) -> list[ClosedSession]:
    intake = TrackIntake.from_settings(settings)
    closed: list[ClosedSession] = []
    for lo, hi in spans:
        pts, arrivals = batches.parsed(lo, hi, intake)
        records = book.add(pts, arrivals, last_seq=hi)
        for s in book.due():
            closed.append(ClosedSession.of(s))
            records += book.close(s)
        _keep(latest, records)
    return closed


def _keep(latest: dict[bytes, bytes | None] | None, records: Sequence[StateRecord]) -> None:
    if latest is not None:
        latest.update(records)


def _spans(lo: int, hi: int) -> list[tuple[int, int]]:
    return [(i, min(i + CHUNK, hi)) for i in range(lo, hi, CHUNK)]


def _flush(book: SessionBook) -> list[ClosedSession]:
    book.clock_ms += 10 * GAP_MS
    out = []
    for s in book.due():
        out.append(ClosedSession.of(s))
        book.close(s)
    return out


def _key(sessions: Iterable[ClosedSession]) -> dict[str, list[tuple[int, int, int]]]:
    return {
        s.session_id: [
            (int(p["t_ms"]), int(p["origin_seq"]), int(p["origin_point"])) for p in s.points
        ]
        for s in sessions
    }


def _reference(points: TrackPoints) -> dict[str, list[tuple[int, int, int]]]:
    """Per device, pings by time, cut where the silence exceeds the gap."""
    by_device: dict[str, list[Any]] = {}
    for dev, p in zip(points.device_id.tolist(), points.points, strict=True):
        by_device.setdefault(dev, []).append(p)
    out: dict[str, list[tuple[int, int, int]]] = {}
    for dev, pts in by_device.items():
        pts.sort(key=lambda p: (int(p["t_ms"]), int(p["origin_seq"]), int(p["origin_point"])))
        current: list[tuple[int, int, int]] = []
        for p in pts:
            row = (int(p["t_ms"]), int(p["origin_seq"]), int(p["origin_point"]))
            if current and row[0] - current[-1][0] > GAP_MS:
                out[f"{dev}:{current[0][0]}"] = current
                current = []
            current.append(row)
        out[f"{dev}:{current[0][0]}"] = current
    return out


@pytest.fixture(scope="module")
def whole(batches: Batches, settings: Settings) -> list[ClosedSession]:
    book = SessionBook(GAP_MS)
    closed = _run(batches, settings, book, _spans(0, len(batches.records)))
    return closed + _flush(book)


def test_sessions_equal_the_reference_and_the_patrols_walked(
    batches: Batches, settings: Settings, whole: list[ClosedSession]
) -> None:
    intake = TrackIntake.from_settings(settings)
    everything, _ = batches.parsed(0, len(batches.records), intake)
    assert _key(whole) == _reference(everything)
    assert len(whole) > 50
    tz = ZoneInfo(batches.sim.district.timezone)

    def day(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz).date().isoformat()

    got = Counter((s.inspector_id, day(int(s.points["t_ms"][0]))) for s in whole)
    planned = Counter(
        (p.inspector.inspector_id, p.day.isoformat()) for p in batches.sim.planned if p.walked
    )
    assert got == planned
    skipped = [p for p in batches.sim.planned if not p.walked]
    assert skipped and all(
        (p.inspector.inspector_id, p.day.isoformat()) not in got for p in skipped
    )


def test_redelivered_batches_change_nothing(
    batches: Batches, settings: Settings, whole: list[ClosedSession]
) -> None:
    n = len(batches.records)
    mixed: list[tuple[int, int]] = []
    for k, (lo, hi) in enumerate(_spans(0, n // 2)):
        mixed.append((lo, hi))
        if k % 10 == 9:  # the last 60 messages again, as after a restart
            mixed.append((max(0, hi - 60), hi))
    book = SessionBook(GAP_MS)
    closed = _run(batches, settings, book, [*mixed, *_spans(n // 2, n)])
    assert _key(closed + _flush(book)) == _key(whole)


def test_a_restart_from_the_changelog_records_changes_nothing(
    batches: Batches, settings: Settings, whole: list[ClosedSession]
) -> None:
    n = len(batches.records)
    latest: dict[bytes, bytes | None] = {}
    book = SessionBook(GAP_MS)
    cut = n // 3
    first = _run(batches, settings, book, _spans(0, cut), latest)
    assert book.open  # sessions open at the cut
    restored = SessionBook.from_records(GAP_MS, latest)
    assert restored.applied == book.applied and restored.clock_ms == book.clock_ms
    assert _key(ClosedSession.of(s) for ss in restored.open.values() for s in ss) == _key(
        ClosedSession.of(s) for ss in book.open.values() for s in ss
    )
    # the worker died before its offsets were committed: the last batches come again
    rest = _run(batches, settings, restored, _spans(cut - 60, n), latest)
    assert _key(first + rest + _flush(restored)) == _key(whole)


def _points(device: str, times_s: Sequence[int], seq0: int = 1) -> TrackPoints:
    pts = np.zeros(len(times_s), dtype=POINT_DTYPE)
    pts["t_ms"] = np.asarray(times_s, dtype=np.int64) * 1000 + 1_700_000_000_000
    pts["lat"], pts["lon"] = 35.73, 114.29
    pts["origin_seq"] = np.arange(seq0, seq0 + len(times_s))
    pts["ingest_ms"] = pts["t_ms"]
    n = len(times_s)
    return TrackPoints(pts, np.array([device] * n), np.array(["INS-001"] * n))


def test_a_silence_longer_than_the_gap_splits_and_the_clock_closes() -> None:
    book = SessionBook(GAP_MS)
    pts = _points("CGT-1", [0, 60, 1860, 3661, 3700])  # 1800 s is not more than the gap
    book.add(pts, [int(pts.points["t_ms"].max())])
    assert [s.session_id.split(":")[1] for s in book.due()] == ["1700000000000"]
    assert not any(s.gen == 1 for s in book.due())
    book.clock_ms = int(pts.points["t_ms"][-1]) + GAP_MS
    assert len(book.due()) == 1  # not passed yet
    book.clock_ms += 1
    closed = _flush(book)
    assert [len(s.points) for s in closed] == [3, 2]
    late = _points("CGT-1", [30], seq0=10)  # behind a closed session: a new one, not lost
    book.add(late, [0])
    assert [len(s.points) for s in _flush(book)] == [1]


def test_a_session_walked_is_walk_tracks_on_its_points(
    settings: Settings, whole: list[ClosedSession]
) -> None:
    walker = SessionWalker.from_settings(settings)
    visited = gridded = 0
    for s in whole[:40]:
        record = walker.walk(s)
        x, y = project(s.points["lat"], s.points["lon"], walker.spec)
        w = walk_tracks(
            walker.index, walker.params, np.zeros(len(x), dtype=np.int64), s.points["t_ms"], x, y
        )
        assert [
            (v["segment_id"], v["started_at_ms"], v["ended_at_ms"], v["points"])
            for v in record["visits"]
        ] == [
            (int(a), int(b), int(c), int(d))
            for a, b, c, d in zip(
                w.visit_segment_id,
                w.visit_t_start_ms,
                w.visit_t_end_ms,
                w.visit_points,
                strict=True,
            )
        ]
        assert record["metres"] == pytest.approx(float(w.visit_metres.sum()))
        assert record["matched_points"] == int((w.segment_id >= 0).sum())
        assert record["points"] == len(s.points)
        assert record["level"] == walker.roster[s.inspector_id].level
        rows = visit_rows(record)
        assert [r["visit_id"] for r in rows] == [f"{s.session_id}:{k}" for k in range(len(rows))]
        assert all(r["street_name"] for r in rows)
        gridded += sum(1 for r in rows if len(r["grid_code"]) in (14, 15))
        visited += len(rows)
    assert visited > 40 and gridded > 0.9 * visited


JUMP_FIRST = 1543  # the first message whose first ping is a GPS jump (seed 4)
Verdicts = dict[tuple[int, int], str]


def _judge(
    batches: Batches,
    book: SessionBook,
    intake: TrackIntake,
    spans: Iterable[tuple[int, int]],
    verdicts: Verdicts,
    latest: dict[bytes, bytes | None],
) -> None:
    """The patrols agent's steps, one chunk per span; keep the verdicts and the state."""
    for lo, hi in spans:
        pings = [
            Ping(0, i, batches.records[i].value, batches.records[i].arrival_ms)
            for i in range(lo, hi)
        ]
        fresh, res = judge_pings(intake, {0: book}, pings)
        for d in res.dead_letters:
            m = re.match(r"points\[(\d+)\]: ", d.message)
            key = (fresh[d.index].offset, int(m.group(1)) if m else -1)
            # a redelivered ping judged again would be dead-lettered twice
            verdicts[key] = "judged twice" if key in verdicts else d.reason.value
        for records in apply_pings({0: book}, fresh, res).values():
            latest.update(records)


@pytest.mark.parametrize("redelivered", [0, 7, 60])
def test_a_restart_judges_every_ping_as_the_uninterrupted_run(
    batches: Batches, settings: Settings, redelivered: int
) -> None:
    n = min(len(batches.records), JUMP_FIRST + 400)
    assert batches.records[JUMP_FIRST].truth[0].expected_reason == "speed_jump"
    truth = {
        (i, -1 if t.whole_batch else t.point): t.expected_reason
        for i, r in enumerate(batches.records[:n])
        for t in r.truth
        if t.expected_reason
    }
    straight: Verdicts = {}
    straight_book = SessionBook(GAP_MS)
    _judge(batches, straight_book, TrackIntake.from_settings(settings), _spans(0, n), straight, {})
    assert straight == truth
    latest: dict[bytes, bytes | None] = {}
    got: Verdicts = {}
    book = SessionBook(GAP_MS)
    _judge(batches, book, TrackIntake.from_settings(settings), _spans(0, JUMP_FIRST), got, latest)
    # a new process: the book from its changelog, the intake given back what it holds
    book = SessionBook.from_records(GAP_MS, latest)
    intake = TrackIntake.from_settings(settings)
    restore_intake(intake, book)
    _judge(batches, book, intake, _spans(JUMP_FIRST - redelivered, n), got, latest)
    assert got == truth
