"""The scheduled sweep: finds what is due (expiries, reminders, re-pages) and hands it to workflows.

Time-bound state lives in rows with due times, never in in-memory timers, so whatever came due
while no worker was running is handled by the first sweep after start. Each kind of due item is
a `DueHandler`: it marks what it found and returns the jobs to start. Jobs carry stable workflow
ids, so finding the same item on the next tick starts nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from workflows.engine import runtime
from workflows.engine.durable import durable, enqueue, step

log = logging.getLogger(__name__)

Job = tuple[str, str, list[Any]]  # workflow name, workflow id, arguments
DueHandler = Callable[[datetime], list[Job]]
_HANDLERS: dict[str, DueHandler] = {}


def due_handler(name: str) -> Callable[[DueHandler], DueHandler]:
    def wrap(fn: DueHandler) -> DueHandler:
        _HANDLERS[name] = fn
        return fn

    return wrap


def handler_names() -> list[str]:
    return sorted(_HANDLERS)


@step("workflows.sweep._run_handler", retries_allowed=True, max_attempts=3)
def _run_handler(name: str, now_iso: str) -> list[Job]:
    return _HANDLERS[name](datetime.fromisoformat(now_iso))


def run_sweep(now: datetime) -> dict[str, int]:
    """Run every due handler once and start the jobs they found; one failing handler stops no other.

    Called from the scheduled workflow, or directly (tests, `engops` maintenance)."""
    done: dict[str, int] = {}
    for name in handler_names():
        try:
            jobs = _run_handler(name, now.isoformat())
        except Exception:
            log.exception("sweep handler %s failed", name)
            done[name] = -1
            continue
        for workflow, workflow_id, args in jobs:
            enqueue(workflow, workflow_id, *args)
        done[name] = len(jobs)
    return done


@durable("sweep_tick")
def sweep_tick(scheduled_time: datetime, context: Any) -> None:
    run_sweep(runtime.current().clock.now())


@durable("startup_sweep")
def startup_sweep() -> None:
    """At worker start: refresh caches and catch up on whatever came due while nothing ran."""
    _refresh_roles_now()
    run_sweep(runtime.current().clock.now())


@step("workflows.sweep._refresh_roles_now", retries_allowed=True, max_attempts=3)
def _refresh_roles_now() -> None:
    from workflows.engine import people

    people.refresh_roles(runtime.current().clock.now(), force=True)
