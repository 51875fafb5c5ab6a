#!/usr/bin/env bash
# Every benchmark in one go (about 15 minutes on 2 cores); prints the tables BENCHMARKS.md quotes.
# PostgreSQL runs use a scratch database on 127.0.0.1:5432 (trust auth), dropped and made afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev >/dev/null
py=.venv/bin/python
pg=postgresql://postgres@127.0.0.1:5432/engops_bench_ack
fresh_pg() { psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS engops_bench_ack" \
  -c "CREATE DATABASE engops_bench_ack" 2>/dev/null; }
quiet() { "$@" 2>/dev/null; }  # the tables go to stdout; the bot's own logs are not wanted here

echo "## Ack latency, SQLite, in-process worker"; quiet $py bench/ack_latency.py --total 150
echo "## Ack latency, PostgreSQL, in-process worker"; fresh_pg; quiet $py bench/ack_latency.py --total 150 --database-url $pg
echo "## Ack latency, PostgreSQL, serve --no-worker + worker"; fresh_pg
quiet $py bench/ack_latency.py --total 150 --web-only --database-url $pg
echo "## Cold start and memory"; quiet $py bench/cold_start.py
echo "## Approve click to effect"; quiet $py bench/approve_to_effect.py --requests 200
quiet $py bench/approve_to_effect.py --requests 200 --scaleout
echo "## Bulk offboarding"; quiet $py bench/offboarding_bulk.py --people 500 --factor 3
echo "## Triage accuracy"; quiet $py bench/triage_accuracy.py
