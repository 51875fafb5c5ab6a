"""Ctrl-C stops `engops sandbox` (issue 15, defect 12).

A workflow still running when the sandbox stopped went on in a non-daemon thread: it kept calling the
stand-ins it had just lost, retrying for most of a minute, and the process could not exit until it gave up.
Each test starts `engops sandbox` as a person does, waits for "is ready", and sends SIGINT. The deadline only
stops a hung test: the sandbox stops in a few seconds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import free_port

EXIT_DEADLINE = 20.0  # seconds; the bug kept the process alive for 40 s and more
READY = "EngOps sandbox is ready"

# `engops sandbox` with GitLab answering slowly (the stand-ins' own latency knob, as the benchmarks use it), so a
# filing is surely still at GitLab when Ctrl-C comes.
SLOW_GITLAB = """
import sys
import engops.sandbox.run as run
from engops.cli import main

started = run.start_sandbox

def start_with_slow_gitlab(**kwargs):
    sandbox = started(**kwargs)
    sandbox.stack.gitlab.latency = 5.0
    return sandbox

run.start_sandbox = start_with_slow_gitlab
sys.argv = ["engops", *sys.argv[1:]]
main()
"""


def start(argv: list[str], data_dir: Path) -> subprocess.Popen[str]:
    """Start the sandbox in a process of its own; returns once it has said it is ready."""
    log = (data_dir / "stderr.log").open("w")
    process = subprocess.Popen(
        [*argv, "sandbox", "--port", str(free_port()), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=data_dir,  # a person's own directory, not the checkout
    )
    assert process.stdout is not None
    for line in process.stdout:
        if READY in line:
            return process
    process.wait(timeout=EXIT_DEADLINE)
    raise AssertionError(f"the sandbox did not start:\n{(data_dir / 'stderr.log').read_text()[-3000:]}")


def console_url(process: subprocess.Popen[str]) -> str:
    """The console's address, from what the sandbox printed after "is ready"."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip().startswith("console"):
            return line.split()[1]
    raise AssertionError("the sandbox did not print its console's address")


def console(url: str, action: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{url}/api/{action}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def interrupt(process: subprocess.Popen[str], data_dir: Path) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(
            f"still running {EXIT_DEADLINE:.0f} s after Ctrl-C:\n{(data_dir / 'stderr.log').read_text()[-3000:]}"
        ) from None
    assert process.returncode == 0


@pytest.mark.parametrize("after_ready", [0.0, 2.0])
def test_ctrl_c_soon_after_ready_stops_the_sandbox(tmp_path: Path, after_ready: float) -> None:
    process = start([sys.executable, "-m", "engops.cli"], tmp_path)
    time.sleep(after_ready)  # when the person presses Ctrl-C, not a wait for the bot
    interrupt(process, tmp_path)


def test_ctrl_c_while_a_request_is_being_filed_stops_the_sandbox(tmp_path: Path) -> None:
    process = start([sys.executable, "-c", SLOW_GITLAB], tmp_path)
    url = console_url(process)
    console(url, "command", {"user": "carol", "channel": "bt-integrations", "command": "/it", "text": "VPN is down"})
    with urllib.request.urlopen(f"{url}/api/screen?user=carol", timeout=30) as response:
        modal = json.loads(response.read())["modal"]
    assert console(url, "submit", {"user": "carol", "view_id": modal["id"], "values": {}}) == {"ok": True}
    time.sleep(1.0)  # the filing workflow is at the slow GitLab now
    interrupt(process, tmp_path)


def test_ctrl_c_while_the_sandbox_starts_stops_it_once_started(tmp_path: Path) -> None:
    """A Ctrl-C while it is still starting is kept: it finishes starting and stops, instead of a KeyboardInterrupt
    in the middle of start-up that left threads running and the process with them."""
    log = tmp_path / "stderr.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "engops.cli", "sandbox", "--port", str(free_port()), "--data-dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60  # a hang guard: the policy's warnings come early in start-up
    while "policy" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    interrupt(process, tmp_path)  # type: ignore[arg-type]
    assert "stopping the sandbox" in log.read_text()
