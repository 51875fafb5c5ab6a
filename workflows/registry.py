"""Imports every module that defines durable workflows, so each process knows them all by name."""

from workflows import access, approvals, home, replies, sweep, webhooks  # noqa: F401
