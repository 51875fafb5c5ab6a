"""DBOS in this process: launch (recovering unfinished work), the sweep schedule, shutdown.

`serve` launches DBOS in-process (it runs queued work); `serve --no-worker` only enqueues,
through a DBOSClient, which starts no background threads; `worker` runs DBOS alone.
"""

from __future__ import annotations

import logging
import socket
import uuid

from dbos import DBOS, DBOSConfig

from bot.db.engine import plain_url
from engops.audit_sealer import AuditSealer
from workflows.engine.durable import APPLICATION_VERSION, QUEUE, enqueue
from workflows.engine.stored_names import alias_moved_modules

log = logging.getLogger(__name__)

SWEEP_SCHEDULE = "* * * * *"


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


def launch(database_url: str, executor_id: str, *, schedules: bool = True, poll_interval: float = 0.1) -> None:
    """Start DBOS: recover this executor's unfinished work, run the queue and the sweep schedule."""
    import workflows.registry  # noqa: F401  (imports every workflow module so all are registered)
    from workflows.engine.sweep import sweep_tick

    alias_moved_modules()
    DBOS(config=dbos_config(database_url, executor_id))
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=poll_interval, worker_concurrency=16)
    if schedules:
        DBOS.apply_schedules(
            [{"schedule_name": "sweep", "workflow_fn": sweep_tick, "schedule": SWEEP_SCHEDULE, "queue_name": QUEUE}]
        )
    enqueue("startup_sweep", f"startup-{executor_id}-{uuid.uuid4().hex[:8]}")
    _sealers.append(AuditSealer(database_url))
    _sealers[-1].start()
    log.info("worker %s launched", executor_id)


_sealers: list[AuditSealer] = []


def shutdown(grace_seconds: int = 10) -> None:
    """Stop taking work; give running workflows a moment to finish (the rest resume at next start)."""
    DBOS.destroy(destroy_registry=False, workflow_completion_timeout_sec=grace_seconds)
    while _sealers:
        _sealers.pop().stop()
