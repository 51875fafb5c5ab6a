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
from bot.policy import Policy, Team
from bot.slack import triage_views
from workflows.engine.durable import Dispatcher
from workflows.engine.handover import deliver, promise
from workflows.tickets import triage
from workflows.tickets.details import Origin, TicketDetails
from workflows.tickets.model_store import live_model

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


def triage_form(db: Database, policy: Policy, form: FilingForm) -> triage.TeamChoice:
    """The team a checked form goes to (the live team model's choice when no team was chosen): `unsure` means
    the requester should pick between `team` and `runner_up` instead."""
    return triage.choose_team(
        policy,
        chosen=form.team,
        channel_name=form.channel_name,
        summary=clean(form.summary),
        details=clean(form.details),
        model=live_model(db, policy),
    )


# --- asking the requester when triage is unsure (SPEC §6.4) ------------------------------------------
ASKED = "ask"  # the key of what triage thought, in the asking modal's private_metadata
REASON_MAX = 40  # a word the classifier went by, as carried to the asking modal (they are single words)


def should_ask(choice: triage.TeamChoice) -> bool:
    """Whether to ask the requester to pick between the classifier's two likeliest teams instead of filing: only
    the classifier's own choice can be unsure (a team chosen in the form, or the channel's, never is)."""
    return choice.how == "model" and choice.unsure and choice.runner_up not in (None, choice.team)


def offered_teams(policy: Policy, choice: triage.TeamChoice) -> list[triage_views.TeamOption]:
    """The two teams an unsure choice asks between, likeliest first, as the modal shows them."""
    keys = [choice.team, *([choice.runner_up] if choice.runner_up else [])]
    return [triage_views.TeamOption(k, policy.team(k).name, team_blurb(policy.team(k))) for k in keys]


def team_blurb(team: Team) -> str:
    """What a team takes, in one line: its `description` (its first line), else its keywords; "" when neither."""
    if team.description.strip():
        line = " ".join(team.description.strip().split("\n", 1)[0].split())
    elif team.keywords:
        line = "Takes: " + ", ".join(team.keywords)
    else:
        return ""
    return line if len(line) <= triage_views.OPTION_MAX else _cut(line, triage_views.OPTION_MAX)


def asked_metadata(choice: triage.TeamChoice) -> dict[str, object]:
    """What triage thought, for the asking modal's private_metadata (a few hundred characters at most)."""
    return {
        ASKED: {
            "team": choice.team,
            "runner_up": choice.runner_up,
            "confidence": choice.confidence,
            "matched": [word[:REASON_MAX] for word in choice.matched[:3]],
        }
    }


def asked_from(metadata: dict[str, object], policy: Policy) -> triage.TeamChoice | None:
    """The unsure choice the asking modal was built for (`asked_metadata`), or None when it says none usable."""
    data = metadata.get(ASKED)
    if not isinstance(data, dict):
        return None
    team, runner_up, confidence = data.get("team"), data.get("runner_up"), data.get("confidence")
    matched = data.get("matched")
    if not (isinstance(team, str) and isinstance(runner_up, str) and {team, runner_up} <= set(policy.teams)):
        return None
    return triage.TeamChoice(
        team,
        "model",
        tuple(str(w) for w in matched) if isinstance(matched, list) else (),
        float(confidence) if isinstance(confidence, (int, float)) else None,
        runner_up,
        unsure=True,
    )


def check_pick(asked: triage.TeamChoice | None, picked: str | None) -> dict[str, str]:
    """Inline errors of the asking modal's team choice; empty when `picked` is one of the teams offered."""
    if asked is None:
        return {triage_views.TEAM_PICK: "These teams are no longer offered; press Cancel and file the request again."}
    if picked is None:
        return {triage_views.TEAM_PICK: "Pick the team that should take it."}
    if picked not in (asked.team, asked.runner_up):
        return {triage_views.TEAM_PICK: "Pick one of the two teams offered."}
    return {}


def open_filing(
    db: Database,
    dispatcher: Dispatcher,
    policy: Policy,
    form: FilingForm,
    choice: triage.TeamChoice | None = None,
    *,
    asked: triage.TeamChoice | None = None,
) -> Request:
    """Store the request, triaged (`choice`, else `triage_form`), and hand it to `file_issue`. Call `check_form`
    first. `asked` is the classifier's unsure choice when the requester picked the team (`choice`, how=asked)."""
    summary, details, reference = clean(form.summary), clean(form.details), clean(form.reference)
    choice = choice or triage_form(db, policy, form)
    thought = asked or choice  # what the classifier thought, kept with the request
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
                team_matched=list(thought.matched),
                team_confidence=thought.confidence,
                team_runner_up=thought.runner_up,
                team_guess=asked.team if asked is not None else None,
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
            detail={
                "kind": form.kind,
                "summary": summary,
                "team": choice.team,
                "how": choice.how,
                **({"confidence": thought.confidence} if thought.confidence is not None else {}),
            },
        )
        assert req.id is not None
        job = promise(session, "file_issue", f"execute-{req.id}-1", req.id, 1)
    deliver(dispatcher, job)
    return req
