"""Patrol sessions: one terminal's pings with no silence longer than the session gap.

A :class:`SessionBook` holds the open sessions of one raw partition of ``raw.patrol_track``
(the feed is keyed by device, so a device's pings all come through one partition), the
partition's clock (the latest batch arrival it has seen) and the highest raw offset it has
applied. Pings (``TrackPoints`` from track intake) are added in the partition's order:

* a ping whose raw origin the book has already applied is a redelivery (a worker that died
  before committing its offsets) and is dropped: adding the same batches again changes
  nothing;
* a device's ping more than the gap after the last ping of its newest open session starts a
  new session (the old one is then due to close); any other ping joins that session, also
  one earlier than its last ping (a delayed upload). A ping behind a session already closed
  is never lost: it joins the device's open session or starts a new one; the closed session
  is not reopened (its record is final);
* a session is **due** when a newer session of its device exists, or when the clock passes
  its last ping + the gap.

``session_id = f"{device_id}:{t_ms}"`` of the ping that opened the session. A session's
points are kept as chunks, one per add and device, which is also what goes to the
changelog (:meth:`SessionBook.records` of a change, :meth:`SessionBook.from_records`):
writing a batch costs its own pings, not the session's. Keys:

* ``c/<device>/<gen>/<k>``: chunk ``k`` of the device's session number ``gen``; the value
  is a JSON head line (session id, inspector) and the raw ``POINT_DTYPE`` bytes;
* ``d/<device>``: the device's last closed session (its ``gen``; chunks of that or an
  older generation are stale);
* ``m``: the clock and the highest raw offset applied.

The state is written after the outputs it depends on are on the broker, so a restart
either finds a batch applied (and drops its redelivery) or not (and applies it again).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import orjson

from streams.contracts.tracks import POINT_DTYPE, TrackPoints

__all__ = ["ClosedSession", "OpenSession", "SessionBook", "StateRecord", "session_id"]

StateRecord = tuple[bytes, bytes | None]  # changelog key, value (None: a tombstone)
_MARK = b"m"


def session_id(device_id: str, t_ms: int) -> str:
    return f"{device_id}:{t_ms}"


@dataclass
class OpenSession:
    gen: int
    session_id: str
    device_id: str
    inspector_id: str
    chunks: list[np.ndarray] = field(default_factory=list)  # POINT_DTYPE each
    last_t_ms: int = 0

    def add(self, chunk: np.ndarray) -> bytes:
        """Take ``chunk`` in; its changelog key."""
        key = f"c/{self.device_id}/{self.gen}/{len(self.chunks)}".encode()
        self.chunks.append(chunk)
        self.last_t_ms = max(self.last_t_ms, int(chunk["t_ms"].max()))
        return key

    def chunk_value(self, chunk: np.ndarray) -> bytes:
        head = orjson.dumps({"session_id": self.session_id, "inspector_id": self.inspector_id})
        return head + b"\n" + chunk.tobytes()

    def chunk_keys(self) -> list[bytes]:
        return [f"c/{self.device_id}/{self.gen}/{k}".encode() for k in range(len(self.chunks))]


@dataclass(frozen=True)
class ClosedSession:
    """A session to walk: its points sorted by (time, raw origin)."""

    gen: int
    session_id: str
    device_id: str
    inspector_id: str
    points: np.ndarray  # POINT_DTYPE

    @classmethod
    def of(cls, s: OpenSession) -> ClosedSession:
        pts = np.concatenate(s.chunks)
        order = np.lexsort(
            (pts["origin_point"], pts["origin_seq"], pts["origin_partition"], pts["t_ms"])
        )
        return cls(s.gen, s.session_id, s.device_id, s.inspector_id, pts[order])


class SessionBook:
    """The open sessions of one raw partition (module doc)."""

    def __init__(self, gap_ms: int) -> None:
        if gap_ms <= 0:
            raise ValueError(f"the session gap must be > 0 ms, got {gap_ms}")
        self.gap_ms = gap_ms
        self.open: dict[str, list[OpenSession]] = {}  # device -> open sessions, oldest first
        self.next_gen: dict[str, int] = {}
        self.clock_ms = 0
        self.applied = 0  # highest raw origin_seq (offset + 1) applied

    # -- adding pings ----------------------------------------------------------------------
    def add(
        self, points: TrackPoints, arrivals_ms: Iterable[int] = (), last_seq: int = 0
    ) -> list[StateRecord]:
        """Take the pings of one chunk of raw messages (``points`` sorted by device, then
        time) whose arrivals were ``arrivals_ms`` and whose highest raw offset + 1 is
        ``last_seq``; the changelog records of the change."""
        pts = points.points
        fresh = (pts["origin_seq"] == 0) | (pts["origin_seq"] > self.applied)
        records: list[StateRecord] = []
        devices = points.device_id
        bounds: np.ndarray = np.flatnonzero(devices[1:] != devices[:-1]) + 1
        for run in np.split(np.arange(len(pts)), bounds):
            run = run[fresh[run]]
            if len(run):
                device, inspector = str(devices[run[0]]), str(points.inspector_id[run[0]])
                records.extend(self._add_device(device, inspector, pts[run]))
        seqs = pts["origin_seq"]
        self.applied = max(self.applied, last_seq, int(seqs.max()) if len(seqs) else 0)
        self.clock_ms = max(self.clock_ms, *arrivals_ms, 0)
        records.append(self.mark())
        return records

    def _add_device(self, device: str, inspector: str, pts: np.ndarray) -> list[StateRecord]:
        sessions = self.open.setdefault(device, [])
        records: list[StateRecord] = []
        start = 0
        for i in range(len(pts) + 1):
            current = sessions[-1] if sessions else None
            at_end = i == len(pts)
            if (
                not at_end
                and current is not None
                and int(pts["t_ms"][i]) - current.last_t_ms <= self.gap_ms
            ):
                current.last_t_ms = max(current.last_t_ms, int(pts["t_ms"][i]))
                continue
            if i > start and current is not None:  # pts[start:i] belong to ``current``
                chunk = pts[start:i].copy()
                records.append((current.add(chunk), current.chunk_value(chunk)))
            if at_end:
                break
            gen = self.next_gen.get(device, 0)
            self.next_gen[device] = gen + 1
            opened = OpenSession(gen, session_id(device, int(pts["t_ms"][i])), device, inspector)
            opened.last_t_ms = int(pts["t_ms"][i])
            sessions.append(opened)
            start = i
        return records

    # -- closing ---------------------------------------------------------------------------
    def due(self) -> list[OpenSession]:
        """The sessions to close now: superseded ones, and those the clock passed."""
        out = []
        for sessions in self.open.values():
            out.extend(sessions[:-1])
            if sessions and self.clock_ms > sessions[-1].last_t_ms + self.gap_ms:
                out.append(sessions[-1])
        return out

    def close(self, s: OpenSession) -> list[StateRecord]:
        """Forget ``s`` (its outputs are on the broker); the changelog records saying so."""
        sessions = self.open[s.device_id]
        sessions.remove(s)
        if not sessions:
            del self.open[s.device_id]
        done = orjson.dumps({"gen": s.gen, "session_id": s.session_id})
        records: list[StateRecord] = [(f"d/{s.device_id}".encode(), done)]
        records.extend((key, None) for key in s.chunk_keys())
        return records

    def accepted(self) -> Iterator[tuple[str, np.ndarray]]:
        """Per device with an open session, the pings it holds (``POINT_DTYPE``)."""
        for device, sessions in self.open.items():
            chunks = [c for s in sessions for c in s.chunks]
            if chunks:
                yield device, np.concatenate(chunks)

    def is_applied(self, offset: int) -> bool:
        """The raw message at ``offset`` of this partition was applied already."""
        return offset + 1 <= self.applied

    def open_points(self) -> int:
        return sum(len(c) for ss in self.open.values() for s in ss for c in s.chunks)

    def mark(self) -> StateRecord:
        return _MARK, orjson.dumps({"clock_ms": self.clock_ms, "applied": self.applied})

    # -- the changelog -----------------------------------------------------------------------
    @classmethod
    def from_records(cls, gap_ms: int, latest: Mapping[bytes, bytes | None]) -> SessionBook:
        """The book a changelog partition describes (``latest``: the last value per key)."""
        book = cls(gap_ms)
        done: dict[str, int] = {}
        chunks: list[tuple[str, int, int, bytes]] = []
        for key, value in latest.items():
            if value is None:
                continue
            if key == _MARK:
                mark = orjson.loads(value)
                book.clock_ms, book.applied = int(mark["clock_ms"]), int(mark["applied"])
            elif key.startswith(b"d/"):
                done[key[2:].decode()] = int(orjson.loads(value)["gen"])
            elif key.startswith(b"c/"):
                device, gen_text, k_text = key[2:].decode().rsplit("/", 2)
                chunks.append((device, int(gen_text), int(k_text), value))
        for device, done_gen in done.items():
            book.next_gen[device] = done_gen + 1
        for device, gen, _k, value in sorted(chunks):
            book._restore(device, gen, value, done.get(device, -1))
        return book

    def _restore(self, device: str, gen: int, value: bytes, done_gen: int) -> None:
        if gen <= done_gen:  # a chunk of a closed session whose tombstone was not written
            return
        head, _, raw = value.partition(b"\n")
        meta = orjson.loads(head)
        chunk = np.frombuffer(raw, dtype=POINT_DTYPE).copy()
        sessions = self.open.setdefault(device, [])
        if not sessions or sessions[-1].gen != gen:
            sessions.append(OpenSession(gen, meta["session_id"], device, meta["inspector_id"]))
        sessions[-1].add(chunk)
        self.next_gen[device] = max(self.next_gen.get(device, 0), gen + 1)
        if len(chunk):
            self.applied = max(self.applied, int(chunk["origin_seq"].max()))
