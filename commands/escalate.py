"""The "Escalate to EngOps" message shortcut, `/escalate`, and **I'm on it** on escalation cards."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import permissions
from bot.db import queries
from bot.slack import triage_views
from bot.slack.escape import mention
from commands.deps import Deps
from commands.interaction import channel_of, open_modal, reply_id, request_id_from
from commands.it_request import request_modal, submit, submit_pick
from workflows.engine.replies import reply_later
from workflows.tickets.escalation import acknowledge, show_permalink


def register(app: App, deps: Deps) -> None:
    @app.shortcut("escalate_message")
    def escalate_message(ack: Ack, shortcut: dict[str, Any]) -> None:
        ack()
        user = shortcut["user"]["id"]
        channel = shortcut.get("channel") or {}
        trigger_id = shortcut["trigger_id"]
        if not (verdict := may_escalate(deps, user)).ok:
            refused = triage_views.refused_modal(verdict.message)
            open_modal(deps, refused, trigger_id=trigger_id, user=user, channel=channel.get("id"))
            return
        message = shortcut.get("message") or {}
        ts = str(message.get("ts") or shortcut.get("message_ts") or "")
        meta = {
            "channel_id": channel.get("id"),
            "channel_name": channel.get("name"),
            "message_ts": ts,
            "thread_ts": message.get("thread_ts") or ts,
        }
        author = mention(str(message.get("user") or ""), "someone")
        source = f"Escalating a message by {author}; its thread goes into the issue. Link: resolving…"
        view = request_modal(deps, "escalation", str(message.get("text") or ""), meta, source=source)
        opened = open_modal(deps, view, trigger_id=trigger_id, user=user, channel=channel.get("id"))
        shown = (opened or {}).get("view") or {}
        if shown.get("id") and channel.get("id") and ts:
            show_permalink(deps.dispatcher, str(shown["id"]), view, str(channel["id"]), ts, shown.get("hash"))

    @app.command("/escalate")
    def escalate(ack: Ack, command: dict[str, Any]) -> None:
        user = command["user_id"]
        if not (verdict := may_escalate(deps, user)).ok:
            ack(text=verdict.message)
            return
        ack()
        text = command.get("text") or ""
        reference = _first_url(text)
        meta = {"channel_id": command.get("channel_id"), "channel_name": command.get("channel_name")}
        view = request_modal(deps, "escalation", text, meta, reference=reference)
        open_modal(deps, view, trigger_id=command["trigger_id"], user=user, channel=command.get("channel_id"))

    @app.view(triage_views.ESCALATION_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not (verdict := may_escalate(deps, body["user"]["id"])).ok:
            ack(response_action="errors", errors={"summary": verdict.message[:150]})
            return
        submit(deps, ack, body, view, "escalation")

    @app.view(triage_views.ESCALATION_TEAM_CALLBACK)
    def team_picked(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not (verdict := may_escalate(deps, body["user"]["id"])).ok:
            ack(response_action="errors", errors={"summary": verdict.message[:150]})
            return
        submit_pick(deps, ack, body, view, "escalation")

    @app.action(triage_views.ESCALATION_ACK)
    def on_it(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        escalation_id = request_id_from(action)
        if escalation_id is None:
            return
        outcome = acknowledge(
            deps.db, deps.dispatcher, deps.policy, escalation_id, body["user"]["id"], deps.clock.now()
        )
        if not outcome.ok:
            reply_later(deps.dispatcher, reply_id(body), body["user"]["id"], channel_of(body), outcome.message)


def may_escalate(deps: Deps, slack_id: str) -> permissions.Verdict:
    with deps.db.session() as session:
        return permissions.escalate(queries.actor_of(session, slack_id, deps.policy))


def _first_url(text: str) -> str:
    """The first link in `/escalate` text (Slack sends links as `<url>` or `<url|label>`)."""
    for word in text.split():
        if word.startswith("<http") and word.endswith(">"):
            return word[1:-1].split("|", 1)[0]
        if word.startswith(("http://", "https://")):
            return word
    return ""
