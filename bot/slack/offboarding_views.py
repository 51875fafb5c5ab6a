"""Block Kit for offboarding (pure builders): the preview modal and the run's one progress message."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.db.models import RequestStatus
from bot.slack import cards
from bot.slack.escape import escape, mention, truncate

PREVIEW_CALLBACK = "offboard_preview"
UNDO = "offboarding_undo"
REASON_BLOCK = "reason"
MAX_PREVIEW_PEOPLE = 40  # the modal's 100-block and private_metadata 3,000-character limits
MAX_LISTED_FAILURES = 10
MAX_PERSON_ROWS = 5  # up to this many people, the progress message shows every step of each

STEP_LABELS = {
    "google_suspend": "Google: suspend",
    "google_lock": "Google: lock",
    "google_signout": "Google: sign out",
    "google_revoke_tokens": "Google: revoke tokens",
    "okta_suspend": "Okta: suspend",
    "okta_clear_sessions": "Okta: clear sessions",
    "engops_end_grants": "EngOps: end grants",
    "aws_deactivate_keys": "AWS: deactivate keys",
    "google_transfer_data": "Google: transfer Drive/Calendar",
    "gmail_delegate": "Gmail: delegate",
    "gmail_autoreply": "Gmail: auto-reply",
    "gitlab_issue": "GitLab: record",
    "google_unsuspend": "Undo: Google unsuspend",
    "okta_unsuspend": "Undo: Okta unsuspend",
}
STEP_ICONS = {
    "pending": ":white_small_square:",
    "running": ":hourglass_flowing_sand:",
    "done": ":white_check_mark:",
    "skipped": ":fast_forward:",
    "failed": ":x:",
}


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 2900)}}


def step_label(step: str) -> str:
    return STEP_LABELS.get(step, step)


# --- the preview modal ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonPreview:
    email: str
    lines: Sequence[str]  # what will be done, resolved from live lookups
    offboardable: bool = True  # False: found nowhere (left out)


def resolving_modal(count: int, channel_id: str | None) -> dict[str, Any]:
    """Opened at once with the 3-second trigger; filled by views.update when the lookups are done."""
    who = "1 person" if count == 1 else f"{count} people"
    return {
        "type": "modal",
        "callback_id": PREVIEW_CALLBACK,
        "title": _plain("Offboard"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel_id": channel_id, "people": []}),
        "blocks": [
            _section(f":hourglass_flowing_sand: Resolving… looking up {who} in Google, Okta and AWS."),
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Nothing changes until an IT admin approves."}],
            },
        ],
    }


def preview_modal(
    people: Sequence[PersonPreview], channel_id: str | None, approvers: str, problems: Sequence[str] = ()
) -> dict[str, Any]:
    """The resolved plan per person, a required reason, and Submit (when anyone can be offboarded)."""
    chosen = [p.email for p in people if p.offboardable]
    blocks: list[dict[str, Any]] = [
        _section(f"*What will be done* ({len(chosen)} of {len(people)} {'person' if len(people) == 1 else 'people'})")
    ]
    blocks += [_section(f":warning: {escape(problem)}") for problem in problems]
    for person in people[:MAX_PREVIEW_PEOPLE]:
        icon = "" if person.offboardable else ":warning: "
        lines = "\n".join(f"• {escape(line)}" for line in person.lines)
        blocks.append(_section(f"{icon}*{escape(person.email)}*\n{lines}"))
    if len(people) > MAX_PREVIEW_PEOPLE:
        blocks.append(_section(f"…and {len(people) - MAX_PREVIEW_PEOPLE} more."))
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": PREVIEW_CALLBACK,
        "title": _plain("Offboard"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"channel_id": channel_id, "people": chosen}),
        "blocks": blocks,
    }
    if chosen:
        blocks.append(
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": _plain("Reason"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_BLOCK,
                    "multiline": True,
                    "max_length": 1000,
                    "placeholder": _plain("e.g. last day was Friday (HR ticket 1234)"),
                },
            }
        )
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": truncate(
                            f"On submit this goes to {escape(approvers)} for approval; you cannot approve it yourself.",
                            300,
                        ),
                    }
                ],
            }
        )
        view["submit"] = _plain("Submit for approval")
    else:
        blocks.append(_section("Nobody here can be offboarded; nothing to submit."))
    return view


def preview_failed_modal(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": PREVIEW_CALLBACK,
        "title": _plain("Offboard"),
        "close": _plain("Close"),
        "blocks": [_section(f":x: {escape(text)}")],
    }


# --- the progress message -------------------------------------------------------------------------
@dataclass(frozen=True)
class StepState:
    step: str
    status: str  # pending | done | skipped | failed
    detail: str = ""


@dataclass(frozen=True)
class ProgressSnapshot:
    request_id: int
    summary: str
    status: RequestStatus  # the request's
    requester_slack_id: str
    requester_email: str
    approved_by: str | None
    people_total: int
    people_finished: int
    people_with_failures: int
    step_counts: Sequence[tuple[str, dict[str, int]]]  # in policy order
    failures: Sequence[tuple[str, StepState]]  # (email, failed step)
    person_steps: Sequence[tuple[str, Sequence[StepState]]] = ()  # small runs: every step of each person
    can_retry: bool = False
    can_undo: bool = False
    note: str = ""
    record_url: str | None = None

    @property
    def ref(self) -> str:
        return f"REQ-{self.request_id}"


def progress_text(snap: ProgressSnapshot) -> str:
    return (
        f"{snap.ref} Offboarding: {snap.people_finished}/{snap.people_total} people finished"
        f" — {cards.status_label(snap.status)}"
    )


def _counts_line(step: str, counts: dict[str, int]) -> str:
    parts = [
        f"{counts[s]} {s if s != 'pending' else 'to do'}"
        for s in ("done", "skipped", "failed", "pending")
        if counts.get(s)
    ]
    icon = (
        STEP_ICONS["failed"]
        if counts.get("failed")
        else (STEP_ICONS["pending"] if counts.get("pending") else STEP_ICONS["done"])
    )
    return f"{icon} {escape(step_label(step))}: {' · '.join(parts) or 'nothing'}"


def _step_line(state: StepState) -> str:
    detail = f" — {escape(truncate(state.detail, 200))}" if state.detail else ""
    return f"{STEP_ICONS.get(state.status, '')} {escape(step_label(state.step))}{detail}"


def progress_blocks(snap: ProgressSnapshot) -> list[dict[str, Any]]:
    fields = [
        {"type": "mrkdwn", "text": f"*Requester*\n{mention(snap.requester_slack_id, snap.requester_email)}"},
        {"type": "mrkdwn", "text": f"*Status*\n{cards.status_label(snap.status)}"},
    ]
    if snap.approved_by:
        fields.append({"type": "mrkdwn", "text": f"*Approved by*\n{escape(snap.approved_by)}"})
    failures = f" · {snap.people_with_failures} with failures" if snap.people_with_failures else ""
    finished = f"{snap.people_finished}/{snap.people_total} finished{failures}"
    fields.append({"type": "mrkdwn", "text": f"*People*\n{finished}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(truncate(f"{snap.ref} · Offboarding progress", 150))},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{escape(truncate(snap.summary, 500))}*"},
            "fields": fields,
        },
    ]
    if snap.person_steps:
        for email, states in snap.person_steps:
            blocks.append(_section(f"*{escape(email)}*\n" + "\n".join(_step_line(s) for s in states)))
    else:
        counts = "\n".join(_counts_line(step, counts) for step, counts in snap.step_counts)
        blocks.append(_section(f"*Steps*\n{counts}"))
        if snap.failures:
            listed = [
                f"{STEP_ICONS['failed']} {escape(email)} — {escape(step_label(s.step))}: "
                f"{escape(truncate(s.detail, 150))}"
                for email, s in snap.failures[:MAX_LISTED_FAILURES]
            ]
            more = len(snap.failures) - MAX_LISTED_FAILURES
            if more > 0:
                listed.append(f"…and {more} more failed steps")
            blocks.append(_section("*Failures*\n" + "\n".join(listed)))
    context = []
    if snap.record_url:
        context.append(f"<{snap.record_url}|GitLab record>")
    if snap.note:
        context.append(escape(snap.note))
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(" · ".join(context), 2900)}]}
        )
    buttons = []
    if snap.can_retry:
        buttons.append(
            {
                "type": "button",
                "action_id": cards.RETRY,
                "text": _plain("Retry failed steps"),
                "value": str(snap.request_id),
            }
        )
    if snap.can_undo:
        buttons.append(
            {
                "type": "button",
                "action_id": UNDO,
                "text": _plain("Undo"),
                "value": str(snap.request_id),
                "style": "danger",
                "confirm": {
                    "title": _plain("Undo this offboarding?"),
                    "text": _plain("Google and Okta accounts are unsuspended. AWS access keys stay inactive."),
                    "confirm": _plain("Undo"),
                    "deny": _plain("Cancel"),
                },
            }
        )
    if buttons:
        blocks.append({"type": "actions", "block_id": f"offboard-{snap.request_id}-actions", "elements": buttons})
    return blocks
