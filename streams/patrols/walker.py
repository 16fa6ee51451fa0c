"""A closed patrol session walked over the district's streets: its record and its visits.

The whole session goes through :func:`kernels.walk_tracks` as one track, so a visit is
never split by the batches its pings came in. Street id and name come from the street
network, the unit grid (``grid_code``) is the one holding the visit's middle ping, and the
inspector's level and department come from the roster. Records (docs/contracts.md):

* ``patrol.sessions``: the session with its visits (:meth:`SessionWalker.walk`);
* ``patrol.visits``: one row per visit, ``visit_id = f"{session_id}:{k}"`` with ``k`` the
  visit's index in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels import GridSpec, SegmentIndex, WalkParams, Walks, walk_tracks
from kernels.grid import project
from kernels.unitgrid import UnitGridIndex
from streams.patrols.sessions import ClosedSession
from streams.reference.geo import District
from streams.reference.inspectors import InspectorRoster
from streams.reference.streets import StreetNetwork, walk_params
from streams.settings import Settings

__all__ = ["SessionWalker", "visit_rows"]


@dataclass(frozen=True, eq=False)
class SessionWalker:
    index: SegmentIndex
    params: WalkParams
    spec: GridSpec
    streets: dict[int, tuple[str, str]]  # segment id -> (street id, street name)
    roster: InspectorRoster
    grids: UnitGridIndex | None

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionWalker:
        district = District.load(settings.pipeline.district)
        network = StreetNetwork.for_district(district)
        spec = GridSpec(*district.origin)
        path = district.unit_grids_path
        return cls(
            network.index(spec, settings.walk.buffer_m),
            walk_params(settings.walk),
            spec,
            {s.segment_id: (s.street_id, s.street_name) for s in network.segments},
            InspectorRoster.load(settings.patrol.roster_file),
            UnitGridIndex.from_geojson(path, spec) if path is not None else None,
        )

    def walks(self, points: np.ndarray) -> Walks:
        """``walk_tracks`` over the session's points as one track."""
        x, y = project(points["lat"], points["lon"], self.spec)
        track = np.zeros(len(points), dtype=np.int64)
        return walk_tracks(self.index, self.params, track, points["t_ms"], x, y)

    def walk(self, s: ClosedSession) -> dict[str, Any]:
        """The ``patrol.sessions`` record of ``s``."""
        pts = s.points
        w = self.walks(pts)
        who = self.roster.inspectors.get(s.inspector_id)
        visits = [self._visit(w, pts, v) for v in range(w.n_visits)]
        return {
            "session_id": s.session_id,
            "inspector_id": s.inspector_id,
            "device_id": s.device_id,
            "level": who.level if who else "",
            "department": who.department if who else "",
            "started_at_ms": int(pts["t_ms"][0]),
            "ended_at_ms": int(pts["t_ms"][-1]),
            "points": len(pts),
            "matched_points": int(np.count_nonzero(w.segment_id >= 0)),
            "metres": float(w.visit_metres.sum()),
            "visits": visits,
        }

    def _visit(self, w: Walks, pts: np.ndarray, v: int) -> dict[str, Any]:
        members = np.flatnonzero(w.visit == v)
        middle = members[len(members) // 2]
        segment = int(w.visit_segment_id[v])
        street_id, street_name = self.streets[segment]
        return {
            "segment_id": segment,
            "street_id": street_id,
            "street_name": street_name,
            "grid_code": self._grid(float(pts["lat"][middle]), float(pts["lon"][middle])),
            "started_at_ms": int(w.visit_t_start_ms[v]),
            "ended_at_ms": int(w.visit_t_end_ms[v]),
            "metres": float(w.visit_metres[v]),
            "points": int(w.visit_points[v]),
        }

    def _grid(self, lat: float, lon: float) -> str:
        if self.grids is None:
            return ""
        code = int(self.grids.lookup([lat], [lon])[0])
        return str(code) if code else ""


def visit_rows(session: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``patrol.visits`` records of a ``patrol.sessions`` record."""
    head = {k: session[k] for k in ("session_id", "inspector_id", "level", "department")}
    return [
        {"visit_id": f"{session['session_id']}:{k}", **head, **visit}
        for k, visit in enumerate(session["visits"])
    ]
