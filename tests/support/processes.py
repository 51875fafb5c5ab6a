"""The bot as real processes beside a `Stack`'s stand-ins: `engops serve --no-worker` web replicas and
`engops worker --id ID` workers, started, SIGKILLed and restarted like an operator (or the OOM killer) would.

Used by the reliability tests and the scale-out benchmark. Each process logs to its own file, so a
failing test can show what the processes said.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKER_STARTED = "worker running"  # logged by engops.runner.run_worker once DBOS is launched


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int, path: str = "/readyz") -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


@dataclass
class BotProcess:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes]
    url: str | None = None  # web replicas only
    starts: int = 1

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class BotProcesses:
    """Every bot process of one test; `stop_all()` (or the context manager) ends them."""

    env: dict[str, str]
    log_dir: Path
    procs: dict[str, BotProcess] = field(default_factory=dict)

    def __enter__(self) -> BotProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def _spawn(self, name: str, argv: list[str]) -> BotProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        previous = self.procs.get(name)
        with log.open("ab") as out:
            out.write(f"--- start {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                [sys.executable, "-m", "engops.cli", *argv],
                env={**os.environ, **self.env},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started = BotProcess(name, argv, log, proc, starts=previous.starts + 1 if previous else 1)
        self.procs[name] = started
        return started

    def web(self, name: str, timeout: float = 60.0) -> str:
        """Start a web-only replica; returns its URL once /readyz answers."""
        port = free_port()
        process = self._spawn(name, ["serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)])
        deadline = time.monotonic() + timeout
        while not answers(port):
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"web replica {name} did not start:\n{process.log_text()[-3000:]}")
            time.sleep(0.05)
        process.url = f"http://127.0.0.1:{port}"
        return process.url

    def worker(self, worker_id: str) -> BotProcess:
        """Start `engops worker --id worker_id` (the same id after a crash: it recovers its own work)."""
        return self._spawn(worker_id, ["worker", "--id", worker_id])

    def wait_started(self, name: str, timeout: float = 60.0) -> None:
        """Until a worker has launched DBOS (recovered its unfinished work and polls the queue)."""
        process = self.procs[name]
        deadline = time.monotonic() + timeout
        while process.log_text().count(WORKER_STARTED) < process.starts:
            if not process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not start:\n{process.log_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hook runs, in-flight steps stop wherever they are."""
        process = self.procs[name]
        process.proc.send_signal(signal.SIGKILL)
        process.proc.wait(timeout=30)
        with process.log.open("ab") as out:
            out.write(b"--- SIGKILL\n")

    def restart(self, name: str) -> BotProcess:
        """Start a stopped worker again with the same id (`wait_started` tells when it is up)."""
        process = self.procs[name]
        if process.alive():
            raise RuntimeError(f"{name} is still running")
        return self._spawn(name, process.argv)

    def stop_all(self, grace: float = 20.0) -> None:
        for process in self.procs.values():
            if process.alive():
                process.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.procs.values():
            try:
                process.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.proc.kill()
                process.proc.wait(timeout=10)

    def logs(self, tail: int = 2000) -> str:
        return "\n".join(f"== {p.name}\n{p.log_text()[-tail:]}" for p in self.procs.values())
