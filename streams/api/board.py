"""The case board (``/board``): server-rendered HTML for the centre's operators, no
JavaScript. Open cases by department and street, overdue and escalated first; a map of the
district's streets (inline SVG) with the open cases on it; a case's whole history."""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from streams.contracts.sources import Source
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork

__all__ = ["BoardRenderer"]

_WIDTH = 900.0  # of the map, in SVG units; the height follows the district's shape
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:0 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:left}th{background:#f2f2f2}tr.overdue td{background:#fde2e1}
tr.escalated td{background:#fff1d6}.map{border:1px solid #ccc;background:#fbfbf8}
.streets{fill:none;stroke:#9aa;stroke-width:1.2}.case{stroke:#fff;stroke-width:1}
.c-overdue{fill:#d62728}.c-escalated{fill:#ff7f0e}.c-open{fill:#1f77b4}
.muted{color:#777}img{max-width:240px;margin:4px;border:1px solid #ccc}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>{_e(title)}'
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _table(headers: Sequence[str], rows: Iterable[tuple[str, Sequence[str]]]) -> str:
    """Rows as ``(css class, cells)``; cells are HTML already."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{css}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for css, cells in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _left(seconds: int | None) -> str:
    """Time left as h:mm, in days and hours beyond two days; negative when overdue."""
    if seconds is None:
        return '<span class="muted">paused</span>'
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds >= 2 * 86400:
        return f"{sign}{seconds // 86400}d {seconds % 86400 // 3600}h"
    return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}"


def _kind(view: Mapping[str, Any]) -> str:
    return "overdue" if view["overdue"] else "escalated" if view["escalations"] else "open"


class _Frame:
    """A lat/lon box drawn _WIDTH wide, north up, a metre as long both ways."""

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        lats, lons = [p[0] for p in points], [p[1] for p in points]
        pad_lat = max(1e-3, (max(lats) - min(lats)) * 0.05)
        pad_lon = max(1e-3, (max(lons) - min(lons)) * 0.05)
        self.lat_max, self.lon_min = max(lats) + pad_lat, min(lons) - pad_lon
        span_lon = max(lons) + pad_lon - self.lon_min
        self.kx = _WIDTH / span_lon
        self.ky = self.kx / math.cos(math.radians(sum(lats) / len(lats)))
        self.height = (self.lat_max - (min(lats) - pad_lat)) * self.ky

    def xy(self, lat: float, lon: float) -> str:
        return f"{(lon - self.lon_min) * self.kx:.1f} {(self.lat_max - lat) * self.ky:.1f}"


def _path(frame: _Frame, lines: Sequence[Sequence[tuple[float, float]]]) -> str:
    return " ".join("M" + " L".join(frame.xy(*p) for p in line) for line in lines)


class BoardRenderer:
    """Renders the board pages."""

    def __init__(self, district: District, streets: StreetNetwork | None) -> None:
        """``streets``: None for a district without a street network file (cases only)."""
        self.district, self.zone = district, district.timezone
        self.lines: dict[str, list[tuple[tuple[float, float], ...]]] = {}  # (lat, lon)s
        for seg in streets.segments if streets is not None else ():
            self.lines.setdefault(seg.street_id, []).append(
                tuple((lat, lon) for lon, lat in seg.coords)
            )
        self.names = streets.streets() if streets is not None else {}
        self.street_points = [p for lines in self.lines.values() for line in lines for p in line]

    def local(self, ms: int | None) -> str:
        if not ms:
            return ""
        return datetime.fromtimestamp(ms / 1000, self.zone).strftime("%Y-%m-%d %H:%M")

    def board(self, views: Sequence[Mapping[str, Any]], now_ms: int) -> str:
        """``views``: :func:`streams.api.desk.case_view` dicts plus ``department``, in
        board order (overdue, escalated, time left)."""
        per_dept: Counter[tuple[str, str]] = Counter()
        per_street: Counter[tuple[str, str, str]] = Counter()
        for v in views:
            kinds = ["open"] + ["overdue"] * v["overdue"] + ["escalated"] * bool(v["escalations"])
            for mark in kinds:
                per_dept[(v["department"], mark)] += 1
                per_street[(v["department"], v["street"] or "—", mark)] += 1
        departments = sorted({v["department"] for v in views})
        marks = ("open", "overdue", "escalated")  # a case may be overdue and escalated
        summary = _table(
            ["department", *marks],
            (("", [_e(d), *(str(per_dept[(d, m)]) for m in marks)]) for d in departments),
        )
        streets = sorted({(d, st) for d, st, _ in per_street})
        by_street = _table(
            ["department", "street", *marks],
            (
                ("", [_e(d), _e(st), *(str(per_street[(d, st, m)]) for m in marks)])
                for d, st in streets
            ),
        )
        body = (
            f"<h1>Case board · {_e(self.district.name)}</h1>"
            f'<p class="muted">{len(views)} open cases, as of {self.local(now_ms)}</p>'
            f"<h2>By department</h2>{summary}<h2>Map</h2>{self.map(views)}"
            f"<h2>Open cases</h2>{self.cases_table(views)}"
            f"<h2>By department and street</h2>{by_street}"
        )
        return _page("Case board", body)

    def map(self, views: Sequence[Mapping[str, Any]]) -> str:
        """The streets and the open cases, framed to show both."""
        cases = [(float(v["lat"]), float(v["lon"])) for v in views]
        d = self.district
        frame = _Frame(
            self.street_points + cases or [(d.lat_min, d.lon_min), (d.lat_max, d.lon_max)]
        )
        streets = "".join(
            f'<path class="streets" d="{_path(frame, lines)}">'
            f"<title>{_e(self.names[street])}</title></path>"
            for street, lines in self.lines.items()
        )
        dots = []
        for v, (lat, lon) in zip(views, cases, strict=True):
            x, y = frame.xy(lat, lon).split()
            dots.append(
                f'<a href="/board/cases/{v["case_id"]}"><circle class="case c-{_kind(v)}" '
                f'cx="{x}" cy="{y}" r="6"><title>case {v["case_id"]} '
                f"{_e(v['category_key'])} {_e(v['status'])}</title></circle></a>"
            )
        return (
            f'<svg class="map" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH:.0f}" '
            f'height="{frame.height:.0f}" viewBox="0 0 {_WIDTH:.0f} {frame.height:.0f}">'
            f"{streets}{''.join(dots)}</svg>"
        )

    def cases_table(self, views: Sequence[Mapping[str, Any]]) -> str:
        rows = (
            (
                _kind(v),
                [
                    f'<a href="/board/cases/{v["case_id"]}">{v["case_id"]}</a>',
                    _e(v["department"]),
                    _e(v["street"]),
                    _e(v["category_key"]),
                    _e(v["status"]),
                    self.local(v["deadline_ms"]),
                    _left(v["time_left_s"]),
                    _e(", ".join(e["level"] for e in v["escalations"])),
                ],
            )
            for v in views
        )
        headers = [
            "case",
            "department",
            "street",
            "category",
            "status",
            "deadline",
            "time left",
            "escalations",
        ]
        return _table(headers, rows)

    def case(
        self,
        case: Mapping[str, Any],
        events: Sequence[Mapping[str, Any]],
        stages: Sequence[Mapping[str, Any]],
        audit: Sequence[Mapping[str, Any]],
    ) -> str:
        """A case's whole history: facts, reports from every channel, stages, photos."""
        photos = (
            "".join(
                f'<a href="{_e(u)}"><img src="{_e(u)}" alt="{_e(what)}"></a>'
                for what, u in _photos(audit)
            )
            or '<p class="muted">no photos</p>'
        )
        body = (
            f'<p><a href="/board">← board</a></p><h1>Case {_e(case["case_id"])}</h1>'
            f"{self._case_facts(case)}<h2>Reports ({len(events)})</h2>{self._reports(events)}"
            f"<h2>Stages</h2>{self._stages(stages)}<h2>Photos</h2>{photos}"
        )
        return _page(f"Case {case['case_id']}", body)

    def _case_facts(self, case: Mapping[str, Any]) -> str:
        headers = ["case", "category", "department", "status", "street", "grid", "opened"]
        cells = [
            _e(case[name])
            for name in ("case_id", "category_key", "department", "status", "street", "grid_code")
        ]
        cells += [self.local(case["opened_at"]), self.local(case["deadline"])]
        return _table([*headers, "deadline"], [("", cells)])

    def _reports(self, events: Sequence[Mapping[str, Any]]) -> str:
        return _table(
            ["time", "channel", "reference", "reporter / device", "address", "text"],
            (
                (
                    "",
                    [
                        self.local(e["event_time"]),
                        _e(Source(int(e["source"])).label),
                        _e(e["source_ref"]),
                        _e(e["reporter"] or e["device_id"]),
                        _e(e["address"]),
                        _e(e["text"]),
                    ],
                )
                for e in events
            ),
        )

    def _stages(self, stages: Sequence[Mapping[str, Any]]) -> str:
        return _table(
            ["#", "time", "step", "to", "by", "department", "note"],
            (
                (
                    "",
                    [
                        _e(s["seq"]),
                        self.local(s["ts"]),
                        _e(s["action"]),
                        _e(s["to_status"]),
                        _e(s["actor"]),
                        _e(s["department"]),
                        _e(s["note"] or s["result"]),
                    ],
                )
                for s in stages
            ),
        )


def _photos(audit: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(what, url) of the photos the api took in about a case, in time order."""
    out: list[tuple[str, str]] = []
    for row in audit:
        out.extend((str(row["action"]), str(u)) for u in orjson.loads(row["media_urls"]))
        if row["action"] == "open311_request":
            media = orjson.loads(row["record"]).get("media_url")
            if media:
                out.append(("open311_request", str(media)))
    return out
