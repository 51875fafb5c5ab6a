"""Imports every module that defines durable workflows, so each process knows them all by name.

The top of `workflows`: the only module that sees every wing. The engine never imports it."""

from workflows.access import flow as access_flow  # noqa: F401
from workflows.engine import approvals, handover, home, housekeeping, replies, sweep  # noqa: F401
from workflows.keys import preview, retire, rollback, rotation, scan  # noqa: F401
from workflows.offboarding import flow as offboarding_flow  # noqa: F401
from workflows.tickets import escalation, filing, intake, issue_sync, retrain_schedule, webhooks  # noqa: F401
