"""Block Kit for IT requests and escalations (pure builders): the request modal, the messages in the
request's Slack thread and DMs, the duplicate offer, and the escalation card with **I'm on it**.

Every piece of user text is escaped here; ids (`<@U…>`) and URLs come from our own state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.slack import cards
from bot.slack.escape import escape, mention, truncate

IT_CALLBACK = "it_request"
ESCALATION_CALLBACK = "escalation_request"
PICK_LABEL = "Which team should take it?"
IT_TEAM_CALLBACK = "it_request_team"  # the request modal, asking which of two teams (triage was unsure)
ESCALATION_TEAM_CALLBACK = "escalation_request_team"
TEAM_PICK = "team_pick"  # block and action id of that choice
ADD_TO_EXISTING = "triage_add_to_existing"
FILE_ANYWAY = "triage_file_anyway"
ESCALATION_ACK = "escalation_ack"

ADD_LABEL = "Add to the existing issue"
FILE_ANYWAY_LABEL = "File a new issue anyway"
ACK_LABEL = "I'm on it"
RETRY_LABEL = "Retry filing"

SUMMARY_MAX = 150
DETAILS_MAX = 3000
REFERENCE_MAX = 500
OPTION_MAX = 75  # Slack's limit on an option's text and on its description
METADATA_MAX = 3000  # Slack's limit on a view's private_metadata


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 2900)}}


def _context(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 2900)}]}
    if block_id:
        block["block_id"] = block_id
    return block


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(truncate(label, 75)), "value": value}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "text": _plain(label), "value": value}
    if style:
        button["style"] = style
    return button


# --- the request modal --------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestForm:
    """What the modal offers and is pre-filled with."""

    kind: str  # it_request | escalation
    teams: Sequence[tuple[str, str]]  # (key, name), the policy's order
    urgencies: Sequence[tuple[str, str]]  # (value, label)
    not_sure: str
    default_urgency: str
    summary: str = ""
    details: str = ""
    reference: str = ""
    notice: str = ""  # e.g. "your text was longer than the form holds"
    source: str = ""  # escalations: where the message is from (mrkdwn, ours)
    metadata: dict[str, Any] = field(default_factory=dict)


def request_modal(form: RequestForm) -> dict[str, Any]:
    escalation = form.kind == "escalation"
    not_sure = _option(form.not_sure, "Not sure — route it for me")
    team_select = {
        "type": "static_select",
        "action_id": "team",
        "initial_option": not_sure,
        "options": [not_sure] + [_option(key, name) for key, name in form.teams],
    }
    blocks = _heading(form)
    blocks.append(
        {
            "type": "input",
            "block_id": "team",
            "label": _plain("Team"),
            "element": team_select,
            "hint": _plain("Not sure? I'll pick the team from the channel and what you write."),
        }
    )
    blocks += _request_inputs(form)
    return _request_view(form, ESCALATION_CALLBACK if escalation else IT_CALLBACK, blocks)


def _request_view(form: RequestForm, callback_id: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The request modal around `blocks` (the form, or the question of which team takes it)."""
    escalation = form.kind == "escalation"
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain("Escalate to EngOps" if escalation else "File an IT request"),
        "submit": _plain("Escalate" if escalation else "File request"),
        "close": _plain("Cancel"),
        "private_metadata": private_metadata(form.metadata),
        "blocks": blocks,
    }


def _heading(form: RequestForm) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if form.source:
        blocks.append(_context(form.source, "source"))
    if form.notice:
        blocks.append(_context(f":warning: {escape(form.notice)}", "notice"))
    return blocks


def _request_inputs(form: RequestForm) -> list[dict[str, Any]]:
    """Summary, details, urgency (and an escalation's ticket), pre-filled from `form`. The asking modal keeps their
    block and action ids, so Slack keeps what the requester entered when one modal replaces the other."""
    escalation = form.kind == "escalation"
    urgency_options = [_option(value, label) for value, label in form.urgencies]
    initial_urgency = next((o for o in urgency_options if o["value"] == form.default_urgency), urgency_options[0])
    summary: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "summary",
        "max_length": SUMMARY_MAX,
        "placeholder": _plain("In a few words: what do you need?"),
    }
    if form.summary:
        summary["initial_value"] = form.summary[:SUMMARY_MAX]
    details: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "details",
        "multiline": True,
        "max_length": DETAILS_MAX,
        "placeholder": _plain("What happened, what you tried, who is affected"),
    }
    if form.details:
        details["initial_value"] = form.details[:DETAILS_MAX]
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "summary", "label": _plain("Summary"), "element": summary},
        {
            "type": "input",
            "block_id": "details",
            "label": _plain("Details"),
            "optional": not escalation,
            "element": details,
        },
        {
            "type": "input",
            "block_id": "urgency",
            "label": _plain("Urgency"),
            "element": {
                "type": "static_select",
                "action_id": "urgency",
                "initial_option": initial_urgency,
                "options": urgency_options,
            },
        },
    ]
    if escalation:
        reference: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "reference",
            "max_length": REFERENCE_MAX,
            "placeholder": _plain("Help desk ticket URL or number"),
        }
        if form.reference:
            reference["initial_value"] = form.reference[:REFERENCE_MAX]
        blocks.append(
            {
                "type": "input",
                "block_id": "reference",
                "label": _plain("Ticket"),
                "optional": True,
                "element": reference,
            }
        )
    return blocks


