"""GitLab events for issues the bot filed: accepted durably, then synced to Slack by a workflow."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workflows.engine.durable import Dispatcher, durable


def accept_gitlab_event(dispatcher: Dispatcher, event: str, body: dict[str, Any]) -> None:
    """Raises ValueError for a body that is not a well-formed Issue/Note event (the webhook answers 400)."""
    from workflows.tickets.issue_sync import parse_event

    parse_event(event, body)
    # GitLab may deliver the same event twice; the body's hash makes the second a no-op.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    dispatcher.enqueue("gitlab_event", f"gitlab-{digest}", event, body)


@durable("gitlab_event")
def gitlab_event(event: str, body: dict[str, Any]) -> None:
    from workflows.tickets.issue_sync import sync_event

    sync_event(event, body)
