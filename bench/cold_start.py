"""Cold start of `engops serve` to its first ack, and the web process's resident memory.

    .venv/bin/python bench/cold_start.py [--runs 3]

The stand-ins run in this process; `engops serve` is a fresh process each run (in-process worker).
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
from bot.sandbox.stack import Stack, StackOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    data = Path(tempfile.mkdtemp(prefix="engops-cold-"))
    stack = Stack.start(StackOptions(data_dir=data))
    stack.stop_app()  # keep the stand-ins and the migrated database; the bot runs as a subprocess
    starts, memory = [], []
    try:
        for _ in range(args.runs):
            port = free_port()
            env = {**os.environ, **stack.env}
            begun = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
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
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        stack.stop()
    print("| measure | runs | median | max | target |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| process start to first ack (s) | {len(starts)} | {statistics.median(starts):.2f} | {max(starts):.2f} "
        "| <= 1.5 |"
    )
    print(
        f"| resident memory of `engops serve` (MB) | {len(memory)} | {statistics.median(memory):.0f} | "
        f"{max(memory):.0f} | <= 150 |"
    )


if __name__ == "__main__":
    main()
