"""``citystream simulate``: generate a district feed with ground truth, to files and/or Kafka."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from streams.cli import add_simulation_arguments
from streams.reference.campaigns import CampaignTable
from streams.settings import Settings
from streams.simulator.district import build_district
from streams.simulator.district_files import write_district_files
from streams.simulator.engine import Simulation
from streams.simulator.incidents import SCENARIOS
from streams.simulator.records import SOURCES, TRACK_FEED
from streams.simulator.roster_file import write_roster_file
from streams.simulator.sinks import (
    FileSink,
    KafkaSink,
    Progress,
    RateLimiter,
    write_patrol_truth,
    write_side_files,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default="ordinary",
        help="what kind of days to simulate (default ordinary)",
    )
    add_simulation_arguments(parser, scale=1.0)
    parser.add_argument("--start", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    parser.add_argument("--days", type=int, help="number of days (scenario default)")
    parser.add_argument(
        "--theme",
        help="campaign scenario: boost this theme of the campaign calendar every day "
        "(default: each day the themes of the campaigns running that day)",
    )
    parser.add_argument("--bad-share", type=float, default=0.01, help="share of bad records")
    parser.add_argument(
        "--tracks",
        action="store_true",
        help="also the patrol terminals' position pings (raw.patrol_track) and their truth",
    )
    parser.add_argument(
        "--shirkers",
        type=float,
        default=0.0,
        help="share of inspectors per level who skip patrol days and miss their rule "
        "(patrol_truth.csv names them; changes the patrol reports; default 0)",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default var/sim/<scenario>-<seed>)"
    )
    parser.add_argument("--kafka", action="store_true", help="produce to the raw.* topics")
    parser.add_argument(
        "--no-raw-files",
        action="store_true",
        help="write only truth and side files (e.g. with --kafka)",
    )
    parser.add_argument("--rate", type=float, default=0.0, help="records/s, 0 = max speed")
    parser.add_argument("--records-limit", type=int, help="stop after this many records")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--write-district",
        action="store_true",
        help="regenerate the committed district files (gazetteer, unit grids, streets, "
        "inspector roster) and exit",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.write_district:
        district = build_district()
        for path in [*write_district_files(district), write_roster_file(district)]:
            print(f"wrote {path}")
        return 0
    try:
        sim = Simulation(
            args.scenario,
            args.seed,
            args.scale,
            start=args.start,
            days=args.days,
            bad_share=args.bad_share,
            max_payload_bytes=settings.pipeline.max_payload_bytes,
            theme=args.theme,
            shirkers=args.shirkers,
            campaigns=CampaignTable.load(settings.pipeline.campaigns_file),
        )
    except ValueError as exc:
        print(f"citystream simulate: {exc}", file=sys.stderr)
        return 2
    out = args.out or settings.home / "sim" / f"{args.scenario}-seed{args.seed}"
    sinks: list[FileSink | KafkaSink] = [
        FileSink(out, raw=not args.no_raw_files, tracks=args.tracks)
    ]
    if args.kafka:
        try:
            sinks.append(KafkaSink(settings))
        except Exception as exc:  # any client failure (DNS, refused, timeout) reads the same
            sinks[0].close()
            print(
                "citystream simulate: cannot reach Kafka at "
                f"{settings.kafka.bootstrap_servers}: {exc}",
                file=sys.stderr,
            )
            return 1
    counts = dict.fromkeys((*SOURCES, TRACK_FEED) if args.tracks else SOURCES, 0)
    progress = Progress(
        f"simulate {args.scenario}",
        sim.start_ms,
        sim.end_ms,
        sim.district.timezone,
        args.records_limit,
        quiet=args.quiet,
    )
    try:
        _pump(sim, args, sinks, counts, progress)
    finally:
        for sink in sinks:
            sink.close()
    elapsed = progress.done()
    _finish(sim, out, args, counts, progress.bad, elapsed)
    return 0


def _pump(
    sim: Simulation,
    args: argparse.Namespace,
    sinks: list[FileSink | KafkaSink],
    counts: dict[str, int],
    progress: Progress,
) -> None:
    pace = RateLimiter(args.rate)
    for rec in sim.feed() if args.tracks else sim.records():
        for sink in sinks:
            sink.write(rec)
        counts[rec.source] += 1
        progress.update(rec)
        pace.tick()
        if args.records_limit and pace.n >= args.records_limit:
            break


def _days(sim: Simulation) -> list[date]:
    return [sim.start + timedelta(days=k) for k in range(sim.days)]


def _finish(
    sim: Simulation,
    out: Path,
    args: argparse.Namespace,
    counts: dict[str, int],
    bad: int,
    elapsed: float,
) -> None:
    district = sim.district

    def grid_of(lat: float, lon: float) -> str:
        return district.grid_code_at(*district.plane.from_wgs84(lat, lon))

    manifest = {
        "scenario": args.scenario,
        "seed": args.seed,
        "scale": args.scale,
        "start": sim.start.isoformat(),
        "days": sim.days,
        "bad_share": args.bad_share,
        "theme": args.theme if args.scenario == "campaign" else None,
        "campaigns": sorted(
            {c.campaign_id for day in _days(sim) for c in sim.campaigns.running_on(day)}
        )
        if args.scenario == "campaign" and args.theme is None
        else [],
        "records": counts,
        "bad_records": bad,
        "incidents": len(sim.incidents),
        "patrols": len(sim.patrols),
        "tracks": bool(args.tracks),
        "shirker_share": args.shirkers,
        "shirkers": sorted(sim.shirkers),
        "kafka": bool(args.kafka),
        "records_limit": args.records_limit,
    }
    street_names = [s.name for s in district.streets]
    write_side_files(out, sim.incidents, sim.patrols, grid_of, street_names, manifest)
    if args.tracks:
        write_patrol_truth(out, sim.planned, sim.shirkers, street_names)
    total = sum(counts.values())
    print(
        f"{total:,} records ({', '.join(f'{k} {v:,}' for k, v in counts.items())}), "
        f"{bad:,} bad, {len(sim.incidents):,} incidents in {elapsed:.1f}s -> {out}"
    )
