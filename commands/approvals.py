"""Buttons on request cards: Approve, Deny (with its reason modal), Retry failed steps, Revoke now."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from sqlmodel import select

from bot.db.models import Grant
from bot.slack import cards, modals
from commands.deps import Deps
from commands.interaction import channel_of, metadata, open_modal, reply_id, request_id_from
from workflows.access.flow import revoke
from workflows.engine.approvals import Outcome, ask_decision, check_decision, retry
from workflows.engine.replies import reply_later


def register(app: App, deps: Deps) -> None:
    def answer(body: dict[str, Any], outcome: Outcome) -> None:
        if not outcome.ok:
            reply_later(deps.dispatcher, reply_id(body), body["user"]["id"], channel_of(body), outcome.message)

    def ask(
        body: dict[str, Any], request_id: int, *, approve: bool, reason: str | None, channel: str | None
    ) -> Outcome:
        """Refused now from the stored state, or handed to the workflow that checks again live and records it."""
        return ask_decision(
            deps.db,
            deps.dispatcher,
            request_id,
            body["user"]["id"],
            approve=approve,
            reason=reason,
            channel=channel,
            click_id=reply_id(body),
            now=deps.clock.now(),
        )

    @app.action(cards.APPROVE)
    def approve(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = request_id_from(action)
        if request_id is None:
            return
        answer(body, ask(body, request_id, approve=True, reason=None, channel=channel_of(body)))

    @app.action(cards.DENY)
    def deny(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = request_id_from(action)
        if request_id is None:
            return
        outcome = check_decision(deps.db, request_id, body["user"]["id"], deps.clock.now())
        if not outcome.ok:
            answer(body, outcome)
            return
        channel = channel_of(body)
        view = modals.deny_modal(request_id, channel)
        open_modal(deps, view, trigger_id=body["trigger_id"], user=body["user"]["id"], channel=channel)

    @app.view(modals.DENY_CALLBACK)
    def deny_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = (modals.state_value(view, "reason") or "").strip()
        if not reason:
            ack(response_action="errors", errors={"reason": "A reason is required to deny."})
            return
        meta = metadata(view)
        request_id = meta.get("request_id")
        if not isinstance(request_id, int):
            ack(response_action="errors", errors={"reason": "This form is out of date; click Deny again."})
            return
        channel = meta.get("channel_id")
        outcome = ask(
            body, request_id, approve=False, reason=reason, channel=channel if isinstance(channel, str) else None
        )
        if not outcome.ok:
            ack(response_action="errors", errors={"reason": outcome.message[:150]})
            return
        ack()

    @app.action(cards.RETRY)
    def retry_failed(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = request_id_from(action)
        if request_id is not None:
            answer(body, retry(deps.db, deps.dispatcher, request_id, body["user"]["id"], deps.clock.now()))

    @app.action(cards.REVOKE)
    def revoke_now(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_id = request_id_from(action)
        if request_id is None:
            return
        with deps.db.session() as session:
            grant = session.exec(
                select(Grant).where(Grant.request_id == request_id).where(Grant.status == "active")
            ).first()
        if grant is None:
            answer(body, Outcome(False, f"REQ-{request_id} has no active grant to revoke."))
            return
        answer(
            body,
            revoke(deps.db, deps.dispatcher, grant, body["user"]["id"], "revoked with Revoke now", deps.clock.now()),
        )
