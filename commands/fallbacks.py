"""Listeners of last resort: anything no other listener claimed gets a clear answer, never a 404."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.slack.escape import escape


def register(app: App) -> None:
    """Register after every other listener: Bolt runs the first one that matches."""

    @app.command(re.compile(r".*"))
    def unknown_command(ack: Ack, command: dict[str, Any]) -> None:
        ack(text=f"I don't know the command `{escape(command.get('command', '?'))}`. Try `/engops help`.")

    @app.action(re.compile(r".*"))
    def unknown_action(ack: Ack) -> None:
        ack()

    @app.view(re.compile(r".*"))
    def unknown_view(ack: Ack) -> None:
        ack()

    @app.shortcut(re.compile(r".*"))
    def unknown_shortcut(ack: Ack) -> None:
        ack()

    @app.options(re.compile(r".*"))
    def unknown_options(ack: Ack) -> None:
        ack(options=[])

    @app.event(re.compile(r".*"))
    def other_events() -> None:
        pass
