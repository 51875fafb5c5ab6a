"""DBOS: the durable worker, and the dispatcher web handlers use to hand work over.

`serve` launches DBOS in-process (it runs queued work); `serve --no-worker` only enqueues,
through a DBOSClient, which starts no background threads; `worker` runs DBOS alone.
"""

from __future__ import annotations

import logging
import socket
import uuid
from typing import Any, Protocol

from dbos import DBOS, DBOSClient, DBOSConfig, EnqueueOptions

from bot.db.engine import plain_url
from workflows.durable import QUEUE, enqueue

log = logging.getLogger(__name__)

# Workflows written by one version must be recoverable by the next deploy; bump only when a
# workflow's step sequence changes incompatibly.
APPLICATION_VERSION = "engops-1"
SWEEP_SCHEDULE = "* * * * *"


class Dispatcher(Protocol):
    def enqueue(self, workflow: str, workflow_id: str, *args: Any) -> None: ...


def default_executor_id() -> str:
    return socket.gethostname()


def dbos_config(database_url: str, executor_id: str) -> DBOSConfig:
    return {
        "name": "engops-bot",
        "system_database_url": plain_url(database_url),
        "executor_id": executor_id,
        "application_version": APPLICATION_VERSION,
        "log_level": "WARNING",
        "run_migrations": True,
    }


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


def launch(database_url: str, executor_id: str, *, schedules: bool = True, poll_interval: float = 0.1) -> None:
    """Start DBOS: recover this executor's unfinished work, run the queue and the sweep schedule."""
    import workflows.registry  # noqa: F401  (imports every workflow module so all are registered)
    from workflows.sweep import sweep_tick

    DBOS(config=dbos_config(database_url, executor_id))
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=poll_interval, worker_concurrency=16)
    if schedules:
        DBOS.apply_schedules(
            [{"schedule_name": "sweep", "workflow_fn": sweep_tick, "schedule": SWEEP_SCHEDULE, "queue_name": QUEUE}]
        )
    enqueue("startup_sweep", f"startup-{executor_id}-{uuid.uuid4().hex[:8]}")
    log.info("worker %s launched", executor_id)


def shutdown(grace_seconds: int = 10) -> None:
    """Stop taking work; give running workflows a moment to finish (the rest resume at next start)."""
    DBOS.destroy(destroy_registry=False, workflow_completion_timeout_sec=grace_seconds)
