"""Intake by emoji (SPEC §6.4): `reaction_added` events, and the help desk's pick of a team when triage was unsure.

Both read the database only and hand over to `workflows.tickets.intake`; an event is acked whatever it says (Slack
retries an event it did not get a 200 for, and the workflow ids make a retried delivery the same work)."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot import permissions
from bot.db import queries
from bot.slack import intake_views
from commands.deps import Deps
from commands.interaction import channel_of, reply_id
from workflows.engine.replies import reply_later
from workflows.tickets.intake import reaction_counts, take_pick, take_reaction


def register(app: App, deps: Deps) -> None:
    @app.event("reaction_added")
    def reacted(ack: Ack, event: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        bot_user = _bot_user(body)
        reaction = reaction_counts(deps.policy.intake, event, bot_user)
        if reaction is None:
            return
        with deps.db.session() as session:
            verdict = permissions.intake(queries.actor_of(session, reaction.reactor, deps.policy))
        if not (verdict.ok or verdict.check_live):
            return  # not the help desk: their reaction is just a reaction
        event_id = str(body.get("event_id") or event.get("event_ts") or "")
        take_reaction(deps.dispatcher, reaction, event_id, bot_user or "", check_live=verdict.check_live)

    @app.action(re.compile(f"^{intake_views.PICK_TEAM}_\\d+$"))
    def picked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        picker = body["user"]["id"]
        container = body.get("container") or {}
        channel, question_ts = container.get("channel_id"), container.get("message_ts")
        pick = intake_views.read_pick(action.get("value"))
        if pick is None or not channel or not question_ts or pick.team not in deps.policy.teams:
            return
        with deps.db.session() as session:
            verdict = permissions.intake(queries.actor_of(session, picker, deps.policy))
        if not verdict.ok:
            reply_later(deps.dispatcher, reply_id(body), picker, channel_of(body), verdict.message)
            return
        click = str(action.get("action_ts") or body.get("trigger_id") or "")
        take_pick(deps.db, deps.dispatcher, str(channel), str(question_ts), pick, picker, click)


def _bot_user(body: dict[str, Any]) -> str | None:
    """The bot's own user id, from the event's authorizations (the installation the event is for)."""
    for authorization in body.get("authorizations") or []:
        if isinstance(authorization, dict) and authorization.get("is_bot") and authorization.get("user_id"):
            return str(authorization["user_id"])
    return None
