"""Running the in-process stack: started for a test, moved on in time to the next sweep, crashed and restarted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engops.sandbox.stack import Stack, StackOptions


@contextmanager
def started_stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """The stack the scenario tests use: a manual clock and short provider back-off."""
    running = Stack.start(
        StackOptions(data_dir=tmp_path, database_url=database_url, manual_clock=True, fast_retries=True)
    )
    try:
        yield running
    finally:
        running.stop()


def sweep_after(stack: Stack, **delta: float) -> None:
    stack.advance(**delta)
    stack.run_sweep()
    stack.wait_idle()


def crash_and_restart(stack: Stack, hit: threading.Event) -> None:
    assert hit.wait(15), "the failpoint was never reached"
    stack.stop_app()  # the workflow stays pending in the database, as after kill -9
    stack.start_app()
    stack.wait_idle()
