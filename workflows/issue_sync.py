"""Back-sync of GitLab issue changes into the originating Slack thread (SPEC §6.5)."""

from __future__ import annotations

from typing import Any


def sync_event(event: str, body: dict[str, Any]) -> None:
    """Filled in by the triage work; events for issues the bot did not file are ignored."""
    return None
