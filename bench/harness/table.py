"""The human table of a results dict (Markdown: readable in a terminal and in the README)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.harness.goals import NOT_RUN
from bench.harness.machine import machine_line

__all__ = [
    "README_BEGIN",
    "README_END",
    "format_rate",
    "format_seconds",
    "render_goals",
    "render_table",
    "with_table",
]

# the README's benchmark table sits between these lines (`citystream bench --update-readme`)
README_BEGIN = "<!-- bench-table:begin -->"
README_END = "<!-- bench-table:end -->"

_HEADER = (
    "| path | role | events/round | events/s | subject ÷ peer | p50 round | p99 round"
    " | peak RSS MB | RSS growth MB |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
)


def format_rate(per_s: float) -> str:
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_s >= scale:
            return f"{per_s / scale:.2f} {unit}"
    return f"{per_s:.1f}"


def format_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _row(path: str, role: str, m: Mapping[str, Any], ratio: float | None) -> str:
    cells = [
        path,
        role,
        f"{m['events']:,}",
        format_rate(m["events_per_s"]),
        "" if ratio is None else f"{ratio:,.1f}x",
        format_seconds(m["p50_s"]),
        format_seconds(m["p99_s"]),
        str(m.get("peak_rss_mb", "n/a")),
        str(m.get("rss_growth_mb", "n/a")),
    ]
    return "| " + " | ".join(cells) + " |"


def _measured(goal: Mapping[str, Any]) -> str:
    value = goal["measured"]
    if value is None:
        return ""
    if goal["measure"] == "events/s":
        return f"{format_rate(value)} ev/s"
    if goal["measure"].startswith("ratio:"):
        return f"{value:,.1f}x"
    return f"{value:,.4g}"


def render_goals(goals: Sequence[Mapping[str, Any]]) -> list[str]:
    """The "Goals" section: each goal that ran with met / not met; the others in one line."""
    ran = [g for g in goals if g["status"] != NOT_RUN]
    lines = ["", "Goals (bench/harness/goals.py; reported, not asserted):", ""]
    if ran:
        lines += ["| goal | measured | status | note |", "|---|---:|---|---|"]
        lines += [f"| {g['goal']} | {_measured(g)} | {g['status']} | {g['note']} |" for g in ran]
    not_run = [g["goal"] for g in goals if g["status"] == NOT_RUN]
    if not_run:
        lines += ["", "Not run here: " + "; ".join(not_run) + "."]
    return lines


def _remeasured(results: Mapping[str, Any]) -> list[str]:
    notes = []
    for path, group in results["groups"].items():
        again = group.get("remeasured")
        if again is None:
            continue
        for peer in sorted(again["first"]):
            first, second = again["first"][peer], again["second"].get(peer)
            shown = "did not run" if second is None else f"{second:,.1f}x"
            notes.append(
                f"Re-measured {path} vs {peer}: {first:,.1f}x, then {shown};"
                f" judged on the better, {group['ratios'][peer]:,.1f}x."
            )
    return notes


def render_table(results: Mapping[str, Any]) -> str:
    """The Markdown table, with the machine and the run's conditions underneath."""
    lines = list(_HEADER)
    for path, group in results["groups"].items():
        if group["subject"] is not None:
            lines.append(_row(path, "subject", group["subject"], None))
        else:
            lines.append(f"| {path} | subject | (did not run) | | | | | | |")
        for name, member in sorted(group["peers"].items()):
            lines.append(_row(path, f"peer: {name}", member, group["ratios"].get(name)))
    methods = sorted(
        {
            m["memory_method"]
            for g in results["groups"].values()
            for m in [g["subject"], *g["peers"].values()]
            if m is not None and "memory_method" in m
        }
    )
    notes = [
        "",
        f"Machine: {machine_line(results['machine'])}.",
        "events/s = events per round / fastest round; subject ÷ peer = ratio of events/s;"
        " p50/p99 over rounds; peak RSS of the benchmark process"
        + (f" ({', '.join(methods)})." if methods else "."),
    ]
    if results.get("smoke"):
        notes.append("SMOKE run: tiny sizes, numbers not meaningful.")
    if results.get("elapsed_s") is not None:
        notes.append(f"Suites {', '.join(results['suites'])} ran in {results['elapsed_s']:.0f} s.")
    notes += _remeasured(results)
    if results.get("undeclared"):
        notes.append(
            "Not declared (no path/role/events, left out): " + ", ".join(results["undeclared"])
        )
    return "\n".join(lines + notes + render_goals(results["goals"])) + "\n"


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the bench-table markers replaced by ``table``."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(
            f"the README needs the lines {README_BEGIN} and {README_END} (in that order)"
            " around its benchmark table"
        )
    return readme[: begin + len(README_BEGIN)] + "\n\n" + table + "\n" + readme[end:]
