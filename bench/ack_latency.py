"""Ack latency of signed Slack requests against the bot vs a bare Bolt app that only acks (same run).

    .venv/bin/python bench/ack_latency.py [--total 300]

Three requests: `/engops help` (answered from the database), `/access` (opens a modal: the one Slack
call, views.open, happens before the ack) and an Approve click (a compare-and-set decision and a durable
hand-over). Prints a Markdown table: p50/p99 per concurrency and the p99 ratio bot/bare (target <= 1.5).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import run_load  # noqa: E402
from bench.population import with_generated_people  # noqa: E402
from bench.processes import spawn  # noqa: E402
from bench.slack_requests import approve_body, command_body  # noqa: E402
from engops.sandbox.stack import SIGNING_SECRET, Stack, StackOptions  # noqa: E402

CONCURRENCY = (1, 10, 50)
SETTLE_SECONDS = 10


def pending_requests(stack: Stack, count: int) -> list[int]:
    """`count` access requests waiting for oscar (owner of netsuite-finance), made through Slack."""
    driver = stack.driver
    assert driver is not None
    for i in range(count):
        user = f"load{i:04d}"
        driver.command(user, "/access", "")
        driver.submit_view(user, {"Okta group": "netsuite-finance", "Justification": "benchmark"})
    stack.wait_idle(600)
    return list(range(1, count + 1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary folder")
    parser.add_argument("--case", choices=("help", "access", "approve"), action="append", help="default: all three")
    parser.add_argument("--concurrency", type=int, action="append", help=f"default: {CONCURRENCY}")
    parser.add_argument(
        "--web-only", action="store_true", help="serve --no-worker, with `engops worker` in a process beside it"
    )
    args = parser.parse_args()
    levels = tuple(args.concurrency or CONCURRENCY)
    logging.disable(logging.WARNING)
    approvals_needed = args.total * len(levels) if not args.case or "approve" in args.case else 0
    stack = Stack.start(
        StackOptions(data_dir=Path(tempfile.mkdtemp(prefix="engops-bench-")), database_url=args.database_url),
        with_generated_people(approvals_needed),
    )
    oscar = stack.directory.by_handle("oscar").slack_id
    clicks = iter(pending_requests(stack, approvals_needed))
    # The bot and the baseline each run in a process of their own, as in production; the stand-ins and
    # the load generator stay here.
    stack.stop_app()
    env = {**os.environ, **stack.env}
    helpers: list[subprocess.Popen[bytes]] = []
    if args.web_only:
        worker = [sys.executable, "-m", "engops.cli", "worker", "--id", "bench-w1"]
        helpers.append(subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    serve = ["engops.cli", "serve", "--host", "127.0.0.1", *(["--no-worker"] if args.web_only else [])]
    bot_url, bot_proc = spawn(serve, env)
    time.sleep(SETTLE_SECONDS)  # the worker's start-up sweep (first Okta call imports its SDK) ends first
    bare_url, bare_proc = spawn(["bench.bare_app", SIGNING_SECRET], env)
    nonces = itertools.count(10_000)  # every request unique: the bot refuses a replayed signature

    def access_body(n: int) -> bytes:
        # a real trigger id each time: the stand-in accepts a trigger once, within 3 s
        return command_body("/access", "", nonce=next(nonces), trigger=stack.slack.issue_trigger("U00000003"))

    cases: list[tuple[str, str, Callable[[int], bytes], Callable[[int], bytes]]] = [
        (
            "help",
            "/engops help",
            lambda n: command_body("/engops", "help", nonce=next(nonces)),
            lambda n: command_body("/engops", "help", nonce=next(nonces)),
        ),
        ("access", "/access (opens a modal)", access_body, lambda n: command_body("/access", "", nonce=next(nonces))),
        (
            "approve",
            "Approve click",
            lambda n: approve_body(next(clicks), oscar, next(nonces)),
            lambda n: approve_body(1, oscar, next(nonces)),
        ),
    ]
    try:
        print("| request | concurrency | bare p50 ms | bare p99 ms | bot p50 ms | bot p99 ms | p99 ratio | errors |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        print(f"bot pid {bot_proc.pid}", file=sys.stderr, flush=True)
        for key, name, bot_body, bare_body in cases:
            if args.case and key not in args.case:
                continue
            for concurrency in levels:
                run_load(f"{bare_url}/slack/events", SIGNING_SECRET, bare_body, concurrency=concurrency, total=30)
                base = run_load(
                    f"{bare_url}/slack/events", SIGNING_SECRET, bare_body, concurrency=concurrency, total=args.total
                )
                bot = run_load(
                    f"{bot_url}/slack/events", SIGNING_SECRET, bot_body, concurrency=concurrency, total=args.total
                )
                print(
                    f"| {name} | {concurrency} | {base.p50_ms:.1f} | {base.p99_ms:.1f} | {bot.p50_ms:.1f} | "
                    f"{bot.p99_ms:.1f} | {bot.p99_ms / base.p99_ms:.2f} | {bot.errors + base.errors} |"
                )
    finally:
        for proc in (bot_proc, bare_proc, *helpers):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        stack.stop()


if __name__ == "__main__":
    main()
