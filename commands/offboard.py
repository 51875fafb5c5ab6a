"""`/offboard <@user or email> […]`, its preview modal, and **Undo** on a run's progress message."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot import permissions
from bot.db import queries
from bot.slack import modals
from bot.slack.escape import escape
from bot.slack.offboarding_views import MAX_PREVIEW_PEOPLE, PREVIEW_CALLBACK, REASON_BLOCK, UNDO, resolving_modal
from commands.deps import Deps
from commands.interaction import channel_of, metadata, open_modal, reply_id, request_id_from
from workflows.engine.approvals import open_request
from workflows.engine.identity import outside_domain
from workflows.engine.replies import reply_later
from workflows.offboarding.flow import approvers_label, claim_undo, new_request, refusal_text, start_preview

USAGE = (
    "Who is leaving? `/offboard @name` or `/offboard name@example.com`; several people at once are one "
    "request. For a long list use `engops offboard --file people.csv`."
)
# Slack escapes mentions as <@U123|name> and may link emails as <mailto:a@b.c|a@b.c>.
_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
_MAILTO = re.compile(r"<mailto:([^|>\s]+)(?:\|[^>]*)?>")
_EMAIL = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


def parse_targets(text: str) -> tuple[list[str], list[str]]:
    """(`@U…` Slack ids and emails, in order and without repeats; words that are neither)."""
    targets: list[str] = []
    unreadable: list[str] = []
    for word in re.split(r"[\s,;]+", text.strip()):
        if not word:
            continue
        if mention := _MENTION.fullmatch(word):
            targets.append("@" + mention.group(1))
        elif mailto := _MAILTO.fullmatch(word):
            targets.append(mailto.group(1).lower())
        elif _EMAIL.fullmatch(word):
            targets.append(word.lower())
        else:
            unreadable.append(word)
    return list(dict.fromkeys(targets)), unreadable


def allowed_to_offboard(deps: Deps, slack_id: str) -> tuple[str | None, str | None]:
    """The caller's email, and why they may not offboard, from the caches (no Slack call before the ack). A role
    the cache does not confirm is not a refusal: the preview and the plan check it live."""
    with deps.db.session() as session:
        actor = queries.actor_of(session, slack_id, deps.policy)
    verdict = permissions.offboard(actor, deps.policy.offboarding.allowed)
    return actor.email, None if verdict.ok or verdict.check_live else verdict.message


def command_problem(deps: Deps, user: str, targets: list[str], unreadable: list[str]) -> str | None:
    email, refused = allowed_to_offboard(deps, user)
    if refused:
        return refused
    if unreadable:
        words = ", ".join(f"`{escape(w[:60])}`" for w in unreadable[:5])
        return f"I can't tell who {words} is: mention people (@name) or give their email addresses."
    if not targets:
        return USAGE
    if len(targets) > MAX_PREVIEW_PEOPLE:
        return (
            f"That is {len(targets)} people; `/offboard` takes up to {MAX_PREVIEW_PEOPLE}. "
            "Use `engops offboard --file people.csv` for more."
        )
    if f"@{user}" in targets or (email and email.lower() in targets):
        return "You cannot offboard yourself."
    outside = [o for t in targets if not t.startswith("@") and (o := outside_domain(t, deps.policy.org.email_domain))]
    if outside:
        return (
            "; ".join(escape(o.text) for o in outside[:5])
            + f". Only people of {deps.policy.org.email_domain} can be offboarded; nothing was started."
        )
    return None


def register(app: App, deps: Deps) -> None:
    @app.command("/offboard")
    def offboard(ack: Ack, command: dict[str, Any]) -> None:
        user = command["user_id"]
        targets, unreadable = parse_targets(command.get("text") or "")
        problem = command_problem(deps, user, targets, unreadable)
        if problem:
            ack(text=problem)
            return
        ack()
        channel = command.get("channel_id")
        view = resolving_modal(len(targets), channel)
        opened = open_modal(deps, view, trigger_id=command["trigger_id"], user=user, channel=channel)
        if opened is not None:
            start_preview(deps.dispatcher, str(opened["view"]["id"]), user, targets, channel)

    @app.view(PREVIEW_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        meta = metadata(view)
        emails = [str(e) for e in meta.get("people", []) if isinstance(e, str)]
        if not emails:  # still resolving, or nobody to offboard: there is no submit button then
            ack()
            return
        reason = (modals.state_value(view, REASON_BLOCK) or "").strip()
        email, refused = allowed_to_offboard(deps, user)
        error = None
        if not reason:
            error = "Say why these people are being offboarded."
        elif refused:
            error = refused
        elif email and email.lower() in emails:
            error = "You cannot offboard yourself."
        if error or not email:
            ack(response_action="errors", errors={REASON_BLOCK: (error or refusal_text(deps.policy))[:150]})
            return
        channel = meta.get("channel_id")
        req = open_request(
            deps.db,
            deps.dispatcher,
            new_request(
                deps.policy,
                requester_slack_id=user,
                requester_email=email,
                emails=emails,
                reason=reason,
                source="Slack",
                channel_id=channel if isinstance(channel, str) else None,
            ),
        )
        ack(
            response_action="update",
            view=modals.done_modal(
                "Offboarding submitted",
                f"*{req.ref}* waits for approval by {escape(approvers_label(deps.policy))}. Nothing changes before "
                "that; the progress is posted where you ran `/offboard`.",
            ),
        )

    @app.action(UNDO)
    def undo(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = request_id_from(action)
        if request_id is None:
            return
        outcome = claim_undo(deps.db, deps.dispatcher, request_id, body["user"]["id"], deps.clock.now())
        if not outcome.ok:
            reply_later(deps.dispatcher, reply_id(body), body["user"]["id"], channel_of(body), outcome.message)
