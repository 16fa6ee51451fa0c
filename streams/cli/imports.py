"""``citystream import``: backfill 311 exports through the live pipeline (docs/onboarding.md).

Sends the rows to ``raw.hotline`` (times and resuming: streams/onboarding/importer.py),
then, with ``--wait``, follows them through the pipeline and says what became of each:
linked to a case, or dead-lettered and why.
"""

from __future__ import annotations

import argparse
import base64
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, help="311 export CSV files")
    parser.add_argument(
        "--mapping",
        required=True,
        help="a packaged city (nyc, chicago, boston, baltimore) or a csv311 mapping JSON",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/import"),
        help="where import checkpoints are kept (default var/import)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="then wait up to SECONDS for the pipeline to account for every record and "
        "print what was linked and dead-lettered (default 0: do not wait)",
    )


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _unmapped(settings: Settings, values: list[bytes]) -> Counter[str]:
    """Service codes the pipeline's category table does not map: their rows will be
    dead-lettered ``unknown_category`` (said before sending, so a missing line in the
    service map is seen at once)."""
    from streams.reference.categories import CategoryTable, ServiceCodeMap

    table = CategoryTable.load(
        settings.pipeline.categories_file, settings.pipeline.category_code_digits
    )
    known = ServiceCodeMap.load(table).mapping
    codes = Counter(str(orjson.loads(v).get("service_code", "")) for v in values)
    return Counter({c: n for c, n in codes.items() if c and c not in known})


def _before(settings: Settings, args: argparse.Namespace, plan: Any) -> None:
    first, last = plan.span_ms()
    print(
        f"export: {len(plan):,} rows from {len(args.files)} file(s), requested "
        f"{_stamp(first)} .. {_stamp(last)}; import id {plan.import_id}"
    )
    if plan.unread_times:
        print(f"  {plan.unread_times:,} rows with a time no format reads (bad_time)")
    if plan.absent:
        print(f"  not in this export (left out): {', '.join(plan.absent)}")
    unmapped = _unmapped(settings, plan.values)
    if unmapped:
        top = ", ".join(f"{c!r} x{n}" for c, n in unmapped.most_common(10))
        print(
            f"  {sum(unmapped.values()):,} rows of {len(unmapped)} service code(s) the "
            f"category table does not map (unknown_category): {top}"
        )


def _outcome(settings: Settings, plan: Any) -> tuple[int, set[int], Counter[str]]:
    """(events linked, their cases, dead letters by reason) of this import's records."""
    from streams.contracts.fused import event_id_for
    from streams.contracts.topics import DEADLETTER
    from streams.runner import read_links, read_topic

    ours = {event_id_for("hotline", k.decode()) for k in plan.keys if k is not None}
    links = read_links(settings)
    linked = {e: c for e, c in links.case_of.items() if e in ours}
    values = Counter(plan.values)
    seen: set[tuple[Any, ...]] = set()
    reasons: Counter[str] = Counter()
    for record in read_topic(settings, settings.kafka.topic(DEADLETTER)):
        letter = orjson.loads(record.value)
        original = base64.b64decode(letter["original"])
        identity = (letter["topic"], letter["partition"], letter["offset"], letter["reason"])
        if original in values and (letter["offset"] is None or identity not in seen):
            seen.add(identity)
            reasons[letter["reason"]] += 1
    return len(linked), set(linked.values()), reasons


def _follow(settings: Settings, plan: Any, wait_s: float) -> int:
    deadline = time.monotonic() + wait_s
    while True:
        linked, cases, reasons = _outcome(settings, plan)
        accounted = linked + sum(reasons.values())
        if accounted >= len(plan) or time.monotonic() >= deadline:
            break
        time.sleep(2.0)
    print(
        f"linked: {linked:,} events into {len(cases):,} cases "
        f"({linked - len(cases):,} reports merged into a case another report opened)"
    )
    print(f"dead-lettered: {sum(reasons.values()):,}")
    for reason, n in reasons.most_common():
        print(f"  {reason}: {n:,}")
    if accounted < len(plan):
        print(
            f"citystream import: after {wait_s:g} s the pipeline has accounted for "
            f"{accounted:,} of {len(plan):,} records (are the workers running?)",
            file=sys.stderr,
        )
        return 1
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaError as AioKafkaError
    from kafka.errors import KafkaError

    from streams.intake.adapters.csv311 import Csv311Error, Csv311Mapping
    from streams.onboarding.importer import Importer, Progress, plan_import

    try:
        mapping = Csv311Mapping.load(args.mapping)
        missing = [str(p) for p in args.files if not p.is_file()]
        if missing:
            raise Csv311Error(f"no such file(s): {', '.join(missing)}")
        topic = settings.kafka.topic("raw.hotline")
        plan = plan_import(list(args.files), mapping, topic)
    except Csv311Error as exc:
        print(f"citystream import: {exc}", file=sys.stderr)
        return 2
    _before(settings, args, plan)
    importer = Importer(settings, plan, args.state_dir)
    progress = Progress(len(plan), sys.stderr)
    t0 = time.monotonic()
    try:
        sent = importer.run(progress)
    except (KafkaError, AioKafkaError) as exc:  # unreachable: rerun later, it resumes
        print(f"citystream import: Kafka: {exc!r}; run it again to resume", file=sys.stderr)
        return 1
    progress(len(plan), force=True)
    took = time.monotonic() - t0
    print(
        f"sent {sent:,} records to {importer.topic} in {took:.1f} s "
        f"({sent / max(took, 1e-9):,.0f} rec/s); {importer.skipped:,} already there "
        "from an earlier run of this import"
    )
    return _follow(settings, plan, args.wait) if args.wait > 0 else 0
