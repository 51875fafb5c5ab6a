"""Where release 2's modules live now, for the values it stored.

DBOS pickles step outputs and the errors of failed steps into the system database, and a pickle names the module
of each class in it (`workflows.durable.Unanswered`). Work in flight when a new release starts is resumed from those
values, so the modules release 2 named must still import. Each old name is made an alias of the module that took
its place; the two old modules whose names are now packages (`workflows.access`, `workflows.offboarding`) stored
none of their classes, so they need none."""

from __future__ import annotations

import importlib
import sys

MOVED_IN_RELEASE_3 = {
    "workflows.approvals": "workflows.engine.approvals",
    "workflows.durable": "workflows.engine.durable",
    "workflows.handover": "workflows.engine.handover",
    "workflows.home": "workflows.engine.home",
    "workflows.housekeeping": "workflows.engine.housekeeping",
    "workflows.identity": "workflows.engine.identity",
    "workflows.kinds": "workflows.engine.kinds",
    "workflows.people": "workflows.engine.people",
    "workflows.replies": "workflows.engine.replies",
    "workflows.runtime": "workflows.engine.runtime",
    "workflows.sweep": "workflows.engine.sweep",
    "workflows.access_form": "workflows.access.form",
    "workflows.offboarding_plan": "workflows.offboarding.plan",
    "workflows.offboarding_steps": "workflows.offboarding.steps",
    "workflows.offboarding_record": "workflows.offboarding.record",
    "workflows.offboarding_transfer": "workflows.offboarding.transfer",
    "workflows.offboarding_end_grants": "workflows.offboarding.end_grants",
    "workflows.progress": "workflows.offboarding.progress",
    "workflows.key_rotation": "workflows.keys.rotation",
    "workflows.key_scan": "workflows.keys.scan",
    "workflows.key_preview": "workflows.keys.preview",
    "workflows.filing": "workflows.tickets.filing",
    "workflows.triage": "workflows.tickets.triage",
    "workflows.escalation": "workflows.tickets.escalation",
    "workflows.issue_sync": "workflows.tickets.issue_sync",
    "workflows.webhooks": "workflows.tickets.webhooks",
}


def alias_moved_modules() -> None:
    """Make each of release 2's module names import the module that replaced it (call before DBOS resumes work)."""
    for old, new in MOVED_IN_RELEASE_3.items():
        sys.modules.setdefault(old, importlib.import_module(new))
