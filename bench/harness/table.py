"""The human table of a results dict (Markdown: readable in a terminal and in the README)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.harness.machine import machine_line

__all__ = [
    "README_BEGIN",
    "README_END",
    "format_rate",
    "format_seconds",
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
    if results.get("undeclared"):
        notes.append(
            "Not declared (no path/role/events, left out): " + ", ".join(results["undeclared"])
        )
    return "\n".join(lines + notes) + "\n"


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the bench-table markers replaced by ``table``."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(
            f"the README needs the lines {README_BEGIN} and {README_END} (in that order)"
            " around its benchmark table"
        )
    return readme[: begin + len(README_BEGIN)] + "\n\n" + table + "\n" + readme[end:]
