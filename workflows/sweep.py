"""The scheduled sweep: finds what is due (expiries, reminders, re-pages) and acts on it.

Time-bound state lives in rows with due times, never in in-memory timers, so whatever came due
while no worker was running is handled by the first sweep after start. Each kind of due item is
a `DueHandler`; a handler returns how many items it acted on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from workflows import runtime
from workflows.durable import durable, step

log = logging.getLogger(__name__)

DueHandler = Callable[[datetime], int]
_HANDLERS: dict[str, DueHandler] = {}


def due_handler(name: str) -> Callable[[DueHandler], DueHandler]:
    def wrap(fn: DueHandler) -> DueHandler:
        _HANDLERS[name] = fn
        return fn

    return wrap


def handler_names() -> list[str]:
    return sorted(_HANDLERS)


@step(retries_allowed=True, max_attempts=3)
def _run_handler(name: str, now_iso: str) -> int:
    return _HANDLERS[name](datetime.fromisoformat(now_iso))


def run_sweep(now: datetime) -> dict[str, int]:
    """Run every due handler once; one failing handler does not stop the others."""
    done: dict[str, int] = {}
    for name in handler_names():
        try:
            done[name] = _run_handler(name, now.isoformat())
        except Exception:
            log.exception("sweep handler %s failed", name)
            done[name] = -1
    return done


@durable("sweep_tick")
def sweep_tick(scheduled_time: datetime, context: Any) -> None:
    run_sweep(runtime.current().clock.now())
