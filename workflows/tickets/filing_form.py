"""The filing form, handler side (pure, or the database only): `/it <text>` or an escalated message as the
form's prefill, the submitted modal checked field by field, and the checked form stored as a triaged request
handed to `file_issue`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot import audit
from bot.db import queries
from bot.db.details import store_details
from bot.db.engine import Database
from bot.db.models import Request, RequestStatus
from bot.gitlab_text import from_slack
from bot.policy import Policy
from bot.slack import triage_views
from workflows.engine.durable import Dispatcher
from workflows.engine.handover import deliver, promise
from workflows.tickets import triage
from workflows.tickets.details import Origin, TicketDetails

KINDS = ("it_request", "escalation")
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def clean(text: str | None) -> str:
    """User text without control or invisible characters, line breaks normalised, trimmed."""
    return _INVISIBLE.sub("", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


@dataclass(frozen=True)
class Prefill:
    summary: str
    details: str
    notice: str = ""


def prefill_from_text(text: str, *, whole_in_details: bool = False) -> Prefill:
    """`/it <text>` or an escalated message, as the form's summary and details (Slack markup made plain).

    The details get the text when it is longer than its first line, or always with `whole_in_details`."""
    plain = clean(from_slack(text))
    if not plain:
        return Prefill("", "")
    first = plain.split("\n", 1)[0].strip()
    summary = first if len(first) <= triage_views.SUMMARY_MAX else _cut(first, triage_views.SUMMARY_MAX)
    details = "" if plain == summary and not whole_in_details else plain[: triage_views.DETAILS_MAX]
    notice = ""
    if len(plain) > triage_views.DETAILS_MAX:
        notice = (
            f"Your text has {len(plain):,} characters; the form holds {triage_views.DETAILS_MAX:,} in Details, "
            "so the rest was left out. Attach it to the issue once it is filed."
        )
    return Prefill(summary, details, notice)


def _cut(text: str, limit: int) -> str:
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


@dataclass(frozen=True)
class FilingForm:
    kind: str  # it_request | escalation
    requester_slack_id: str
    summary: str | None
    details: str | None
    team: str | None  # a team key, triage.NOT_SURE, or None
    urgency: str | None
    reference: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    message_ts: str | None = None  # escalations of a message
    thread_ts: str | None = None


def in_a_channel(channel_id: str | None) -> bool:
    """Whether a request asked there gets its thread there (a channel), or its updates by DM (a DM)."""
    return (channel_id or "")[:1] in ("C", "G")


def check_form(policy: Policy, form: FilingForm) -> dict[str, str]:
    """Inline errors by block id; empty when the form can be filed."""
    errors: dict[str, str] = {}
    summary, details = clean(form.summary), clean(form.details)
    if not summary:
        errors["summary"] = "Write a short summary of what you need."
    elif len(summary) > triage_views.SUMMARY_MAX:
        errors["summary"] = f"Keep the summary to {triage_views.SUMMARY_MAX} characters; put the rest in Details."
    if len(details) > triage_views.DETAILS_MAX:
        errors["details"] = (
            f"Details hold at most {triage_views.DETAILS_MAX:,} characters; "
            "attach longer logs to the issue once it is filed."
        )
    elif form.kind == "escalation" and not details:
        errors["details"] = "Say what the escalation is about."
    if form.team not in (None, triage.NOT_SURE, *policy.teams):
        errors["team"] = "Pick a team from the list, or “Not sure”."
    if form.urgency is not None and form.urgency not in triage.URGENCIES:
        errors["urgency"] = "Pick an urgency from the list."
    if len(clean(form.reference)) > triage_views.REFERENCE_MAX:
        errors["reference"] = f"Keep the ticket reference to {triage_views.REFERENCE_MAX} characters."
    return errors


def open_filing(db: Database, dispatcher: Dispatcher, policy: Policy, form: FilingForm) -> Request:
    """Store the request, triaged, and hand it to `file_issue`. Call `check_form` first."""
    summary, details, reference = clean(form.summary), clean(form.details), clean(form.reference)
    choice = triage.choose_team(
        policy, chosen=form.team, channel_name=form.channel_name, summary=summary, details=details
    )
    urgency = form.urgency if form.urgency in triage.URGENCIES else triage.DEFAULT_URGENCY
    team = policy.team(choice.team)
    origin = Origin(
        channel=form.channel_id,
        name=form.channel_name,
        message_ts=form.message_ts,
        thread_ts=form.thread_ts or form.message_ts,
    )
    with db.session() as session:
        req = Request(
            kind=form.kind,
            status=RequestStatus.RUNNING,
            requester_email=queries.email_of(session, form.requester_slack_id) or "",
            requester_slack_id=form.requester_slack_id,
            summary=summary,
            reason=details,
            attempt=1,
            plan=[f"GitLab: file an issue in {team.tracker} ({team.name})"],
        )
        store_details(
            req,
            TicketDetails(
                team=choice.team,
                team_how=choice.how,
                team_matched=list(choice.matched),
                urgency=urgency,
                reference=reference,
                origin=origin,
                confidential=triage.confidential_reasons(summary, details, reference),
            ),
        )
        session.add(req)
        session.flush()
        audit.append(
            session,
            actor=req.requester_email or form.requester_slack_id,
            action="request.submitted",
            subject=req.requester_email,
            request_id=req.id,
            detail={"kind": form.kind, "summary": summary, "team": choice.team, "how": choice.how},
        )
        assert req.id is not None
        job = promise(session, "file_issue", f"execute-{req.id}-1", req.id, 1)
    deliver(dispatcher, job)
    return req
