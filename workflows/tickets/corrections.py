"""Triage corrections (SPEC §6.4 "Triage learns"): a DRI moved a bot-filed IT request or escalation to another
team in GitLab, by relabelling it (`team::x`) or by moving it to another team's tracker.

What identifies a team on an issue: its labels that start with `team::`, or all its labels when it has none such.
A relabel changes the team when the teams its labels name change: the one team they name now, or, when they
name several, the one team whose label this change added; anything else (a team label removed and none added,
two added at once, a label that names no team) changes nothing. A move changes it to the team whose tracker the
issue went to (none when no team, or several, have that tracker).

`relocate` records where a moved issue lives now. `retriage` writes a team change, in the caller's transaction:
the tracked issue's team, the request's team in its details (which the permission rules read) and the team of its
escalations (who is paged again, who may acknowledge), and, when whoever did it is a DRI of the team it leaves or
of the one it goes to (`counts`), the correction, audited as `triage.corrected`. A relabel by anyone else is not
followed; a move by anyone else is (the issue is where GitLab put it: its events, its team's DRIs), audited as
`triage.followed`, but teaches nothing.

One row per request in `triage_correction`, the DRIs' last word: `from_team` is the team triage chose (kept in the
request's details, `team_triaged`, at its first team change, whether that one counted or not), `to_team` where the
request belongs. A later correction updates that row; a correction back to the team triage chose deletes it (triage
was right after all; the audit log keeps both). Redelivered webhooks and relabels that do not change the team change
nothing.

`recorded_corrections` is what the trainer reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from bot import audit
from bot.db.details import store_details
from bot.db.engine import Database
from bot.db.models import Escalation, Request, TrackedIssue
from bot.db.models_triage import TriageCorrection
from bot.policy import Policy, Team
from workflows.tickets.filing_record import ticket_details

KINDS = ("it_request", "escalation")  # the tracked issues whose team triage chose (not offboarding records)
TEAM_PREFIX = "team::"


@dataclass(frozen=True)
class Correction:
    """A request the DRIs put in another team than triage chose: its text as the requester wrote it."""

    request_id: int
    summary: str
    details: str
    to_team: str
    from_team: str
    at: datetime


def recorded_corrections(db: Database) -> list[Correction]:
    """The latest correction of each request whose team differs from the one triage chose, oldest first."""
    with db.session() as session:
        rows = list(session.exec(select(TriageCorrection).order_by(col(TriageCorrection.id))))
    original: dict[int, str] = {}
    latest: dict[int, TriageCorrection] = {}
    for row in rows:
        original.setdefault(row.request_id, row.from_team)
        if row.request_id not in latest or (row.created_at, row.id or 0) >= (
            latest[row.request_id].created_at,
            latest[row.request_id].id or 0,
        ):
            latest[row.request_id] = row
    found = [
        Correction(r.request_id, r.summary, r.details, r.to_team, original[r.request_id], r.created_at)
        for r in latest.values()
        if r.to_team != original[r.request_id]
    ]
    return sorted(found, key=lambda c: (c.at, c.request_id))


# --- which team -------------------------------------------------------------------------------------
def identifying_labels(team: Team) -> set[str]:
    """The labels (lower-cased) that say an issue is `team`'s: its `team::` labels, else all of them."""
    scoped = [label for label in team.labels if label.lower().startswith(TEAM_PREFIX)]
    return {label.lower() for label in scoped or team.labels}


def teams_named(policy: Policy, labels: Iterable[str]) -> set[str]:
    have = {label.lower() for label in labels}
    return {key for key, team in policy.teams.items() if identifying_labels(team) & have}


def team_after_relabel(policy: Policy, before: Iterable[str], after: Iterable[str]) -> str | None:
    """The team an issue's labels moved it to (see the module's docstring), None when they moved it nowhere."""
    was, now = teams_named(policy, before), teams_named(policy, after)
    if was == now:
        return None
    if len(now) == 1:
        return next(iter(now))
    added = now - was
    return next(iter(added)) if len(added) == 1 else None


def team_of_tracker(policy: Policy, project: str, project_id: int | None = None) -> str | None:
    """The one team whose tracker is `project` (its path, or its numeric id); None for none or several."""
    found = [
        key
        for key, team in policy.teams.items()
        if str(team.tracker).lower() == project.lower()
        or (project_id is not None and str(team.tracker).isdigit() and int(team.tracker) == project_id)
    ]
    return found[0] if len(found) == 1 else None


