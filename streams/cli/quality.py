"""``citystream quality``: dedup precision and recall against the simulator's ground truth,
or against the duplicate labels of a city's 311 export (``--export``,
streams/onboarding/labels.py).

Pairwise linkage measures: over every pair of accepted reports, a pair is predicted when
the two share a case and true when they belong to the same real-world incident.
Precision = true predicted pairs / predicted pairs; recall = true predicted pairs / true
pairs. Counted from the case-by-incident contingency table, never pair by pair.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.cli import add_simulation_arguments
from streams.cli.output import add_json_flag, counted, emit_json, say
from streams.contracts.fused import Source
from streams.settings import Settings

__all__ = [
    "LinkageScore",
    "add_arguments",
    "pairwise_linkage",
    "run",
    "score_export",
    "score_scenario",
]


@dataclass(frozen=True)
class LinkageScore:
    scenario: str
    reports: int
    cases: int
    incidents: int
    precision: float
    recall: float

    def line(self) -> str:
        return (
            f"{self.scenario:<10} reports={self.reports:<8} cases={self.cases:<7} "
            f"incidents={self.incidents:<7} precision={self.precision:.4f} "
            f"recall={self.recall:.4f}"
        )


def _pairs(counts: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in counts)


def pairwise_linkage(predicted: list[Any], truth: list[Any]) -> tuple[float, float]:
    """Precision and recall of the clustering ``predicted`` against ``truth`` (same order)."""
    if len(predicted) != len(truth):
        raise ValueError("predicted and true labels differ in length")
    both = _pairs(Counter(zip(predicted, truth, strict=True)).values())
    pred = _pairs(Counter(predicted).values())
    true = _pairs(Counter(truth).values())
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    return precision, recall


def score_scenario(settings: Settings, scenario: str, seed: int, scale: float) -> LinkageScore:
    from streams.replay import RawInput, replay
    from streams.simulator import Simulation

    sim = Simulation(scenario, seed, scale, bad_share=0.0)
    truth: dict[tuple[str, str], str] = {}
    records = []
    say("quality", f"{scenario}: simulating (seed {seed}, scale {scale})")
    for rec in counted(sim.records(), "quality", f"{scenario} records simulated"):
        records.append(RawInput(rec.source, rec.value, rec.arrival_ms))
        for row in rec.truth:
            if not row.expected_reason:
                truth[(row.source, row.source_ref)] = row.incident_id
    say("quality", f"{scenario}: deduplicating {len(records):,} records")
    result = replay(records, settings)
    predicted, actual = [], []
    for link in result.links:
        key = (Source(link["source"]).name.lower(), link["source_ref"])
        if key in truth:
            predicted.append(link["case_id"])
            actual.append(truth[key])
    precision, recall = pairwise_linkage(predicted, actual)
    return LinkageScore(
        scenario, len(predicted), len(set(predicted)), len(set(actual)), precision, recall
    )


def score_export(settings: Settings, paths: list[Path], mapping: str) -> list[str]:
    """Lines scoring the dedup (an offline replay of the export) against its labels."""
    from streams.intake.adapters.csv311 import Csv311Mapping
    from streams.onboarding.labels import read_labels, report_level
    from streams.replay import replay
    from streams.replay.inputs import read_inputs

    labels = read_labels(paths, Csv311Mapping.load(mapping))
    result = replay(read_inputs(paths, csv_mapping=mapping), settings)
    links = [link for link in result.links if link["source"] == Source.HOTLINE]
    case = {link["source_ref"]: link["case_id"] for link in links}
    merged = {link["source_ref"] for link in links if link["case_id"] != link["event_id"]}
    head = (
        f"export     rows={labels.rows:<8} reports={len(case):<8} cases={len(set(case.values()))}"
    )
    lines = [head]
    if labels.has_parent:
        refs = sorted(case)
        truth = [labels.incident(r) for r in refs]
        precision, recall = pairwise_linkage([case[r] for r in refs], truth)
        lines.append(
            f"pairwise   incidents={len(set(truth)):<7} precision={precision:.4f} "
            f"recall={recall:.4f}  (labels: parent request ids)"
        )
    if labels.has_flag:
        precision, recall = report_level(merged, labels.flagged, set(case))
        lines.append(
            f"reports    merged={len(merged):<9} flagged={len(labels.flagged & set(case)):<7} "
            f"precision={precision:.4f} recall={recall:.4f}  (labels: marked duplicate)"
        )
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from streams.simulator import SCENARIOS

    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="scenario(s) to score (default: ordinary and typhoon)",
    )
    add_simulation_arguments(parser, scale=1.0)
    parser.add_argument(
        "--min",
        type=float,
        default=0.98,
        dest="minimum",
        help="exit 1 when precision or recall is below this (default 0.98)",
    )
    add_json_flag(parser)
    parser.add_argument(
        "--export",
        type=Path,
        action="append",
        help="score against a 311 export's duplicate labels instead (repeat for more files)",
    )
    parser.add_argument("--mapping", help="the export's csv311 mapping (a packaged city or a file)")


def _run_export(settings: Settings, args: argparse.Namespace) -> int:
    from streams.intake.adapters.csv311 import Csv311Error
    from streams.replay.inputs import InputError

    if not args.mapping:
        say("quality", "--export needs --mapping")
        return 2
    if args.json:
        say("quality", "--json is for the simulator's scenarios, not --export")
        return 2
    try:
        lines = score_export(settings, args.export, args.mapping)
    except (Csv311Error, InputError, OSError) as exc:
        say("quality", str(exc))
        return 2
    print("\n".join(lines))
    return 0


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.export:
        return _run_export(settings, args)
    worst = 1.0
    scores = []
    for scenario in args.scenario or ["ordinary", "typhoon"]:
        score = score_scenario(settings, scenario, args.seed, args.scale)
        if not args.json:
            print(score.line())
        scores.append(score)
        worst = min(worst, score.precision, score.recall)
    if args.json:
        emit_json({"minimum": args.minimum, "scores": [dataclasses.asdict(s) for s in scores]})
    if worst < args.minimum:
        say("quality", f"below the {args.minimum} target")
        return 1
    return 0
