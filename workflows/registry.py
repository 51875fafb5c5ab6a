"""Imports every module that defines durable workflows, so each process knows them all by name."""

from workflows import sweep, webhooks  # noqa: F401
