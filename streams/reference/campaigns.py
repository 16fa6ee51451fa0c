"""The campaign calendar (每月一主题、每月一领域): one theme and one field a month.

The data lives in ``streams/data/campaigns.csv`` (or ``CITYSTREAM_CAMPAIGNS_FILE``), one row
per campaign::

    campaign_id,theme,name_zh,name_en,categories,streets,areas,start,end,target_metric,
        target_value
    2023-08-street_vending,street_vending,占道经营整治,street vending,E0501;E0504,,,
        2023-08-01,2023-08-31,after_share_30,80

(one line each in the file).

* ``campaign_id``: stable id (letters, digits, ``-``, ``_``): the row's key in ClickHouse.
* ``theme``: the theme's name (lower case, digits, ``_``); a theme may come back in another
  month, always with the same categories (the simulator's themes are these).
* ``categories``: category keys of ``streams/data/categories.csv``, ``;``-separated.
* ``streets`` / ``areas``: where it runs: street names of the district's street network
  and/or unit codes (9-digit sub-district 街道 or 12-digit community 社区 codes, the
  prefixes of the unit-grid codes), ``;``-separated; both empty = the whole district. On
  the store a campaign's area is a set of unit grids (:func:`area_grids`).
* ``start`` / ``end``: first and last day (ISO dates, local, inclusive).
* ``target_metric`` / ``target_value``: the campaign's target, both or neither: one of
  :data:`TARGET_METRICS` and a percentage (docs/bi/kpis.md, Campaigns).

Loading refuses a bad file naming the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from kernels.unitgrid import UnitGridIndex
from streams.reference.data import DATA_DIR, read_csv_rows
from streams.reference.streets import StreetNetwork

__all__ = [
    "AREA_BUFFER_M",
    "CAMPAIGN_COLUMNS",
    "RECURRENCE_DAYS",
    "TARGET_METRICS",
    "Campaign",
    "CampaignError",
    "CampaignTable",
    "area_grids",
    "default_campaigns_path",
]

CAMPAIGN_COLUMNS = (  # the campaign file's header, in order
    "campaign_id",
    "theme",
    "name_zh",
    "name_en",
    "categories",
    "streets",
    "areas",
    "start",
    "end",
    "target_metric",
    "target_value",
)
# Lasting results (长效保持) are judged on these many days after a campaign against as many
# days before it.
RECURRENCE_DAYS: tuple[int, ...] = (30, 60, 90)
# target metric -> how the actual value must compare with the target (percentages)
TARGET_METRICS: dict[str, str] = {
    "closure_rate": ">=",
    "on_time_closure_rate": ">=",
    **{f"after_share_{n}": "<=" for n in RECURRENCE_DAYS},
}
# A problem on a street is reported at the kerb, up to about 15 m off the street's centre
# line: the grids within this distance of the line are the street's.
AREA_BUFFER_M = 20.0
_AREA_STEP_M = 10.0  # well under a unit grid's 100 m: no grid along a street is skipped
_LIST_SEP = ";"
_ID = re.compile(r"[A-Za-z0-9_-]+")
_THEME = re.compile(r"[a-z0-9_]+")
_UNIT_DIGITS = (9, 12)  # sub-district (街道), community (社区)


class CampaignError(ValueError):
    """The campaign file is invalid, or a campaign's area is not in the district."""


def default_campaigns_path() -> Path:
    return DATA_DIR / "campaigns.csv"


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: str
    theme: str
    name_zh: str
    name_en: str
    categories: tuple[str, ...]
    streets: tuple[str, ...]  # street names of the network
    areas: tuple[str, ...]  # 9- or 12-digit unit codes
    start: date
    end: date  # inclusive
    target_metric: str  # "" = no target
    target_value: float  # 0 without a target

    @property
    def whole_district(self) -> bool:
        return not self.streets and not self.areas

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def running_on(self, day: date) -> bool:
        return self.start <= day <= self.end


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(_LIST_SEP) if part.strip()]


