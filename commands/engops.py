"""`/engops help | status REQ-n | mine | approvals`: read-only views over the stored state."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import permissions
from bot.db import queries
from bot.slack import cards
from bot.slack.escape import escape
from commands.deps import Deps
from workflows.engine.kinds import card_fields

HELP = """*EngOps Bot* — what you can ask me
• `/access` — request access to an Okta group (`/access <group> <duration> <reason…>` pre-fills it); \
`/access list` shows your grants and requests; `/access revoke <group>` ends your own grant now
• `/it [summary]` — file an IT request with the right EngOps team
• `/escalate <text or ticket URL>` — escalate to EngOps (help desk); also the *Escalate to EngOps* message shortcut
• `/offboard <@user or email> […]` — offboard people (help desk and IT admins)
• `/rotate-keys [iam-user]` — rotate AWS access keys (yours by default)
• `/engops status REQ-n` — where a request stands
• `/engops mine` — your open requests and active grants
• `/engops approvals` — what waits on your approval"""


def register(app: App, deps: Deps) -> None:
    @app.command("/engops")
    def engops(ack: Ack, command: dict[str, Any]) -> None:
        words = (command.get("text") or "").strip().split()
        sub = words[0].lower() if words else "help"
        user = command["user_id"]
        if sub == "help":
            ack(text=HELP)
        elif sub == "status":
            ack(**status(deps, user, " ".join(words[1:])))
        elif sub == "mine":
            ack(text=mine(deps, user))
        elif sub == "approvals":
            ack(text=approvals(deps, user))
        else:
            ack(text=f"I don't know `/engops {escape(sub)}`. Try `/engops help`.")


def status(deps: Deps, user: str, ref: str) -> dict[str, Any]:
    request_id = queries.parse_ref(ref)
    if request_id is None:
        return {"text": "Which request? Use `/engops status REQ-12`."}
    with deps.db.session() as session:
        found = queries.request_with_steps(session, request_id)
        hidden = f"REQ-{request_id} does not exist or is not one of yours."  # the same words: no existence oracle
        if found is None:
            return {"text": hidden}
        req, steps = found
        actor = queries.actor_of(session, user, deps.policy)
        if not permissions.view_request(actor, queries.facts_of(session, req, deps.policy)).ok:
            return {"text": hidden}
        blocks = cards.request_blocks(req, steps, fields=card_fields(req))
        return {"text": cards.request_text(req), "blocks": blocks}


def mine(deps: Deps, user: str) -> str:
    with deps.db.session() as session:
        requests = queries.open_requests_of(session, user)
        email = queries.email_of(session, user)
        grants = queries.active_grants_of(session, email) if email else []
    lines = ["*Your open requests*"]
    lines += [cards.request_summary_line(r) for r in requests] or ["none"]
    lines.append("*Your active grants*")
    lines += [
        f"• `{escape(g.okta_group)}`" + (f" until {cards.when(g.expires_at)}" if g.expires_at else " (no expiry)")
        for g in grants
    ] or ["none"]
    return "\n".join(lines)


def approvals(deps: Deps, user: str) -> str:
    with deps.db.session() as session:
        waiting = queries.waiting_on(session, user, queries.email_of(session, user))
    if not waiting:
        return "Nothing waits on your approval."
    lines = ["*Waiting on your approval*"]
    lines += [f"{cards.request_summary_line(req)} (step: {escape(step.spec)})" for req, step in waiting]
    lines.append("Open the request's card in your DMs or App Home to approve or deny.")
    return "\n".join(lines)