def private_metadata(data: dict[str, Any]) -> str:
    """`data` as a view's private_metadata; a ValueError rather than JSON cut short when it does not fit."""
    text = json.dumps(data, separators=(",", ":"))
    if len(text) > METADATA_MAX:
        raise ValueError(f"private_metadata of {len(text)} characters does not fit Slack's {METADATA_MAX}")
    return text


# --- asking which team, when triage is unsure (SPEC §6.4) -----------------------------------------
@dataclass(frozen=True)
class TeamOption:
    key: str
    name: str
    blurb: str  # what the team takes, in one line (at most OPTION_MAX characters); "" when the policy says nothing


def team_question_modal(form: RequestForm, offered: Sequence[TeamOption]) -> dict[str, Any]:
    """The request modal once triage was unsure: the requester picks one of the `offered` teams (likeliest first).
    Their summary, details, urgency (and ticket) stay in the modal as they entered them, to be filed from there;
    `form.metadata` is what the submission needs besides (where it was asked, what triage thought)."""
    escalation = form.kind == "escalation"
    names = " or ".join(f"*{escape(o.name)}*" for o in offered)
    what = "this escalation" if escalation else "this request"
    intro = (
        f":thinking_face: I'm not sure which team should take {what}: {names}. "
        "Pick the one that fits and I'll file it there."
    )
    options = []
    for team in offered:
        option = _option(team.key, team.name)
        if team.blurb:
            option["description"] = _plain(truncate(team.blurb, OPTION_MAX))
        options.append(option)
    blocks = _heading(form)
    blocks += [
        _mrkdwn(intro),
        {
            "type": "input",
            "block_id": TEAM_PICK,
            "label": _plain(PICK_LABEL),
            "element": {"type": "radio_buttons", "action_id": TEAM_PICK, "options": options},
        },
        {"type": "divider"},
        _context("Your request, as you wrote it (you can still change it):"),
    ]
    blocks += _request_inputs(form)
    return _request_view(form, ESCALATION_TEAM_CALLBACK if escalation else IT_TEAM_CALLBACK, blocks)


def picked_team(view: dict[str, Any]) -> str | None:
    """The team picked in the asking modal (its key), or None."""
    state = view.get("state", {}).get("values", {}).get(TEAM_PICK, {}).get(TEAM_PICK) or {}
    selected = state.get("selected_option") or {}
    value = selected.get("value")
    return str(value) if value else None


def source_of(view: dict[str, Any]) -> str:
    """The source line of a submitted escalation modal (mrkdwn, ours), to show it again; "" if none."""
    for block in view.get("blocks", []):
        if block.get("block_id") == "source" and block.get("elements"):
            return str(block["elements"][0].get("text") or "")
    return ""


def with_permalink(view: dict[str, Any], permalink: str | None) -> dict[str, Any]:
    """The escalation modal as opened, its source line now linking the message (or saying it cannot)."""
    link = f"<{permalink}|Open the message>" if permalink else "(no link: the app cannot see that channel)"
    blocks = []
    for block in view.get("blocks", []):
        if block.get("block_id") == "source":
            text = block["elements"][0]["text"].replace("Link: resolving…", f"Link: {link}")
            block = _context(text, "source")
        blocks.append(block)
    return {**view, "blocks": blocks}


def submitted_modal(ref: str, kind: str, where: str) -> dict[str, Any]:
    what = "escalation" if kind == "escalation" else "IT request"
    text = (
        f"*{ref}*: your {what} is being filed. I'll post the GitLab link {where} and DM it to you. "
        f"`/engops status {ref}` shows where it stands."
    )
    return {"type": "modal", "title": _plain("Request received"), "close": _plain("Close"), "blocks": [_mrkdwn(text)]}


def refused_modal(text: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": _plain("Escalate to EngOps"),
        "close": _plain("Close"),
        "blocks": [_mrkdwn(escape(text))],
    }


# --- messages of a request ----------------------------------------------------------------------
def _kind_name(kind: str) -> str:
    return "Escalation" if kind == "escalation" else "IT request"


def _link(url: str, label: str) -> str:
    return f"<{url}|{escape(label)}>"


FILING_STATUS = "Filing it in GitLab…"  # the thread root's status line until the issue is filed