class _RowReader:
    """Reads one row, raising :class:`CampaignError` with ``path:line``."""

    def __init__(
        self, path: Path, line: int, categories: Collection[str], streets: Collection[str] | None
    ) -> None:
        self.where, self.categories, self.streets = f"{path}:{line}", categories, streets

    def fail(self, message: str) -> CampaignError:
        return CampaignError(f"{self.where}: {message}")

    def text(self, row: dict[str, str], column: str, pattern: re.Pattern[str] | None) -> str:
        value = (row[column] or "").strip()
        if not value:
            raise self.fail(f"{column} is empty")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(f"{column} {value!r} may only hold {pattern.pattern}")
        return value

    def listed(self, row: dict[str, str], column: str) -> tuple[str, ...]:
        values = _split(row[column])
        if len(set(values)) != len(values):
            raise self.fail(f"{column} lists a value twice")
        return tuple(values)

    def scope(self, row: dict[str, str]) -> tuple[tuple[str, ...], ...]:
        categories = self.listed(row, "categories")
        if not categories:
            raise self.fail("categories is empty: a campaign targets at least one category")
        unknown = [c for c in categories if c not in self.categories]
        if unknown:
            raise self.fail(f"categories {unknown} not in the category table")
        streets, areas = self.listed(row, "streets"), self.listed(row, "areas")
        if self.streets is not None:
            missing = [s for s in streets if s not in self.streets]
            if missing:
                raise self.fail(f"street(s) {missing} not in the street network")
        for code in areas:
            if not (code.isascii() and code.isdigit() and len(code) in _UNIT_DIGITS):
                raise self.fail(
                    f"area {code!r} is not a 9-digit sub-district or 12-digit community code"
                )
        return categories, streets, areas

    def day(self, row: dict[str, str], column: str) -> date:
        value = (row[column] or "").strip()
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(f"{column} {value!r} is not a date (YYYY-MM-DD)") from None

    def target(self, row: dict[str, str]) -> tuple[str, float]:
        metric, raw = (row["target_metric"] or "").strip(), (row["target_value"] or "").strip()
        if not metric and not raw:
            return "", 0.0
        if metric not in TARGET_METRICS:
            raise self.fail(f"target_metric {metric!r} is not one of {', '.join(TARGET_METRICS)}")
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(f"target_value {raw!r} is not a number") from None
        high = 100.0 if TARGET_METRICS[metric] == ">=" else 1000.0
        if not (math.isfinite(value) and 0.0 <= value <= high):
            raise self.fail(f"target_value {raw} for {metric} is not a percentage in [0, {high:g}]")
        return metric, value

    def campaign(self, row: dict[str, str]) -> Campaign:
        campaign_id = self.text(row, "campaign_id", _ID)
        theme = self.text(row, "theme", _THEME)
        name_zh, name_en = self.text(row, "name_zh", None), self.text(row, "name_en", None)
        categories, streets, areas = self.scope(row)
        start, end = self.day(row, "start"), self.day(row, "end")
        if end < start:
            raise self.fail(f"campaign {campaign_id} ends ({end}) before it starts ({start})")
        metric, value = self.target(row)
        names = (campaign_id, theme, name_zh, name_en)
        return Campaign(*names, categories, streets, areas, start, end, metric, value)


