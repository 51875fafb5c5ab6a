"""Slack entry points. `register_all` is the one place listeners are attached to the app."""

from __future__ import annotations

from slack_bolt import App

from commands import access, approvals, engops, escalate, fallbacks, home, intake, it_request, offboard, rotate_keys
from commands.deps import Deps


def register_all(app: App, deps: Deps) -> None:
    engops.register(app, deps)
    access.register(app, deps)
    approvals.register(app, deps)
    home.register(app, deps)
    offboard.register(app, deps)
    rotate_keys.register(app, deps)
    it_request.register(app, deps)
    escalate.register(app, deps)
    intake.register(app, deps)
    fallbacks.register(app)  # last: it matches everything the others did not claim
