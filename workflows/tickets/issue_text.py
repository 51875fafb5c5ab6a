"""What goes into GitLab for a request: the issue's title and description, or the note that adds the request
to an existing issue. Every piece of user or Slack text goes through `gitlab_safe`."""

from __future__ import annotations

from collections.abc import Callable

from bot.db.models import Request
from bot.gitlab_text import gitlab_safe, gitlab_title
from bot.policy import Team
from workflows.engine import runtime
from workflows.tickets import triage
from workflows.tickets.details import TicketDetails
from workflows.tickets.filing_record import ticket_details


def issue_title(req: Request) -> str:
    """The summary, ending with `(REQ-n)`: a retry after a lost answer finds the issue it already filed by it."""
    return gitlab_title(req.summary, suffix=f" ({req.ref})")


def _requester(req: Request) -> str:
    return gitlab_safe(ticket_details(req).requester_name or req.requester_email, limit=200)


def team_line(d: TicketDetails, team: Team, name_of: Callable[[str | None], str]) -> str:
    """Which team, and why: e.g. "Integrations (matched: netsuite, sync; 91% sure)". When the requester picked it
    because triage was unsure, what the classifier would have guessed, and how sure it was (`name_of`: a team's
    name by its key)."""
    choice = triage.TeamChoice(team.key, d.team_how, tuple(d.team_matched), d.team_confidence, d.team_runner_up)
    line = choice.describe(team.name)
    if d.team_how != "asked" or d.team_guess is None:
        return line
    guess = name_of(d.team_guess)
    sure = f", {d.team_confidence:.0%} sure" if d.team_confidence is not None else ""
    why = f" (matched: {', '.join(d.team_matched)})" if d.team_matched else ""
    other = f" over {name_of(d.team_runner_up)}" if d.team_runner_up else ""
    return f"{line}; triage leaned to {guess}{sure}{why}{other}"


def _team_name(key: str | None) -> str:
    team = runtime.current().policy.teams.get(key or "")
    return team.name if team is not None else str(key)


def issue_body(req: Request, team: Team, missing_dris: list[str]) -> str:
    """The issue description."""
    d = ticket_details(req)
    urgency_label, priority = triage.URGENCIES.get(d.urgency, triage.URGENCIES[triage.DEFAULT_URGENCY])
    lines = [
        f"**Request:** {req.ref} · {'Escalation' if req.kind == 'escalation' else 'IT request'} filed from Slack",
        f"**Requester:** {_requester(req)} ({req.requester_email})",
        f"**Team:** {gitlab_safe(team_line(d, team, _team_name), limit=500)}",
        f"**Urgency:** {urgency_label} (priority::{priority})",
    ]
    if d.permalink:
        lines.append(f"**Slack:** {d.permalink}")
    if d.reference:
        lines.append(f"**Ticket:** {gitlab_safe(d.reference, limit=500)}")
    if d.confidential:
        lines.append(f"**Confidential:** {', '.join(d.confidential)}")
    if missing_dris:
        lines.append(f"**DRIs not found in GitLab (not assigned):** {', '.join(missing_dris)}")
    lines += ["", "### Summary", "", gitlab_safe(req.summary)]
    if req.reason:
        lines += ["", "### Details", "", gitlab_safe(req.reason)]
    if d.transcript:
        lines += ["", "### Slack thread", ""]
        for message in d.transcript:
            if message.name:
                lines.append(f"**{gitlab_safe(message.name, limit=200)}** · {message.at}")
            lines += [f"> {line}" for line in gitlab_safe(message.text).split("\n")]
            lines.append("")
    elif d.transcript_error:
        lines += ["", f"_The Slack thread could not be read ({gitlab_safe(d.transcript_error)})._"]
    lines += ["", "---", f"_Filed by EngOps Bot for {req.ref}. Updates here are posted back to the Slack thread._"]
    return "\n".join(lines)


def note_text(req: Request) -> str:
    """The note that adds the request to an existing issue (the requester chose to, on the duplicate offer)."""
    permalink = ticket_details(req).permalink
    return "\n".join(
        [
            f"**Also requested in {req.ref}** by {_requester(req)} ({req.requester_email}) from Slack",
            *([f"**Slack:** {permalink}"] if permalink else []),
            "",
            gitlab_safe(req.summary),
            *(["", gitlab_safe(req.reason)] if req.reason else []),
        ]
    )
