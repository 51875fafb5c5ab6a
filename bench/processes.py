"""Starting the bot (or the baseline) as a process of its own and knowing when it answers."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from bench.slack_requests import command_body
from engops.sandbox.slack_driver import sign
from engops.sandbox.stack import SIGNING_SECRET
from tests.support.processes import free_port


def first_ack(port: int, deadline: float) -> float | None:
    body = command_body("/engops", "help")
    while time.monotonic() < deadline:
        ts = str(int(time.time()))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request(
                "POST",
                "/slack/events",
                body,
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
                },
            )
            if conn.getresponse().status == 200:
                return time.monotonic()
        except OSError:
            time.sleep(0.005)
    return None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spawn(args: list[str], env: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a server process on a free port; return its URL once it acks a signed request."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", *args, str(port)]
        if args[0] == "bench.bare_app"
        else [sys.executable, "-m", *args, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if first_ack(port, time.monotonic() + 60) is None:
        proc.kill()
        raise SystemExit(f"{args} did not start")
    return f"http://127.0.0.1:{port}", proc
