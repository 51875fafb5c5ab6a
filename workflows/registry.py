"""Imports every module that defines durable workflows, so each process knows them all by name."""

from workflows import (  # noqa: F401
    access,
    approvals,
    escalation,
    filing,
    handover,
    home,
    housekeeping,
    issue_sync,
    key_preview,
    key_rotation,
    key_scan,
    offboarding,
    replies,
    sweep,
    webhooks,
)
