"""Registration of durable workflows by stable name, so any process can enqueue them by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar, cast

from dbos import DBOS

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

QUEUE = "engops"
REGISTRY: dict[str, Callable[..., Any]] = {}


def durable(name: str) -> Callable[[F], F]:
    """A DBOS workflow registered under `name` (stable across refactors: ids and names are stored)."""

    def wrap(fn: F) -> F:
        workflow = DBOS.workflow(name=name)(fn)
        REGISTRY[name] = workflow
        return cast(F, workflow)

    return wrap


def step(name: str, **kwargs: Any) -> Callable[[F], F]:
    """A DBOS step (at-least-once: make it idempotent), registered under `name`.

    DBOS records each step's name beside its output and, when it resumes a workflow, refuses a step whose name
    differs from the one recorded. So the name is pinned here, not taken from the module: moving a module must not
    strand work that was in flight when the new release started. Names written by a release stay as they were
    (they look like the module paths of release 2); new steps may use any name not yet taken."""

    def wrap(fn: F) -> F:
        return cast(F, DBOS.step(name=name, **kwargs)(fn))

    return wrap


def enqueue(workflow: str, workflow_id: str, *args: Any) -> None:
    """Enqueue from inside the worker (workflows and steps); the same id never runs twice."""
    from dbos import SetWorkflowID

    with SetWorkflowID(workflow_id):
        DBOS.enqueue_workflow(QUEUE, REGISTRY[workflow], *args)


class Unanswered(NamedTuple):
    """A step's result when a provider did not answer (after the adapter's own retries): worth asking again later."""

    why: str


def patiently(attempt: Callable[[], T | Unanswered], pauses: Iterable[float]) -> T | Unanswered:
    """From a workflow body: run the step `attempt` again after each pause for as long as it comes back
    `Unanswered`. The pauses are durable (`DBOS.sleep`): a process that dies while waiting resumes the wait."""
    outcome = attempt()
    for pause in pauses:
        if not isinstance(outcome, Unanswered):
            break
        DBOS.sleep(pause)
        outcome = attempt()
    return outcome
