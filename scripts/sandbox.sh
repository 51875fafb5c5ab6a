#!/usr/bin/env bash
# The whole product on this machine, no accounts: stand-ins, the bot, and a Slack-like console.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
exec .venv/bin/engops sandbox "$@"