def thread_root(
    *,
    ref: str,
    kind: str,
    requester_slack_id: str,
    team_name: str,
    summary: str,
    confidential: bool,
    status: str = FILING_STATUS,
) -> tuple[str, list[dict[str, Any]]]:
    """The message that starts a request's thread in the channel it came from; `status` is mrkdwn (ours)."""
    what = "_(confidential: the details are in GitLab only)_" if confidential else f"*{escape(truncate(summary, 300))}*"
    text = (
        f":inbox_tray: *{ref}* · {_kind_name(kind)} from {mention(requester_slack_id, 'someone')} "
        f"for *{escape(team_name)}*\n{what}"
    )
    return f"{ref} {_kind_name(kind)} for {escape(team_name)}", [_mrkdwn(text), _context(status)]


def filed_text(
    *,
    ref: str,
    team_name: str,
    issue_url: str,
    issue_ref: str,
    title: str,
    confidential: bool,
    added_to_existing: bool = False,
    paged: bool = False,
) -> str:
    """The link to the issue, for the request's thread and the requester's DM."""
    shown = "" if confidential else f" — {escape(truncate(title, 200))}"
    if added_to_existing:
        head = f":link: *{ref}* was added to the existing issue {_link(issue_url, issue_ref)}{shown}"
    else:
        head = f":ticket: *{ref}* is filed with *{escape(team_name)}*: {_link(issue_url, issue_ref)}{shown}"
    tail = "\nThe team's DRIs have been paged." if paged else ""
    return head + ("\nConfidential: only people with access to the tracker can read it." if confidential else "") + tail


def failed_blocks(*, ref: str, request_id: int, why: str) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f":warning: *{ref}* could not be filed yet: {escape(why)}\n"
        "Your request is kept. Press *Retry filing* once the problem is fixed (EngOps can help)."
    )
    blocks = [
        _mrkdwn(text),
        {
            "type": "actions",
            "block_id": f"req-{request_id}-retry",
            "elements": [_button(cards.RETRY, RETRY_LABEL, str(request_id))],
        },
    ]
    return f"{ref} could not be filed yet: {escape(why)}", blocks


def duplicate_offer(
    *, ref: str, request_id: int, issue_url: str, issue_ref: str, issue_title: str
) -> tuple[str, list[dict[str, Any]]]:
    text = (
        f":mag: You already have an open issue with nearly the same title: {_link(issue_url, issue_ref)} — "
        f"{escape(truncate(issue_title, 200))}\nAdd *{ref}* to it as a comment, or file a new issue?"
    )
    buttons = [
        _button(ADD_TO_EXISTING, ADD_LABEL, str(request_id), "primary"),
        _button(FILE_ANYWAY, FILE_ANYWAY_LABEL, str(request_id)),
    ]
    return f"{ref}: add to the existing issue {issue_ref}?", [
        _mrkdwn(text),
        {"type": "actions", "block_id": f"req-{request_id}-duplicate", "elements": buttons},
    ]


def offer_answered(*, ref: str, choice: str) -> tuple[str, list[dict[str, Any]]]:
    text = f":white_check_mark: *{ref}*: {escape(choice)}"
    return text, [_mrkdwn(text)]


# --- escalation card ----------------------------------------------------------------------------
@dataclass(frozen=True)
class EscalationView:
    escalation_id: int
    ref: str
    team_name: str
    summary: str
    requester_slack_id: str | None
    requester_email: str
    urgency: str
    issue_url: str
    issue_ref: str
    permalink: str | None
    confidential: bool
    pages: int
    acked_by_slack_id: str | None = None
    acked_by_email: str | None = None
    acked_at: datetime | None = None
    closed: bool = False


def escalation_card(view: EscalationView, *, note: str = "") -> tuple[str, list[dict[str, Any]]]:
    summary = "_(confidential: see the issue)_" if view.confidential else f"*{escape(truncate(view.summary, 500))}*"
    lines = [
        f":rotating_light: *{view.ref}* · Escalation for *{escape(view.team_name)}*",
        summary,
        f"Issue: {_link(view.issue_url, view.issue_ref)} · Urgency: {escape(view.urgency)} · "
        f"Escalated by {mention(view.requester_slack_id, view.requester_email)}",
    ]
    if view.permalink:
        lines.append(f"<{view.permalink}|Original Slack message>")
    if note:
        lines.append(note)
    if view.acked_at is not None:
        who = mention(view.acked_by_slack_id, view.acked_by_email or "someone")
        status = f":white_check_mark: {who} is on it (since {cards.when(view.acked_at)})"
    elif view.closed:
        status = ":white_check_mark: The issue was closed."
    else:
        status = f":hourglass_flowing_sand: Waiting for a DRI to pick it up (paged {view.pages}×)"
    blocks: list[dict[str, Any]] = [_mrkdwn("\n".join(lines)), _context(status)]
    if view.acked_at is None and not view.closed:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"esc-{view.escalation_id}-ack",
                "elements": [_button(ESCALATION_ACK, ACK_LABEL, str(view.escalation_id), "primary")],
            }
        )
    fallback = "" if view.confidential else f": {escape(truncate(view.summary, 100))}"
    return f"{view.ref} escalation for {escape(view.team_name)}{fallback}", blocks
