"""Approve click -> membership visible at the Okta stand-in, p50/p99 over N requests.

    .venv/bin/python bench/approve_to_effect.py [--requests 200]                # one process, SQLite
    .venv/bin/python bench/approve_to_effect.py --scaleout [--requests 200]     # 2 web + 2 workers, PostgreSQL

The request is for `netsuite-finance` (one approval step: its owner). The clock starts when the
Approve click is sent and stops when the stand-in shows the membership.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load import percentile  # noqa: E402
from bench.population import with_generated_people  # noqa: E402
from engops.sandbox.stack import Stack, StackOptions  # noqa: E402
from tests.support.processes import BotProcesses  # noqa: E402

PG_ADMIN = os.environ.get("ENGOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
GROUP = "netsuite-finance"


def measure(stack: Stack, requests: int, web_urls: list[str]) -> list[float]:
    driver = stack.driver
    assert driver is not None
    latencies = []
    for i in range(requests):
        driver.app_url = web_urls[i % len(web_urls)]
        user = f"load{i:04d}"
        driver.command(user, "/access", "")
        driver.submit_view(user, {"Okta group": GROUP, "Justification": "benchmark"})
        card = stack.wait_for(lambda u=user: _card_for(stack, u), timeout=30, what=f"card for {user}")
        email = f"{user}@example.com"
        started = time.perf_counter()
        driver.click("oscar", "Approve", message=card)
        stack.wait_for(lambda e=email: e in stack.okta.members(GROUP), timeout=30, what=f"membership of {user}")
        latencies.append(time.perf_counter() - started)
    return latencies


def _card_for(stack: Stack, user: str) -> object:
    for message in reversed(stack.slack.dm("oscar")):
        if f"{user}@example.com" in str(message.blocks) and "Approve" in str(message.blocks):
            return message
    return None


def scaleout(stack: Stack, log_dir: Path) -> tuple[list[str], BotProcesses]:
    """2 workers and 2 web-only replicas, as processes of their own on the stack's database."""
    bot = BotProcesses(stack.env, log_dir)
    for n in range(2):
        bot.worker(f"bench-worker-{n}")
    return [bot.web(f"web-{n}") for n in range(2)], bot


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--scaleout", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    directory = with_generated_people(args.requests)
    data = Path(tempfile.mkdtemp(prefix="engops-approve-"))
    database_url, db_name = None, None
    if args.scaleout:
        db_name = f"engops_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        database_url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{db_name}"
    stack = Stack.start(StackOptions(data_dir=data, database_url=database_url), directory)
    bot: BotProcesses | None = None
    try:
        urls = [stack.url]
        if args.scaleout:
            stack.stop_app()
            urls, bot = scaleout(stack, data / "logs")
        else:
            stack.wait_idle(60)
        latencies = measure(stack, args.requests, urls)
    finally:
        if bot is not None:
            bot.stop_all()
        stack.stop()
        if db_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    ms = [x * 1000 for x in latencies]
    setup = "2 web + 2 workers, PostgreSQL" if args.scaleout else "1 process (in-process worker), SQLite"
    print("| setup | requests | p50 ms | p99 ms | max ms |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| {setup} | {len(ms)} | {statistics.median(ms):.0f} | {percentile(ms, 99):.0f} | {max(ms):.0f} |")


if __name__ == "__main__":
    main()
