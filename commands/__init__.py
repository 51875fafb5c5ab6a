"""Slack entry points. `register_all` is the one place listeners are attached to the app."""

from __future__ import annotations

from slack_bolt import App

from commands import access, approvals, engops, fallbacks, home
from commands.deps import Deps


def register_all(app: App, deps: Deps) -> None:
    engops.register(app, deps)
    access.register(app, deps)
    approvals.register(app, deps)
    home.register(app, deps)
    fallbacks.register(app)  # last: it matches everything the others did not claim
