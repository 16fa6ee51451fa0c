"""The machine a benchmark ran on: CPU model, cores, memory, Python and library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

__all__ = ["LIBRARIES", "machine_info", "machine_line"]

# distributions whose versions matter to the numbers (subjects and peers)
LIBRARIES = (
    "numpy",
    "numba",
    "scipy",
    "scikit-learn",
    "h3",
    "shapely",
    "orjson",
    "clickhouse-driver",
    "faust-streaming",
    "pytest-benchmark",
)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _memory_gib() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, object]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: _version(name) for name in LIBRARIES},
    }


def machine_line(info: dict[str, object]) -> str:
    """One line for the table's caption."""
    versions = info.get("versions")
    libs = (
        ", ".join(f"{k} {versions[k]}" for k in ("numpy", "numba") if k in versions)
        if isinstance(versions, dict)
        else ""
    )
    return (
        f"{info.get('cpu')}, {info.get('cores')} cores, {info.get('memory_gib')} GiB,"
        f" {info.get('os')}, Python {info.get('python')}" + (f", {libs}" if libs else "")
    )
