"""Cold start of `engops serve` to its first ack, and the web process's resident memory.

    .venv/bin/python bench/cold_start.py [--runs 3]

The stand-ins run in this process; `engops serve` is a fresh process each run (in-process worker).
Memory is read three times: once the start-up sweep has run, after one request of every kind has gone
through (access: Okta; IT request: GitLab; own key rotation: AWS; offboarding: Google and Okta), and for
`serve --no-worker` (a scale-out web replica) after the same requests.
Targets: first ack <= 1.5 s, resident memory <= 150 MB.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.processes import first_ack, free_port, rss_mb  # noqa: E402
from engops.sandbox.slack import message_as_text  # noqa: E402
from engops.sandbox.slack_driver import SlackDriver  # noqa: E402
from engops.sandbox.stack import SIGNING_SECRET, Stack, StackOptions  # noqa: E402
from tests.reliability import users  # noqa: E402

WAIT = 60.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, choices=range(1, len(ASKERS) + 1))
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    data = Path(tempfile.mkdtemp(prefix="engops-cold-"))
    stack = Stack.start(StackOptions(data_dir=data))
    stack.stop_app()  # keep the stand-ins and the migrated database; the bot runs as a subprocess
    starts: list[float] = []
    memory: list[float] = []
    worked: list[float] = []
    web_only: list[float] = []
    try:
        for _ in range(args.runs):
            port = free_port()
            env = {**os.environ, **stack.env}
            begun = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "engops.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            acked = first_ack(port, begun + 30)
            if acked is None:
                proc.kill()
                raise SystemExit("no ack within 30 s")
            starts.append(acked - begun)
            time.sleep(3)  # let the worker settle (startup sweep) before reading memory
            memory.append(rss_mb(proc.pid))
            one_of_each_kind(SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, stack.slack), len(worked))
            time.sleep(1)
            worked.append(rss_mb(proc.pid))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        web_only.append(web_replica_memory(stack))
    finally:
        stack.stop()
    print("| measure | runs | median | max | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| process start to first ack (s) | {len(starts)} | {statistics.median(starts):.2f} | {max(starts):.2f} "
        "| <= 1.5 |"
    )
    rows = [
        ("resident memory of `engops serve` after its start-up sweep (MB)", memory),
        ("... after one request of every kind (MB)", worked),
        ("resident memory of `engops serve --no-worker` after the same (MB)", web_only),
    ]
    for label, values in rows:
        print(f"| {label} | {len(values)} | {statistics.median(values):.0f} | {max(values):.0f} | <= 150 |")


# Run n's people: each run asks for things the previous runs have not done yet.
ASKERS = ("bob", "frank", "ivan")
ROTATORS = ("alice", "irene", "leo")
LEAVERS = ("nina", "quinn", "carol")


def one_of_each_kind(driver: SlackDriver, n: int) -> None:
    """An auto-approved access request, an IT request, an own key rotation and an approved offboarding."""
    users.ask_access(driver, ASKERS[n], "zoom-users", "Customer calls")
    users.file_it_request(driver, "alice", f"Terraform plan fails on the VPC module (run {n})", "Since today")
    users.rotate_own_keys(driver, ROTATORS[n], WAIT)
    ref = users.offboard(driver, "hank", f"{LEAVERS[n]}@example.com", "Last day was Friday", WAIT)
    users.decide(driver, "grace", ref, approve=True, timeout=WAIT)
    users.wait_for(lambda: _told_done(driver, "hank", ref), WAIT, f"REQ-{ref} done")


def _told_done(driver: SlackDriver, user: str, ref: int) -> bool:
    texts = [message_as_text(m.text, m.blocks) for m in driver.slack.dm(user)]
    return any(f"REQ-{ref}" in t and "Done" in t for t in texts)


def web_replica_memory(stack: Stack) -> float:
    """`serve --no-worker` beside an `engops worker`, after one request of every kind."""
    env = {**os.environ, **stack.env}
    port = free_port()
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    worker = subprocess.Popen([sys.executable, "-m", "engops.cli", "worker", "--id", "cold-w1"], **quiet)  # type: ignore[call-overload]
    web = subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "engops.cli", "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)],
        **quiet,
    )
    try:
        if first_ack(port, time.monotonic() + 30) is None:
            raise SystemExit("the web replica did not ack within 30 s")
        driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, stack.slack)
        users.ask_access(driver, "carol", "zoom-users", "Customer calls")
        users.file_it_request(driver, "dave", "Need an S3 bucket for the marketing assets", "By Friday")
        return rss_mb(web.pid)
    finally:
        for proc in (web, worker):
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