# --- writing a team change ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Location:
    """Where a moved issue lives now."""

    project: str
    iid: int
    web_url: str
    title: str

    @property
    def ref(self) -> str:
        return f"{self.project}#{self.iid}"


def locked_tracked(session: Session, tracked_id: int) -> TrackedIssue | None:
    """The tracked issue, locked for the rest of the transaction (PostgreSQL; SQLite's writes are serial), so two
    events about one request are decided one after the other."""
    return session.exec(select(TrackedIssue).where(col(TrackedIssue.id) == tracked_id).with_for_update()).first()


def relocate(session: Session, tracked: TrackedIssue, to: Location, policy: Policy, now: datetime) -> None:
    """The issue was moved: the tracked issue and the request's `issue` say where it is now."""
    tracked.project, tracked.iid, tracked.web_url, tracked.title = to.project, to.iid, to.web_url, to.title
    session.add(tracked)
    req = session.get(Request, tracked.request_id) if tracked.request_id else None
    if req is None or req.kind not in KINDS:
        return
    details = ticket_details(req)
    if details.issue is not None:
        details.issue = details.issue.model_copy(
            update={"project": to.project, "iid": to.iid, "web_url": to.web_url, "title": to.title, "ref": to.ref}
        )
        store_details(req, details)
        team = policy.teams.get(tracked.team)
        req.plan = [f"GitLab: moved to {to.ref}" + (f" ({team.name})" if team else ""), to.web_url]
        req.updated_at = now
        session.add(req)


def retriage(
    session: Session,
    tracked: TrackedIssue,
    to_team: str,
    policy: Policy,
    now: datetime,
    *,
    how: str,
    by: str,
    counts: bool,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Move the request of `tracked` (locked by the caller) to `to_team`; False when it is there already. `how`:
    "label" or "move"; `by`: the GitLab username; `counts`: whether it is a correction (a DRI made it)."""
    from_team = tracked.team
    if to_team == from_team or to_team not in policy.teams or tracked.kind not in KINDS:
        return False
    tracked.team = to_team
    session.add(tracked)
    for esc in list(session.exec(select(Escalation).where(Escalation.tracked_issue_id == tracked.id))):
        esc.team = to_team
        session.add(esc)
    req = session.get(Request, tracked.request_id) if tracked.request_id else None
    if req is None or req.id is None:
        return True
    details = ticket_details(req)
    rows = list(
        session.exec(
            select(TriageCorrection).where(TriageCorrection.request_id == req.id).order_by(col(TriageCorrection.id))
        )
    )
    if details.team_triaged is None:  # the first change (a correction row predates the field: its from_team)
        details.team_triaged = rows[0].from_team if rows else from_team
    triaged_to = details.team_triaged
    details.team = to_team
    store_details(req, details)
    if req.plan and details.issue is not None:
        req.plan = [f"GitLab: {details.issue.ref} ({policy.team(to_team).name}, {_verb(how)} by {by})", *req.plan[1:]]
    req.updated_at = now
    session.add(req)
    entry = {"from": from_team, "to": to_team, "how": how, "by": by, "issue": f"{tracked.project}#{tracked.iid}"}
    if not counts:
        audit.append(
            session,
            actor=f"gitlab:{by}",
            action="triage.followed",
            subject=req.requester_email,
            request_id=req.id,
            detail={**entry, **(detail or {}), "why": "not a DRI of either team"},
        )
        return True
    if to_team == triaged_to:
        session.execute(delete(TriageCorrection).where(col(TriageCorrection.request_id) == req.id))
    else:
        row = rows[0] if rows else TriageCorrection(request_id=req.id, from_team=triaged_to, to_team="", summary="")
        for extra in rows[1:]:  # none are written; a row's (request, to_team) is unique, so gone before the update
            session.delete(extra)
        session.flush()
        row.to_team, row.summary, row.details = to_team, req.summary, req.reason
        row.corrected_by, row.how, row.created_at = by, how, now
        session.add(row)
    audit.append(
        session,
        actor=f"gitlab:{by}",
        action="triage.corrected",
        subject=req.requester_email,
        request_id=req.id,
        detail={**entry, **(detail or {}), "triaged_to": triaged_to, "back_to_triage": to_team == triaged_to},
    )
    return True


def _verb(how: str) -> str:
    return "moved" if how == "move" else "relabelled"