@dataclass(frozen=True)
class CampaignTable:
    """Every campaign by id, in file order."""

    campaigns: dict[str, Campaign]
    path: Path

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        categories: Collection[str] | None = None,
        streets: Collection[str] | None = None,
    ) -> CampaignTable:
        """Read and validate a campaign file; ``None`` or ``""`` means the packaged default.

        ``categories``: the category keys campaigns may target (``None``: those of the
        packaged category table). ``streets``: the street network's names, when known, to
        refuse streets that are not in it.
        """
        if categories is None:
            from streams.reference.categories import CategoryTable

            categories = CategoryTable.load().by_key
        table_path = Path(path) if path else default_campaigns_path()
        rows = read_csv_rows(table_path, CAMPAIGN_COLUMNS, CampaignError)
        campaigns: dict[str, Campaign] = {}
        themes: dict[str, tuple[str, ...]] = {}
        for line, row in enumerate(rows, 2):
            reader = _RowReader(table_path, line, categories, streets)
            if None in row:  # csv.DictReader puts surplus cells under the key None
                raise reader.fail("more cells than columns")
            campaign = reader.campaign(row)
            if campaign.campaign_id in campaigns:
                raise reader.fail(f"campaign {campaign.campaign_id} is listed twice")
            known = themes.setdefault(campaign.theme, campaign.categories)
            if known != campaign.categories:
                raise reader.fail(
                    f"theme {campaign.theme} targets {list(known)} in an earlier row, "
                    f"here {list(campaign.categories)}"
                )
            campaigns[campaign.campaign_id] = campaign
        return cls(campaigns, table_path)  # empty: a district that runs no campaign yet

    def __contains__(self, campaign_id: object) -> bool:
        return campaign_id in self.campaigns

    def __getitem__(self, campaign_id: str) -> Campaign:
        return self.campaigns[campaign_id]

    def __iter__(self) -> Iterator[Campaign]:
        return iter(self.campaigns.values())

    def __len__(self) -> int:
        return len(self.campaigns)

    def themes(self) -> dict[str, tuple[str, ...]]:
        """theme -> the categories its campaigns target."""
        return {c.theme: c.categories for c in self.campaigns.values()}

    def running_on(self, day: date) -> list[Campaign]:
        return [c for c in self.campaigns.values() if c.running_on(day)]


def area_grids(campaign: Campaign, network: StreetNetwork, grids: UnitGridIndex) -> frozenset[str]:
    """The unit grids of a campaign's area: the grids within :data:`AREA_BUFFER_M` of a
    segment of one of its streets, and every grid of its sub-districts and communities.
    Empty for a whole-district campaign. A street or unit without a grid is refused."""
    codes = [str(code) for code, _ in grids.polygons()]
    out: set[str] = set()
    for unit in campaign.areas:
        inside = [c for c in codes if c.startswith(unit)]
        if not inside:
            raise CampaignError(f"campaign {campaign.campaign_id}: no unit grid in area {unit}")
        out.update(inside)
    for street in campaign.streets:
        found = _street_grids(street, network, grids)
        if not found:
            raise CampaignError(
                f"campaign {campaign.campaign_id}: street {street!r} is not in the street "
                "network or crosses no unit grid"
            )
        out.update(found)
    return frozenset(out)


def _street_grids(street: str, network: StreetNetwork, grids: UnitGridIndex) -> set[str]:
    """Grids hit by points every few metres along the street's segments, on its centre line
    and :data:`AREA_BUFFER_M` to either side."""
    kx, ky = grids.spec.kx, grids.spec.ky  # metres per degree
    lats: list[np.ndarray] = []
    lons: list[np.ndarray] = []
    for seg in network.segments:
        if seg.street_name != street:
            continue
        for (lon0, lat0), (lon1, lat1) in zip(seg.coords, seg.coords[1:], strict=False):
            dx, dy = (lon1 - lon0) * kx, (lat1 - lat0) * ky
            length = math.hypot(dx, dy)
            if length == 0.0:
                continue
            t = np.linspace(0.0, 1.0, int(length // _AREA_STEP_M) + 2)
            nx, ny = -dy / length, dx / length  # unit normal
            for off in (-AREA_BUFFER_M, 0.0, AREA_BUFFER_M):
                lons.append(lon0 + (t * dx + off * nx) / kx)
                lats.append(lat0 + (t * dy + off * ny) / ky)
    if not lats:
        return set()
    found = grids.lookup(np.concatenate(lats), np.concatenate(lons))
    return {str(int(c)) for c in np.unique(found) if c}
