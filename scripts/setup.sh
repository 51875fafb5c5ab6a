#!/usr/bin/env bash
# Creates .venv and installs the project with its pinned dependencies (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${1:-run}
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade "pip>=25.1"
  if [ "${1:-run}" = "dev" ]; then
    .venv/bin/python -m pip install -q -e . --group dev
  else
    .venv/bin/python -m pip install -q -e .
  fi
  touch "$stamp"
fi
