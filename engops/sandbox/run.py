"""`engops sandbox`: every stand-in, the bot and the browser console on one machine, no accounts.

Each start is a fresh demo: the stand-ins are seeded from the demo directory in memory, so the
sandbox's database (bot tables and the DBOS system tables, one SQLite file) is wiped first;
otherwise requests of an earlier run would point at Slack messages that no longer exist.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engops.runner import exit_now_if_threads_linger, until_stopped
from engops.sandbox.base import RunningServer
from engops.sandbox.console.server import ConsoleApp
from engops.sandbox.stack import Stack, StackOptions

DB_FILE = "engops.db"
EXECUTOR_ID = "sandbox"  # one sandbox per data_dir; stable so a restart owns its unfinished work


@dataclass
class RunningSandbox:
    stack: Stack
    console: RunningServer
    started_in: float  # seconds from start_sandbox() to a usable console

    @property
    def url(self) -> str:
        return self.console.url

    def stop(self) -> None:
        self.console.stop()
        self.stack.stop()


def wipe_database(data_dir: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        (data_dir / f"{DB_FILE}{suffix}").unlink(missing_ok=True)


class ConsolePortBusy(Exception):
    pass


def _serve_console(app: ConsoleApp, host: str, port: int) -> RunningServer:
    try:
        # probe first: on a taken port werkzeug prints its own advice and exits the process
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        return RunningServer(app, host=host, port=port)
    except OSError as exc:
        raise ConsolePortBusy(f"cannot start the sandbox console on {host}:{port}: {exc.strerror or exc}") from None


def start_sandbox(port: int = 3000, data_dir: Path = Path(".sandbox"), host: str = "127.0.0.1") -> RunningSandbox:
    """Bind the console first (a busy port fails at once), then start a fresh stack behind it."""
    started = time.monotonic()
    app = ConsoleApp()
    console = _serve_console(app, host, port)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        wipe_database(data_dir)
        stack = Stack.start(
            StackOptions(data_dir=data_dir, database_url=f"sqlite:///{data_dir / DB_FILE}", executor_id=EXECUTOR_ID)
        )
        try:
            stack.wait_idle(timeout=60)  # the start-up sweep fills the people and roles caches commands read
        except BaseException:
            stack.stop()
            raise
    except BaseException:
        console.stop()
        raise
    app.attach(stack)
    return RunningSandbox(stack=stack, console=console, started_in=time.monotonic() - started)


def how_to_try(sandbox: RunningSandbox, data_dir: Path) -> str:
    return f"""
EngOps sandbox is ready (started in {sandbox.started_in:.1f} s)

  console   {sandbox.url}        <- open this in a browser
  the bot   {sandbox.stack.url}/slack/events   (receives signed Slack requests from the console)
  database  {data_dir / DB_FILE}   (wiped at every start)

Try it (pick who you are at the top left; the right-hand panel shows Okta, Google, AWS and GitLab):
  1. As alice in #general type  /access  -> Okta group "aws-sandbox-admins", 4h, a reason -> Submit
  2. As mona (alice's manager): EngOps Bot -> Messages -> Approve; then as erin (the group's owner): Approve
  3. The panel shows alice@example.com in aws-sandbox-admins; alice's DM says it is done
  More: /it in #bt-integrations, /offboard as hank (help desk), /rotate-keys as alice, /engops help,
        "Escalate to EngOps" from the ... menu of any message, the App Home tab of EngOps Bot.

Ctrl-C stops everything.
"""


def run_sandbox(port: int, data_dir: Path, wait: Callable[[], None]) -> None:
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)  # Bolt's start-up notice about tokens is noise here
    try:
        sandbox = start_sandbox(port=port, data_dir=data_dir)
    except ConsolePortBusy as exc:
        print(f"{exc}. Is another sandbox running? Try --port.", file=sys.stderr)
        raise SystemExit(1) from None
    print(how_to_try(sandbox, data_dir), flush=True)
    try:
        until_stopped(wait)
    finally:
        print("stopping the sandbox…", file=sys.stderr, flush=True)
        sandbox.stop()
    exit_now_if_threads_linger()
