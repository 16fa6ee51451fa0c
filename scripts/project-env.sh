#!/usr/bin/env bash
# Project-local state for a source checkout: CITYSTREAM_HOME=<checkout>/var and
# CITYSTREAM_CACHE_DIR=<checkout>/.cache (without them citystream keeps its state in the
# user's data and cache folders, ~/.local/share/citystream and ~/.cache/citystream).
# Values already in the environment win. The scripts source this file; the Makefile runs
# `scripts/project-env.sh COMMAND ARGS...`, which executes COMMAND with these variables.
_citystream_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CITYSTREAM_HOME="${CITYSTREAM_HOME:-$_citystream_root/var}"
export CITYSTREAM_CACHE_DIR="${CITYSTREAM_CACHE_DIR:-$_citystream_root/.cache}"
unset _citystream_root
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "$#" -gt 0 ]; then
    exec "$@"
fi
