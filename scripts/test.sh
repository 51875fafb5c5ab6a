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
.venv/bin/mypy bot workflows commands
for backend in ${ENGOPS_TEST_BACKENDS:-sqlite postgresql}; do
  echo "== test suite on $backend"
  ENGOPS_TEST_DB=$backend .venv/bin/pytest "$@"
done
