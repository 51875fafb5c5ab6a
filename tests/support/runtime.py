"""The workflow runtime for unit tests of the engine: installed over a real database, with no Slack and no providers
(a rule that reaches one fails the test) and a clock that stands at `START` until told to move; and a `Queue` that
keeps the jobs handed to it instead of running them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bot.clock import ManualClock
from bot.db.engine import Database
from bot.policy import load_policy
from bot.settings import load_settings
from bot.slack.messenger import Messenger
from workflows.engine import runtime

EXAMPLE_POLICY = Path(__file__).resolve().parents[2] / "policy.example.yaml"
START = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


class _NoSlack:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a unit test of the engine reached Slack ({name})")


class Queue:
    """A dispatcher that keeps what was handed to it."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Any, ...]] = []

    def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None:
        self.jobs.append((workflow, workflow_id, *args))


@contextmanager
def installed_runtime(db: Database) -> Iterator[runtime.Runtime]:
    installed = runtime.Runtime(
        settings=load_settings({}),
        policy=load_policy(EXAMPLE_POLICY),
        db=db,
        slack=cast(Messenger, _NoSlack()),
        clock=ManualClock(START),
    )
    runtime.install(installed)
    try:
        yield installed
    finally:
        runtime.install(None)
