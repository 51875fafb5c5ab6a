"""The two ways the Slack stand-in says no: to an API caller, and to an app's answer."""

from __future__ import annotations

from typing import Any


class SlackError(Exception):
    """An API error Slack reports as `{"ok": false, "error": code}` (HTTP 200 unless said); `fields` are
    further top-level keys of that answer (missing_scope's `needed` and `provided`)."""

    def __init__(self, code: str, *messages: str, status: int = 200, fields: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.messages = list(messages)
        self.status = status
        self.fields = dict(fields or {})


class SlackProtocolError(Exception):
    """The app answered Slack in a way Slack would not accept (shown as an error to the user)."""
