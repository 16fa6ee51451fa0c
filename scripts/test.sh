#!/usr/bin/env bash
# The whole check, as CI runs it: bootstrap, start the services, lint, type-check, then
# every test tier. All steps run even when one fails; the exit code says if any failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# project-local state: var/ and .cache/ of this checkout
source scripts/project-env.sh

failed=()
step() {
    # $1: label; the rest: the command
    local label="$1" rc=0
    shift
    printf '\n=== %s\n' "$label"
    "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        failed+=("$label (exit $rc)")
    fi
    return 0
}

kernels_without_jit() {
    # the kernel tests again as plain Python: catches code that only works when compiled
    local tests=() rc=0
    mapfile -t tests < <(find tests/unit -path '*kernel*' -name 'test_*.py' | sort)
    if [ "${#tests[@]}" -eq 0 ]; then
        echo "no kernel unit tests found"
        return 0
    fi
    NUMBA_DISABLE_JIT=1 .venv/bin/pytest -q -m "not integration" "${tests[@]}" || rc=$?
    # exit 5 = nothing collected: not a failure
    if [ "$rc" -eq 5 ]; then
        echo "no kernel unit tests collected"
        return 0
    fi
    return "$rc"
}

bash scripts/bootstrap.sh
.venv/bin/citystream up

step "ruff check" .venv/bin/ruff check .
step "ruff format --check" .venv/bin/ruff format --check .
step "mypy" .venv/bin/mypy
step "layers (import-linter)" .venv/bin/lint-imports
step "kernel unit tests, NUMBA_DISABLE_JIT=1" kernels_without_jit
step "benchmarks, smoke sizes (kept working, not judged)" .venv/bin/citystream bench --smoke
# last, so its summary is the closing line of the run: unit + integration tiers
step "pytest (unit + integration)" .venv/bin/pytest

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\nFAILED steps:\n' >&2
    printf '  - %s\n' "${failed[@]}" >&2
    exit 1
fi
