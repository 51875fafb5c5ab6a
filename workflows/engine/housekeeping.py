"""What the sweep tidies up: records no durable step can need any more."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflows.engine import runtime
from workflows.engine.sweep import Job, due_handler

# A step only reads its post entries when it runs again; a worker down for longer than this has
# bigger problems than a repeated message.
KEEP_POST_ENTRIES = timedelta(days=30)


@due_handler("housekeeping.forget_old_posts")
def forget_old_posts(now: datetime) -> list[Job]:
    ledger = runtime.current().slack.ledger
    if ledger is not None:
        ledger.forget_before(now - KEEP_POST_ENTRIES)
    return []
