"""Ack latency of signed Slack requests against the bot vs a bare Bolt app that only acks (same run).

    .venv/bin/python bench/ack_latency.py [--total 400]

Prints a Markdown table: p50/p99 per concurrency and the p99 ratio bot/bare (target <= 1.5).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bare_app import start_bare_app  # noqa: E402
from bench.load import run_load  # noqa: E402
from bot.sandbox.stack import SIGNING_SECRET, Stack, StackOptions  # noqa: E402


def command_body(command: str, text: str, user: str = "U00000003", nonce: int = 0) -> bytes:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0SANDBOX1",
            "team_domain": "engops-sandbox",
            "channel_id": "C1",
            "channel_name": "general",
            "user_id": user,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A0ENGOPS01",
            "response_url": "http://127.0.0.1:9/none",
            "trigger_id": f"1.2.{nonce}",
        }
    ).encode()


def help_body(n: int) -> bytes:
    # unique per request: the bot refuses a replayed signature
    return command_body("/engops", "help", nonce=n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=400)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    stack = Stack.start(StackOptions(data_dir=Path(tempfile.mkdtemp(prefix="engops-bench-"))))
    bare_url, bare = start_bare_app(SIGNING_SECRET)

    try:
        print("| concurrency | bare p50 ms | bare p99 ms | bot p50 ms | bot p99 ms | p99 ratio | bot req/s | errors |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for concurrency in (1, 10, 50):
            run_load(
                f"{bare_url}/slack/events", SIGNING_SECRET, help_body, concurrency=concurrency, total=50
            )  # warm-up
            run_load(f"{stack.url}/slack/events", SIGNING_SECRET, help_body, concurrency=concurrency, total=50)
            base = run_load(
                f"{bare_url}/slack/events",
                SIGNING_SECRET,
                help_body,
                concurrency=concurrency,
                total=args.total,
            )
            bot = run_load(
                f"{stack.url}/slack/events",
                SIGNING_SECRET,
                help_body,
                concurrency=concurrency,
                total=args.total,
            )
            print(
                f"| {concurrency} | {base.p50_ms:.1f} | {base.p99_ms:.1f} | {bot.p50_ms:.1f} | {bot.p99_ms:.1f} | "
                f"{bot.p99_ms / base.p99_ms:.2f} | {bot.throughput:.0f} | {bot.errors + base.errors} |"
            )
    finally:
        bare.close()
        stack.stop()


if __name__ == "__main__":
    main()
