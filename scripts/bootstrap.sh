#!/usr/bin/env bash
# Everything a fresh clone needs before `citystream up`: system packages (as root), the
# virtualenv in .venv with citystream installed editable, and the pinned Kafka jars.
# Idempotent and quick when nothing is missing. Used by `make bootstrap`, scripts/test.sh
# and .ci/run, so developers and CI prepare the machine the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# project-local state: var/ and .cache/ of this checkout
source scripts/project-env.sh

log() { printf '[bootstrap] %s\n' "$*"; }

apt_install() {
    # $@: Debian packages to install when missing (needs root and apt-get)
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "[bootstrap] missing: $* -- and there is no apt-get; install them by hand" >&2
        exit 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "[bootstrap] missing: $* -- run: sudo apt-get install -y $*" >&2
        exit 1
    fi
    # policy-rc.d: package installs must not start system services (e.g. a ClickHouse on
    # 9000/8123); citystream runs its own processes on its own ports.
    local policy=/usr/sbin/policy-rc.d created=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
    fi
    log "apt-get install $*"
    local rc=0
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"; } \
        >/tmp/citystream-apt.log 2>&1 || rc=$?
    [ "$created" -eq 1 ] && rm -f "$policy"
    if [ "$rc" -ne 0 ]; then
        tail -n 30 /tmp/citystream-apt.log >&2
        echo "[bootstrap] apt-get failed (exit $rc); full log in /tmp/citystream-apt.log" >&2
        exit 1
    fi
}

system_packages() {
    local missing=()
    command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    [ -x /usr/sbin/clickhouse-server ] || missing+=(clickhouse-server)
    command -v clickhouse-client >/dev/null 2>&1 || missing+=(clickhouse-client)
    command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
    # promtool checks deploy/monitoring's config and alert rules (tests/unit/test_monitoring.py)
    command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
    # the report's browser test (tests/browser): headless Chromium, and a CJK font so the
    # Chinese labels render as text in its screenshot rather than as empty boxes
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
}

pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "[bootstrap] no Python >= 3.11 found (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

python_env() {
    if [ ! -x .venv/bin/python ]; then
        local py
        py="$(pick_python)"
        log "creating .venv with $py"
        "$py" -m venv .venv
    fi
    # reinstall only when the dependency list or the pins changed since the last install;
    # constraints.txt pins every package to the version the tests ran with (the Docker
    # image installs with it too): scripts/freeze_constraints.py regenerates it
    local stamp=.venv/.citystream-deps digest
    digest="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ] || [ ! -x .venv/bin/citystream ]; then
        log "pip install -c constraints.txt -e .[test,bench]"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -c constraints.txt -e '.[test,bench]'
        echo "$digest" >"$stamp"
    fi
}

kafka_artifacts() {
    .venv/bin/python - <<'PY'
from deploy.local.kafka import ensure_artifacts
from streams.settings import load_settings

print(f"[bootstrap] Kafka jars in {ensure_artifacts(load_settings())}")
PY
}

system_packages
python_env
kafka_artifacts
log "ready"
