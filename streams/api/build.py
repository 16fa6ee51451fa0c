"""The :class:`Api` of a worker, from its settings."""

from __future__ import annotations

import dataclasses
import logging

from streams.api.board import BoardRenderer
from streams.api.keys import KeyRing
from streams.api.limits import IdempotencyMemory, TokenBuckets
from streams.api.open311 import Catalog, RequestCheck
from streams.api.service import Api, Writer
from streams.api.store import ClickHouseReads, Reads
from streams.cases.calendar import WorkCalendar
from streams.cases.dispatch import DispatchLimits
from streams.intake.normalize import Normalizer, NormalizerConfig
from streams.reference.categories import CategoryTable
from streams.reference.geo import District
from streams.reference.streets import StreetNetwork
from streams.settings import Settings

__all__ = ["build_api", "load_keys"]

log = logging.getLogger(__name__)


def load_keys(settings: Settings, departments: frozenset[str]) -> KeyRing:
    """The keys file's ring; desk scopes must name departments of the category table."""
    path = settings.api.keys_file
    if not path:
        log.warning("api: no CITYSTREAM_API_KEYS_FILE: no key is known, every door is shut")
        return KeyRing()
    ring = KeyRing.load(path)
    desks = {s.split(":", 1)[1] for s in ring.scopes() if s.startswith("desk:")}
    unknown = desks - departments
    if unknown:
        raise ValueError(f"keys file {path}: desk scopes of unknown departments {sorted(unknown)}")
    log.info("api: %d keys loaded", len(ring))
    return ring


def _streets(district: District) -> StreetNetwork | None:
    # the district config may name no street network: the board's map then shows cases only
    return StreetNetwork.for_district(district) if district.streets_path is not None else None


def build_api(settings: Settings, writer: Writer, reads: Reads | None = None) -> Api:
    table = CategoryTable.load(
        settings.pipeline.categories_file, settings.pipeline.category_code_digits
    )
    departments = frozenset(c.department for c in table.by_id.values())
    # its own normalizer, remembering next to no ids: each api record is checked once,
    # under a fresh random id, so there is no duplicate to catch
    config = dataclasses.replace(NormalizerConfig.from_settings(settings), seen_capacity=2)
    district = District.load(settings.pipeline.district)
    normalizer = Normalizer(config, table, district)
    catalog = Catalog.load(table)
    calendar = WorkCalendar.from_settings(settings)
    limits = DispatchLimits.from_settings(settings)

    def return_due(dispatched_at_ms: int, urgent: bool) -> int:
        return limits.return_due(calendar, dispatched_at_ms, urgent)

    return Api(
        keys=load_keys(settings, departments),
        reads=reads if reads is not None else ClickHouseReads(settings),
        writer=writer,
        catalog=catalog,
        check=RequestCheck(catalog, normalizer),
        departments=departments,
        return_due=return_due,
        buckets=TokenBuckets(settings.api.rate_per_s, settings.api.rate_burst),
        idempotency=IdempotencyMemory(settings.api.idempotency_keys),
        board=BoardRenderer(district, _streets(district)),
    )
