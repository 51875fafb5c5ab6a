"""Hand-overs that survive a crash: a transactional outbox in front of the durable queue.

A click commits a state change and then hands the work that follows to the queue. A process that died between
the two would leave the change with nothing to carry it out: an approval never executed, a request never
planned. So the hand-over is written down in the change's own transaction (`promise`) and sent once it has
committed (`deliver`). The sweep looks at what was promised more than a grace period ago: what the queue knows
is cleared, what it does not know is sent now (and cleared on a later sweep, once the queue knows it). A row is
cleared only when its job is in the queue, so no crash of any process loses one; jobs have stable workflow ids,
so nothing is started twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from dbos import DBOS
from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot.db.models import Handover
from bot.db.types import utcnow
from workflows.engine import runtime
from workflows.engine.durable import Dispatcher
from workflows.engine.sweep import Job, due_handler

log = logging.getLogger(__name__)

# Long enough that the process that promised has sent it (it does so right after its commit); measured on the
# wall clock, not the policy clock tests move: it is about processes dying, not about business time.
GRACE = timedelta(seconds=30)
BATCH = 500


def promise(session: Session, workflow: str, workflow_id: str, *args: Any) -> Job:
    """Record, inside the caller's transaction, the job to start once it commits; returns it for `deliver`."""
    session.merge(Handover(workflow_id=workflow_id, workflow=workflow, args=list(args), created_at=utcnow()))
    return (workflow, workflow_id, list(args))


def deliver(dispatcher: Dispatcher, *jobs: Job) -> None:
    for workflow, workflow_id, args in jobs:
        dispatcher.enqueue(workflow, workflow_id, *args)


@due_handler("handover.resend")
def resend_due(now: datetime) -> list[Job]:
    cutoff = utcnow() - GRACE
    db = runtime.current().db
    with db.session() as session:
        rows = session.exec(select(Handover).where(col(Handover.created_at) <= cutoff).limit(BATCH)).all()
    if not rows:
        return []
    queued = {
        w.workflow_id
        for w in DBOS.list_workflows(workflow_ids=[r.workflow_id for r in rows], load_input=False, load_output=False)
    }
    if queued:
        with db.session() as session:
            session.execute(delete(Handover).where(col(Handover.workflow_id).in_(sorted(queued))))
    lost = [(r.workflow, r.workflow_id, list(r.args)) for r in rows if r.workflow_id not in queued]
    for workflow, workflow_id, _ in lost:
        log.warning("re-sending %s (%s): its process stopped before handing it over", workflow_id, workflow)
    return lost
