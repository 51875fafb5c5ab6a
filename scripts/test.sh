#!/usr/bin/env bash
# Sets up and runs every check: lint, types, and the test suite on SQLite and on PostgreSQL.
# ENGOPS_TEST_BACKENDS="sqlite" skips PostgreSQL (e.g. on a laptop without it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# The browser tests drive Debian's chromium (the emoji font keeps screenshots readable).
if [ "$(id -u)" = 0 ] && ! { command -v chromium && dpkg -s fonts-noto-color-emoji; } >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji \
    >/dev/null) || echo "warning: could not install chromium; browser tests will be skipped outside CI" >&2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy engops bot workflows commands
# The two backends run side by side (each test waits on the bot far more than it computes), beside the check that
# a wheel installs and runs as users install it; each one's output is shown whole when it ends, and the run fails
# if any does.
backends=(${ENGOPS_TEST_BACKENDS:-sqlite postgresql})
logs=$(mktemp -d)
echo "== test suites on ${backends[*]} and the wheel check, side by side (live output: $logs/<name>.log)"
names=()
pids=()
for backend in "${backends[@]}"; do
  ENGOPS_TEST_DB=$backend .venv/bin/pytest "$@" >"$logs/$backend.log" 2>&1 &
  names+=("$backend")
  pids+=($!)
done
bash scripts/wheel_check.sh >"$logs/wheel.log" 2>&1 &
names+=(wheel)
pids+=($!)
status=0
for i in "${!names[@]}"; do
  wait "${pids[$i]}" || status=1
  echo "== ${names[$i]}"
  cat "$logs/${names[$i]}.log"
done
rm -rf "$logs"
exit $status
