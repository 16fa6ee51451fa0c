"""Write constraints.txt: the exact version of every package citystream needs, from the
virtualenv it was tested in (the dependencies of pyproject.toml and its ``test`` and
``bench`` extras, followed through their own requirements).

    .venv/bin/python scripts/freeze_constraints.py      # after changing pyproject.toml

scripts/bootstrap.sh and deploy/Dockerfile install with ``-c constraints.txt``, so a
developer, CI and the image get the versions the tests ran with.
tests/unit/test_constraints.py checks the file covers the closure and matches pyproject.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("test", "bench")
HEADER = """\
# Pinned versions of citystream's dependencies (runtime and the test and bench extras),
# from the virtualenv the tests ran in: regenerate with
#   .venv/bin/python scripts/freeze_constraints.py
# Used by scripts/bootstrap.sh and deploy/Dockerfile (pip install -c constraints.txt).
"""


def _wanted(req: Requirement, extras: tuple[str, ...]) -> bool:
    if req.marker is None:
        return True
    env = default_environment()
    return any(req.marker.evaluate({**env, "extra": e}) for e in (*extras, ""))


def closure(root: str = "citystream", extras: tuple[str, ...] = EXTRAS) -> dict[str, str]:
    """``{canonical name: installed version}`` of everything ``root[extras]`` needs."""
    found: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(root, extras)]
    while todo:
        name, wanted_extras = todo.pop()
        dist = metadata.distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            if not _wanted(req, wanted_extras):
                continue
            key = canonicalize_name(req.name)
            if key in found:
                continue
            found[key] = metadata.version(req.name)
            todo.append((req.name, tuple(sorted(req.extras))))
    found.pop(canonicalize_name(root), None)
    return dict(sorted(found.items()))


def render(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in pins.items())


def main() -> int:
    path = ROOT / "constraints.txt"
    path.write_text(render(closure()), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
