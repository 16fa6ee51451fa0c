"""deploy/Dockerfile and constraints.txt: pinned dependencies (the same pins for the image
and scripts/bootstrap.sh), kernels compiled at build time, a non-root user. No Docker engine
runs here: the file is checked statically, and the build's warmup step is run as it is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
CONSTRAINTS = ROOT / "constraints.txt"
sys.path.insert(0, str(ROOT / "scripts"))
from freeze_constraints import EXTRAS, closure  # noqa: E402


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined, comments dropped (as
    Docker does, also between the lines of one instruction)."""
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.strip().startswith("#"))
    out = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if line:
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest))
    return out


def test_constraints_pin_the_whole_closure_at_the_installed_versions() -> None:
    pins = _pins()
    assert closure() == pins, "constraints.txt is stale: run scripts/freeze_constraints.py"


def test_pins_satisfy_pyproject() -> None:
    pins = _pins()
    requires = metadata.distribution("citystream").requires or []
    for text in requires:
        req = Requirement(text)
        extra = re.search(r'extra == "(\w+)"', str(req.marker or ""))
        if extra and extra.group(1) not in EXTRAS:
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


def test_image_and_bootstrap_install_with_the_constraints() -> None:
    installs = [args for word, args in _instructions() if word == "RUN" and "pip install" in args]
    assert installs
    for args in installs:
        for command in re.findall(r"pip install[^&]*", args):
            assert "-c constraints.txt" in command, command
    copies = [args for word, args in _instructions() if word == "COPY"]
    assert any("constraints.txt" in c.split() for c in copies)
    ignored = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert "constraints.txt" not in ignored
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    assert "pip install -q -c constraints.txt -e '.[test,bench]'" in bootstrap


def test_image_runs_as_a_user_and_compiles_the_kernels_at_build_time() -> None:
    steps = _instructions()
    users = [(i, args.strip()) for i, (word, args) in enumerate(steps) if word == "USER"]
    assert users and users[-1][1] not in ("root", "0")
    warmups = [i for i, (word, args) in enumerate(steps) if word == "RUN" and "warmup()" in args]
    assert len(warmups) == 1
    # as the user the workers run as, into the cache folder they read
    assert users[-1][0] < warmups[0]
    env = " ".join(args for word, args in steps[: warmups[0]] if word == "ENV")
    assert "NUMBA_CACHE_DIR=/var/cache/numba" in env
    assert "chown citystream /var/cache/numba" in " ".join(a for _, a in steps)
    assert steps[-1][0] == "CMD"


def test_the_warmup_step_fills_the_numba_cache(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("NUMBA_DISABLE_JIT", None)
    subprocess.run(
        [sys.executable, "-c", "from kernels.warmup import warmup; warmup()"],
        env=env,
        check=True,
        timeout=600,
        cwd=ROOT,
    )
    # one index per kernel: <module>.<function>-<line>.py311.nbi
    modules = {p.name.split(".")[0] for p in cache.rglob("*.nbi")}
    assert {"_dedup_kernels", "grid", "state", "unitgrid", "walk"} <= modules, modules
