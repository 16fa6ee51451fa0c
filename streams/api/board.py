"""The case board (``/board``): server-rendered HTML for the centre's operators, no
JavaScript. Open cases by department and street, overdue and escalated first; a map of the
district's streets (inline SVG) with the open cases on it; a case's whole history."""

from __future__ import annotations

import html
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
    if seconds is None:
        return '<span class="muted">paused</span>'
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}"


def _kind(view: Mapping[str, Any]) -> str:
    return "overdue" if view["overdue"] else "escalated" if view["escalations"] else "open"


class BoardRenderer:
    """Renders the board pages; the street map is projected once."""

    def __init__(self, district: District, streets: StreetNetwork | None) -> None:
        """``streets``: None for a district without a street network file (cases only)."""
        self.district, self.zone = district, district.timezone
        d = district
        self.scale = _WIDTH / (d.lon_max - d.lon_min)
        self.height = (d.lat_max - d.lat_min) * self.scale * 1.22  # ~1/cos(35.7°)
        paths: dict[str, list[str]] = {}
        for seg in streets.segments if streets is not None else ():
            points = " L".join(
                f"{x:.1f} {y:.1f}" for x, y in (self.xy(la, lo) for lo, la in seg.coords)
            )
            paths.setdefault(seg.street_id, []).append(f"M{points}")
        names = streets.streets() if streets is not None else {}
        self.streets_svg = "".join(
            f'<path class="streets" d="{" ".join(p)}"><title>{_e(names[s])}</title></path>'
            for s, p in paths.items()
        )

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        d = self.district
        y = (d.lat_max - lat) / (d.lat_max - d.lat_min) * self.height
        return (lon - d.lon_min) * self.scale, y

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
            per_dept[(v["department"], _kind(v))] += 1
            per_street[(v["department"], v["street"], _kind(v))] += 1
        departments = sorted({v["department"] for v in views})
        summary = _table(
            ["department", "open", "overdue", "escalated"],
            (
                (
                    "",
                    [
                        _e(d),
                        str(sum(n for (dd, _), n in per_dept.items() if dd == d)),
                        str(per_dept[(d, "overdue")]),
                        str(per_dept[(d, "escalated")]),
                    ],
                )
                for d in departments
            ),
        )
        streets = sorted({(v["department"], v["street"]) for v in views})
        by_street = _table(
            ["department", "street", "open", "overdue"],
            (
                (
                    "",
                    [
                        _e(d),
                        _e(s),
                        str(sum(per_street[(d, s, k)] for k in ("overdue", "escalated", "open"))),
                        str(per_street[(d, s, "overdue")]),
                    ],
                )
                for d, s in streets
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
        dots = []
        for v in views:
            x, y = self.xy(float(v["lat"]), float(v["lon"]))
            dots.append(
                f'<a href="/board/cases/{v["case_id"]}"><circle class="case c-{_kind(v)}" '
                f'cx="{x:.1f}" cy="{y:.1f}" r="6"><title>case {v["case_id"]} '
                f"{_e(v['category_key'])} {_e(v['status'])}</title></circle></a>"
            )
        return (
            f'<svg class="map" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH:.0f}" '
            f'height="{self.height:.0f}" viewBox="0 0 {_WIDTH:.0f} {self.height:.0f}">'
            f"{self.streets_svg}{''.join(dots)}</svg>"
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
        facts = _table(
            ["case", "category", "department", "status", "street", "grid", "opened", "deadline"],
            [
                (
                    "",
                    [
                        _e(case["case_id"]),
                        _e(case["category_key"]),
                        _e(case["department"]),
                        _e(case["status"]),
                        _e(case["street"]),
                        _e(case["grid_code"]),
                        self.local(case["opened_at"]),
                        self.local(case["deadline"]),
                    ],
                )
            ],
        )
        reports = _table(
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
        steps = _table(
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
        photos = (
            "".join(
                f'<a href="{_e(u)}"><img src="{_e(u)}" alt="{_e(what)}"></a>'
                for what, u in _photos(audit)
            )
            or '<p class="muted">no photos</p>'
        )
        body = (
            f'<p><a href="/board">← board</a></p><h1>Case {_e(case["case_id"])}</h1>{facts}'
            f"<h2>Reports ({len(events)})</h2>{reports}<h2>Stages</h2>{steps}"
            f"<h2>Photos</h2>{photos}"
        )
        return _page(f"Case {case['case_id']}", body)


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
