"""The layering contract (pyproject.toml, [tool.importlinter]) holds, and it has teeth."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "sinks", "kernels", "deploy")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}  # the copy, not the installed tree
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "data")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_layers_hold(project_copy: Path) -> None:
    result = _lint(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("kernels/grid.py", "import streams.contracts.topics"),
        ("streams/contracts/fused.py", "import streams.settings"),
        ("streams/dedup/engine.py", "import streams.app.factory"),
        ("streams/dedup/engine.py", "import streams.intake.normalize"),
        ("sinks/records.py", "import streams.app.metrics"),
    ],
)
def test_an_upward_import_breaks_the_contract(project_copy: Path, module: str, upward: str) -> None:
    path = project_copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{upward}  # noqa\n", encoding="utf-8")
    result = _lint(project_copy)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and upward.split()[1] in result.stdout


def test_test_files_have_unique_basenames() -> None:
    """pytest imports test modules by basename (rootdir-relative, no packages): two files of
    one name under tests/ make a whole-suite run stop at collection."""
    from collections import Counter
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    names = Counter(p.name for p in root.rglob("test_*.py"))
    assert [n for n, k in names.items() if k > 1] == []
