"""``citystream replay``: deduplicate raw files offline; write cases, links and a summary."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

import orjson

from streams.cli.output import counted, say
from streams.contracts.sources import SOURCES
from streams.settings import Settings

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        help="raw files (.rec, .jsonl, 311 .csv) or simulator output folders",
    )
    parser.add_argument(
        "--source",
        choices=SOURCES,
        help="source of .jsonl inputs whose name does not say it",
    )
    parser.add_argument(
        "--csv-mapping",
        help="311 CSV exports: a packaged city (nyc, chicago, boston, baltimore) or a mapping JSON",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("var/replay"), help="output folder (default var/replay)"
    )
    parser.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default="jsonl",
        help="format of the cases, links and dead-letter files (default jsonl)",
    )


def _write(path: Path, rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "jsonl":
        with path.open("wb") as fh:
            for row in rows:
                fh.write(orjson.dumps(row) + b"\n")
        return
    with path.open("w", newline="", encoding="utf-8") as fh:
        if not rows:
            return
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from streams.replay.core import replay
    from streams.replay.inputs import InputError, read_inputs

    try:
        # normalizing consumes the records as they are read: progress follows the reading
        records = counted(
            read_inputs(args.inputs, args.source, args.csv_mapping), "replay", "records read"
        )
        result = replay(records, settings)
    except (InputError, OSError) as exc:
        say("replay", str(exc))
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    ext = args.format
    _write(args.out / f"cases.{ext}", result.cases, ext)
    _write(args.out / f"links.{ext}", result.links, ext)
    _write(
        args.out / f"dead_letters.{ext}",
        [{k: v for k, v in d.to_dict().items()} for d in result.dead_letters],
        ext,
    )
    summary = result.summary()
    (args.out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    # the summary is the result (stdout, pipeable to jq); where the files went is talk
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    say("replay", f"wrote {args.out}/cases.{ext}, links.{ext}, dead_letters.{ext}, summary.json")
    return 0
