"""The durable layer: workflows and steps registered by stable names, and the dispatchers that hand work to them.

Any process can enqueue a workflow by name: in the worker's own process (`InProcessDispatcher`), or through the
system database alone from a web replica that runs no worker (`ClientDispatcher`). Launching and stopping DBOS
belongs to the process that runs it (`engops.worker`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, Protocol, TypeVar, cast

from dbos import DBOS, DBOSClient, EnqueueOptions

from bot.db.engine import plain_url

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

QUEUE = "engops"
# Workflows written by one version must be recoverable by the next deploy; bump only when a
# workflow's step sequence changes incompatibly.
APPLICATION_VERSION = "engops-1"
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


class Dispatcher(Protocol):
    def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None: ...


class InProcessDispatcher:
    """Enqueue on the DBOS instance launched in this process."""

    def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None:
        enqueue(workflow, workflow_id, *args)


class ClientDispatcher:
    """Enqueue through the system database only (web replicas without a worker)."""

    def __init__(self, database_url: str) -> None:
        self._client = DBOSClient(system_database_url=plain_url(database_url))

    def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None:
        options: EnqueueOptions = {
            "workflow_name": workflow,
            "queue_name": QUEUE,
            "workflow_id": workflow_id,
            "app_version": APPLICATION_VERSION,
        }
        self._client.enqueue(options, *args)

    def close(self) -> None:
        self._client.destroy()
