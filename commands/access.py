"""`/access`, the "Request access" shortcut, the group type-ahead and the request modal."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from sqlmodel import col, select

from bot import permissions
from bot.db import queries
from bot.db.models import Grant, OktaGroupInfo, Request
from bot.durations import looks_like_duration, parse_duration
from bot.policy import Policy
from bot.slack import cards, modals
from bot.slack.escape import escape
from commands.deps import Deps
from commands.interaction import metadata, open_modal
from workflows.access.flow import new_access_request, revoke
from workflows.access.form import check_access_form, duration_hint
from workflows.engine.approvals import open_request


def register(app: App, deps: Deps) -> None:
    @app.command("/access")
    def access(ack: Ack, command: dict[str, Any]) -> None:
        text = (command.get("text") or "").strip()
        user = command["user_id"]
        first = text.split(maxsplit=1)[0].lower() if text else ""
        if first == "list":
            ack(text=list_text(deps, user))
            return
        if first == "revoke":
            ack(text=revoke_text(deps, user, text.split(maxsplit=1)[1] if " " in text else ""))
            return
        with deps.db.session() as session:
            verdict = permissions.request_access(queries.actor_of(session, user, deps.policy))
        if not verdict.ok:
            ack(text=verdict.message)
            return
        try:
            prefill(deps.policy, text)
        except ValueError as exc:
            ack(text=f"{exc} Use `/access <group> <duration> <reason…>`, e.g. `/access zoom-users 8h Customer calls`.")
            return
        ack()
        channel = command.get("channel_id")
        view = modal_for(deps, user, channel, text)
        open_modal(deps, view, trigger_id=command["trigger_id"], user=user, channel=channel)

    @app.shortcut("request_access")
    def shortcut(ack: Ack, shortcut: dict[str, Any]) -> None:
        ack()
        user = shortcut["user"]["id"]
        open_modal(deps, modal_for(deps, user, None, ""), trigger_id=shortcut["trigger_id"], user=user, channel=None)

    @app.options(modals.GROUP_ACTION)
    def group_options(ack: Ack, payload: dict[str, Any]) -> None:
        ack(options=group_choices(deps, str(payload.get("value") or "")))

    @app.view(modals.ACCESS_CALLBACK)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        form = check_access_form(
            deps.policy,
            modals.state_value(view, "group"),
            modals.state_value(view, "duration"),
            modals.state_value(view, "reason"),
        )
        on_behalf = modals.state_value(view, "on_behalf")
        if on_behalf == user:
            on_behalf = None
        with deps.db.session() as session:
            actor = queries.actor_of(session, user, deps.policy)
        verdict = permissions.request_access(actor, on_behalf=bool(on_behalf))
        if not verdict.ok:
            field = "on_behalf" if verdict.why is permissions.Why.NOT_ALLOWED else "reason"
            form.errors[field] = verdict.message
        if not form.ok:
            ack(response_action="errors", errors=form.errors)
            return
        new = new_access_request(
            deps.policy,
            form,
            requester_slack_id=user,
            requester_email=actor.email or "",
            on_behalf=on_behalf,
            channel_id=metadata(view).get("channel_id"),
        )
        req = open_request(deps.db, deps.dispatcher, new)
        ack(
            response_action="update",
            view=modals.done_modal(
                "Request submitted",
                f"*{req.ref}* is submitted. I'll DM you as it moves; `/engops status {req.ref}` shows where it stands.",
            ),
        )


def is_helpdesk(deps: Deps, slack_id: str) -> bool:
    """Whether to offer "on behalf of" (the submit asks `bot.permissions` again)."""
    with deps.db.session() as session:
        return queries.actor_of(session, slack_id, deps.policy).holds(permissions.HELPDESK_ROLE)


def descriptions(deps: Deps) -> dict[str, str]:
    with deps.db.session() as session:
        return {g.name: g.description for g in session.exec(select(OktaGroupInfo))}


def group_choices(deps: Deps, query: str) -> list[dict[str, Any]]:
    query = query.strip().lower()
    known = descriptions(deps)
    names = [g.okta_group for g in deps.policy.access.groups]
    matches = [n for n in names if query in n.lower() or query in known.get(n, "").lower()]
    return [modals.group_option(n, known.get(n, "")) for n in matches[:100]]


def prefill(policy: Policy, text: str) -> dict[str, str | None]:
    """`/access <group> <duration> <reason…>`: take what is recognisable, leave the rest to the form. A word
    after the group that starts with a digit is meant as the duration: it must be one (ValueError says why),
    never moved into the reason."""
    words = text.split()
    found: dict[str, str | None] = {"group": None, "duration": None, "reason": None}
    if words and policy.group(words[0]) is not None:
        found["group"] = words.pop(0)
    if words and looks_like_duration(words[0]):
        try:
            parse_duration(words[0])
        except ValueError:
            raise ValueError(f"`{escape(words[0][:20])}` is not a duration: write 30m, 8h or 7d.") from None
        found["duration"] = words.pop(0)
    if words:
        found["reason"] = " ".join(words)
    return found


def modal_for(deps: Deps, user: str, channel_id: str | None, text: str) -> dict[str, Any]:
    values = prefill(deps.policy, text)
    group = values["group"]
    return modals.access_modal(
        channel_id=channel_id,
        group=group,
        group_description=descriptions(deps).get(group, "") if group else "",
        duration=values["duration"],
        reason=values["reason"],
        on_behalf=is_helpdesk(deps, user),
        duration_hint=duration_hint(deps.policy),
    )


def list_text(deps: Deps, user: str) -> str:
    with deps.db.session() as session:
        email = queries.email_of(session, user)
        grants = queries.active_grants_held_by(session, user, email)
        open_requests = [r for r in queries.open_requests_of(session, user) if r.kind == "access"]
    lines = ["*Your active grants*"]
    lines += [
        f"• `{escape(g.okta_group)}` (REQ-{g.request_id})"
        + (f" until {cards.when(g.expires_at)}" if g.expires_at else " — no expiry")
        for g in grants
    ] or ["none"]
    lines.append("*Your open access requests*")
    lines += [cards.request_summary_line(r) for r in open_requests] or ["none"]
    return "\n".join(lines)


def revoke_text(deps: Deps, user: str, group: str) -> str:
    group = group.strip()
    if not group:
        return "Which group? Use `/access revoke <group>`; `/access list` shows your grants."
    with deps.db.session() as session:
        email = queries.email_of(session, user)
        grant = session.exec(
            select(Grant)
            .where(Grant.status == "active")
            .where(Grant.okta_group == group)
            .where((col(Grant.user_slack_id) == user) | (col(Grant.user_email) == email))
        ).first()
        req = session.get(Request, grant.request_id) if grant else None
    if grant is None or req is None:
        return f"You have no active grant of `{escape(group)}`. `/access list` shows your grants."
    return escape(
        revoke(deps.db, deps.dispatcher, grant, user, "revoked with /access revoke", deps.clock.now()).message
    )
