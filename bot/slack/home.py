"""The App Home tab (pure builder): open requests, active grants, what waits on my approval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot import permissions
from bot.db.models import ApprovalStep, Grant, Request
from bot.slack import cards
from bot.slack.escape import escape


def _section(text: str, accessory: dict[str, Any] | None = None, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def _button(action_id: str, label: str, request_id: int | None, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": str(request_id),
    }
    if style:
        button["style"] = style
    return button


def home_view(
    open_requests: Sequence[Request], grants: Sequence[Grant], waiting: Sequence[tuple[Request, ApprovalStep]]
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "EngOps Bot"}},
        _section("Your requests, your access, and what waits on you. `/engops help` lists every command."),
    ]
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Waiting on your approval"}})
    if not waiting:
        blocks.append(_section("Nothing waits on you."))
    for req, step in waiting[:15]:
        blocks.append(
            _section(
                f"{cards.request_summary_line(req)}\nStep: {escape(step.spec)} · requested by "
                f"{escape(req.requester_email)}"
            )
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"home-approve-{req.id}",
                "elements": [
                    _button(cards.APPROVE, "Approve", req.id, "primary"),
                    _button(cards.DENY, "Deny", req.id, "danger"),
                ],
            }
        )
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Your active grants"}})
    if not grants:
        blocks.append(_section("No active grants."))
    for grant in grants[:15]:
        until = f"until {cards.when(grant.expires_at)}" if grant.expires_at else "no expiry"
        blocks.append(
            _section(
                f"`{escape(grant.okta_group)}` · {until} · REQ-{grant.request_id}",
                _button(cards.REVOKE, "Revoke now", grant.request_id, "danger"),
                f"home-grant-{grant.id}",
            )
        )
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Your open requests"}})
    if not open_requests:
        blocks.append(_section("No open requests."))
    for req in open_requests[:15]:
        accessory = _button(cards.RETRY, "Retry failed steps", req.id) if req.status in permissions.RETRYABLE else None
        blocks.append(_section(cards.request_summary_line(req), accessory, f"home-req-{req.id}"))
    return {"type": "home", "blocks": blocks[:100]}
