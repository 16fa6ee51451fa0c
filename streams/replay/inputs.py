"""Readers for the raw inputs a replay accepts, each yielding :class:`RawInput` records."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

from streams.contracts.topics import RAW_FEEDS, RAW_TOPICS
from streams.replay.core import RawInput

__all__ = ["InputError", "read_inputs"]


class InputError(ValueError):
    """An input file cannot be read as a replay input."""


def _feed_of(path: Path) -> str | None:
    """The raw feed that is no report source (e.g. patrol_track) a file holds, if any."""
    return next((f for f, topic in RAW_FEEDS.items() if path.name.startswith(topic + ".")), None)


def _source_of(path: Path, declared: str | None) -> str:
    feed = _feed_of(path)
    if feed is not None:
        raise InputError(f"{path.name} holds {feed} records, not reports: the replay reads reports")
    if declared:
        if declared not in RAW_TOPICS:
            raise InputError(f"--source must be one of {', '.join(RAW_TOPICS)}, got {declared!r}")
        return declared
    hits = [s for s in RAW_TOPICS if s in path.name]
    if len(hits) != 1:
        raise InputError(
            f"cannot tell the source of {path.name}: name it raw.<source>.* or pass --source"
        )
    return hits[0]


def _framed(path: Path, source: str) -> Iterator[RawInput]:
    from streams.simulator.framing import FramingError, read_framed

    try:
        for record in read_framed(path):
            yield RawInput(source, record.value, record.arrival_ms)
    except FramingError as exc:  # a damaged file: the command reports it, no traceback
        raise InputError(str(exc)) from exc


def _lines(path: Path, source: str) -> Iterator[RawInput]:
    with path.open("rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line:
                yield RawInput(source, line)


def _csv311(path: Path, mapping: str | None) -> Iterator[RawInput]:
    from streams.intake.adapters.csv311 import Csv311Error, Csv311Mapping, iter_csv311

    try:
        for value in iter_csv311(path, Csv311Mapping.load(mapping)):
            yield RawInput("hotline", value)
    except Csv311Error as exc:  # a bad mapping or header: reported, no traceback
        raise InputError(str(exc)) from exc


def _one(path: Path, source: str | None, csv_mapping: str | None) -> Iterator[RawInput]:
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".rec":
        return _framed(path, _source_of(path, source))
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _lines(path, _source_of(path, source))
    if suffix == ".csv":
        return _csv311(path, csv_mapping)
    raise InputError(f"{path.name}: unknown input format (use .rec, .jsonl/.ndjson or .csv)")


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            # a simulator folder may hold feeds that are no reports (raw.patrol_track.rec)
            found = sorted(f for f in p.glob("raw.*.rec") if _feed_of(f) is None)
            if not found:
                raise InputError(f"{p} holds no raw.<source>.rec files")
            out.extend(found)
        else:
            out.append(p)
    return out


def read_inputs(
    paths: list[Path], source: str | None = None, csv_mapping: str | None = None
) -> Iterator[RawInput]:
    """All records of all inputs; inputs with arrival times are merged in arrival order."""
    streams = [_one(p, source, csv_mapping) for p in _expand(paths)]
    keyed = (
        ((r.arrival_ms if r.arrival_ms is not None else 0, n, r) for r in s)
        for n, s in enumerate(streams)
    )
    for _, _, record in heapq.merge(*keyed, key=lambda t: (t[0], t[1])):
        yield record
