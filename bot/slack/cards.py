"""Block Kit for requests: pure functions, stored state in, blocks out.

Every copy of a request's card (channel post, each DM, App Home, `/engops status`) is rendered
here from the database rows, so all copies always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.db.models import ApprovalStep, Request, RequestStatus
from bot.slack.escape import escape, mention, truncate

STATUS_LABELS: dict[str, str] = {
    RequestStatus.PENDING: ":hourglass_flowing_sand: Waiting for approval",
    RequestStatus.APPROVED: ":white_check_mark: Approved",
    RequestStatus.RUNNING: ":gear: Running",
    RequestStatus.DONE: ":white_check_mark: Done",
    RequestStatus.DENIED: ":no_entry: Denied",
    RequestStatus.EXPIRED: ":zzz: Expired (no decision in time)",
    RequestStatus.FAILED: ":x: Failed",
    RequestStatus.PARTLY_FAILED: ":warning: Partly failed",
    RequestStatus.REVOKED: ":leftwards_arrow_with_hook: Revoked",
    RequestStatus.CANCELLED: ":heavy_multiplication_x: Cancelled",
    RequestStatus.UNDONE: ":leftwards_arrow_with_hook: Undone",
    RequestStatus.FILED: ":ticket: Filed in GitLab",
    RequestStatus.CLOSED: ":white_check_mark: Closed in GitLab",
    RequestStatus.WAITING_FOR_REQUESTER: ":question: Waiting for the requester's choice",
}

KIND_LABELS = {
    "access": "Access request",
    "offboarding": "Offboarding",
    "key_rotation": "AWS key rotation",
    "it_request": "IT request",
    "escalation": "Escalation",
}

# Action ids are stable: the manifest test and the driver find buttons by them and by label.
APPROVE = "request_approve"
DENY = "request_deny"
REVOKE = "request_revoke"
RETRY = "request_retry"


def when(ts: datetime | None) -> str:
    if ts is None:
        return ""
    epoch = int(ts.timestamp())
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{ts.strftime('%Y-%m-%d %H:%M UTC')}>"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def step_line(step: ApprovalStep, position_names: dict[str, str | None] | None = None) -> str:
    who = ", ".join(escape(e) for e in step.approver_emails) or "nobody resolved"
    label = escape(step.spec)
    if step.status == "approved":
        return f":white_check_mark: {label}: approved by {escape(step.decided_by_email or '')} {when(step.decided_at)}"
    if step.status == "denied":
        return f":no_entry: {label}: denied by {escape(step.decided_by_email or '')} {when(step.decided_at)}"
    if step.status == "skipped":
        return f":fast_forward: {label}: skipped"
    if step.status == "pending":
        return f":hourglass_flowing_sand: {label}: waiting for {who}"
    return f":white_small_square: {label}: then {who}"


def request_text(req: Request) -> str:
    """The notification fallback text."""
    return f"{req.ref} {KIND_LABELS.get(req.kind, req.kind)}: {truncate(req.summary, 150)} — {status_label(req.status)}"


def request_blocks(
    req: Request,
    steps: Sequence[ApprovalStep],
    *,
    actions: Sequence[str] = (),
    fields: Sequence[tuple[str, str]] = (),
) -> list[dict[str, Any]]:
    """The card. `actions` names the buttons this copy shows (APPROVE, DENY, REVOKE, RETRY); `fields` are the
    kind's own (label, text) lines (e.g. For how long), plain text."""
    title = f"{req.ref} · {KIND_LABELS.get(req.kind, req.kind)}"
    facts = [
        {"type": "mrkdwn", "text": f"*Requester*\n{mention(req.requester_slack_id, req.requester_email)}"},
        {"type": "mrkdwn", "text": f"*Status*\n{status_label(req.status)}"},
    ]
    if req.subject_email and req.subject_email != req.requester_email:
        facts.append({"type": "mrkdwn", "text": f"*For*\n{escape(req.subject_email)}"})
    facts += [{"type": "mrkdwn", "text": f"*{escape(label)}*\n{escape(text)}"} for label, text in fields]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": truncate(title, 150)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{escape(truncate(req.summary, 500))}*"},
            "fields": facts,
        },
    ]
    if req.plan:
        plan = "\n".join(f"• {escape(line)}" for line in req.plan[:30])
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(f"*What will change*\n{plan}", 2900)}}
        )
    if req.reason:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(f"*Why*\n{escape(req.reason)}", 2900)}}
        )
    if steps:
        lines = "\n".join(step_line(s) for s in sorted(steps, key=lambda s: s.position))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": truncate(f"*Approvals*\n{lines}", 2900)}})
    context = [f"Requested {when(req.created_at)}"]
    if req.status == RequestStatus.DENIED and req.deny_reason:
        context.append(f"Denied by {escape(req.decided_by_email or '')}: {escape(truncate(req.deny_reason, 300))}")
    elif req.decided_by_email and req.status != RequestStatus.PENDING:
        context.append(f"Last action by {escape(req.decided_by_email)} {when(req.decided_at)}")
    if req.error:
        context.append(f"Error: {escape(truncate(req.error, 300))}")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    buttons = [_button(a, req) for a in actions]
    if buttons:
        blocks.append({"type": "actions", "block_id": f"req-{req.id}-actions", "elements": buttons})
    return blocks


_BUTTONS = {
    APPROVE: ("Approve", "primary"),
    DENY: ("Deny", "danger"),
    REVOKE: ("Revoke now", "danger"),
    RETRY: ("Retry failed steps", None),
}


def _button(action_id: str, req: Request) -> dict[str, Any]:
    label, style = _BUTTONS[action_id]
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": str(req.id),
    }
    if style:
        button["style"] = style
    return button


def request_summary_line(req: Request) -> str:
    return f"*{req.ref}* {escape(truncate(req.summary, 120))} — {status_label(req.status)}"
