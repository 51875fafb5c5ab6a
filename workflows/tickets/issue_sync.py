"""Back-sync of GitLab issue changes into the originating Slack thread (SPEC §6.5).

`parse_event` reads an Issue Hook or Note Hook body (the webhook answers 400 when it raises
ValueError). `sync_event`, run by the durable `gitlab_event` workflow, ignores every issue the bot
did not file; for the ones it did, closing, reopening, relabelling and comments are posted into the
request's thread, and the requester is DMed when the issue is closed. Only comments by the DRIs of
the issue's team are relayed ("team members", SPEC §6.5): anyone else who can comment on the issue
in GitLab cannot post into Slack through the bot; the bot's own, system and internal notes never are.
A confidential issue's comments go to the requester's DM only; its channel thread just hears that
there was one. An edited comment (a Note Hook with `action: update`) updates the message that shows
it (`note_relay`), when whoever edited it is a DRI too (a Maintainer may edit anyone's comment); a
deleted one stays in Slack: GitLab sends nothing when a note is deleted.

Triage corrections (SPEC §6.4, `corrections`): a relabel that moves an IT request or escalation to another team
changes its team, after the labels message. Relabel events may arrive out of order or be redelivered long after
(DBOS forgets a delivery once its workflow is gone), so one is applied only while it still describes the issue: the
issue's labels are read from GitLab, and the event counts only when they name the same teams as the labels the event
ends with; the team then is the one the event chose (`corrections.team_after_relabel`). An older event of a
later-undone relabel finds other teams there and changes nothing; the later event decides. A move ("Move issue") is
followed, not told as a close: GitLab opens the new issue in the target project (an "open" Issue Hook there, its
author the bot and its title still ending in `(REQ-n)`) and closes the old one with `moved_to_id` set (a "close"
hook from the old project). Either event, whichever comes first, finds where the issue went (for the close, by
looking in the team trackers for the bot's open issue whose title ends in `(REQ-n)` and that no other tracked issue
is: anyone who can edit a title could make another request's issue end so; and, where GitLab tells both, whose
global id is the event's `moved_to_id`) and moves the tracked issue there, so later events from the new project
match; the team becomes the one whose tracker it is. The thread hears it once (`gitlab_issue_moved`, one workflow
per destination), and the request stays filed. An issue moved where the bot cannot find it keeps its thread, told so
once (audited as `gitlab.issue_moved_elsewhere`, which later events of the old issue find). Who counts: see
`corrections`.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from dbos import DBOS
from sqlmodel import func, select

from bot import audit
from bot.db.models import Escalation, Request, RequestStatus, TrackedIssue
from bot.providers.errors import ProviderError, TransientError
from bot.providers.gitlab import open_issues_filed_by_bot
from bot.slack.escape import escape, truncate
from workflows.engine import runtime
from workflows.engine.approvals import refresh_cards
from workflows.engine.durable import durable, enqueue, step
from workflows.tickets import corrections, escalation, note_relay
from workflows.tickets.filing import dri_user_ids

log = logging.getLogger(__name__)

COMMENT_MAX = 1500
REQUEST_IN_TITLE = re.compile(r"\(REQ-(\d+)\)\s*$")  # the suffix `issue_text.issue_title` ends every title with


@dataclass(frozen=True)
class IssueChange:
    kind: str  # issue | note
    project: str  # path with namespace
    iid: int
    action: str  # issue: open | close | reopen | update; note: comment | edit
    actor: str  # display name of who did it
    confidential: bool  # the issue is
    labels_added: tuple[str, ...] = ()
    labels_removed: tuple[str, ...] = ()
    note: str = ""
    note_url: str = ""
    author_id: int | None = None  # the GitLab user who wrote the note
    skip_note: bool = False  # system or internal note, or written by the issue's author (the bot)
    note_id: int | None = None
    note_version: str = ""  # the note's updated_at: a later edit has a later one
    editor_id: int | None = None  # who edited the note, for an edit
    actor_id: int | None = None  # the GitLab user who did it (`user.id`)
    actor_username: str = ""
    # issue events
    issue_id: int | None = None  # the issue's global id
    issue_author_id: int | None = None
    moved_to_id: int | None = None  # set once the issue was moved (the new issue's global id)
    title: str = ""
    url: str = ""
    project_id: int | None = None
    labels_before: tuple[str, ...] = ()  # all its labels before the change, and after it
    labels_now: tuple[str, ...] = ()


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is missing or not an object")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ValueError(f"{what} is missing or not a number")
    return int(value)


def _titles(value: Any) -> list[str]:
    return [str(label.get("title")) for label in value or [] if isinstance(label, dict) and label.get("title")]


def parse_event(event: str, body: dict[str, Any]) -> IssueChange | None:
    """The change an Issue/Note Hook reports, None for events that are not about an issue."""
    kind = body.get("object_kind")
    if kind not in ("issue", "note"):
        return None
    attrs = _dict(body.get("object_attributes"), "object_attributes")
    project = _dict(body.get("project"), "project").get("path_with_namespace")
    if not isinstance(project, str) or not project:
        raise ValueError("project.path_with_namespace is missing")
    user = _dict(body.get("user"), "user")
    actor = str(user.get("name") or user.get("username") or "someone")
    if kind == "issue":
        changes = body.get("changes")
        changes = changes if isinstance(changes, dict) else {}
        labels = changes.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        before, after = _titles(labels.get("previous")), _titles(labels.get("current"))
        now = after if labels else _titles(attrs.get("labels") or body.get("labels"))
        moved = changes.get("moved_to_id")
        return IssueChange(
            kind="issue",
            project=project,
            iid=_int(attrs.get("iid"), "object_attributes.iid"),
            action=str(attrs.get("action") or "update"),
            actor=actor,
            confidential=bool(attrs.get("confidential")),
            labels_added=tuple(t for t in after if t not in before),
            labels_removed=tuple(t for t in before if t not in after),
            actor_id=_id_or_none(user.get("id")),
            actor_username=str(user.get("username") or ""),
            issue_id=_id_or_none(attrs.get("id")),
            issue_author_id=_id_or_none(attrs.get("author_id")),
            moved_to_id=_id_or_none(attrs.get("moved_to_id"))
            or (_id_or_none(moved.get("current")) if isinstance(moved, dict) else None),
            title=str(attrs.get("title") or ""),
            url=str(attrs.get("url") or ""),
            project_id=_id_or_none(_dict(body.get("project"), "project").get("id")),
            labels_before=tuple(before if labels else now),
            labels_now=tuple(now),
        )
    if attrs.get("noteable_type") != "Issue":
        return None
    issue = _dict(body.get("issue"), "issue")
    note = attrs.get("note")
    if not isinstance(note, str):
        raise ValueError("object_attributes.note is missing")
    author_id = _id_or_none(user.get("id"))  # the note's author, for an edit too
    by_author = author_id is not None and author_id == issue.get("author_id")
    internal = bool(attrs.get("internal") or attrs.get("confidential"))
    edit = attrs.get("action") == "update"
    return IssueChange(
        kind="note",
        project=project,
        iid=_int(issue.get("iid"), "issue.iid"),
        action="edit" if edit else "comment",
        actor=actor,
        confidential=bool(issue.get("confidential")),
        note=note,
        note_url=str(attrs.get("url") or ""),
        author_id=author_id,
        skip_note=bool(attrs.get("system")) or internal or by_author,
        note_id=_id_or_none(attrs.get("id")),
        note_version=str(attrs.get("updated_at") or ""),
        editor_id=(_id_or_none(attrs.get("updated_by_id")) or author_id) if edit else None,
    )


def _id_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def sync_event(event: str, body: dict[str, Any]) -> None:
    """Called from the `gitlab_event` workflow body."""
    try:
        change = parse_event(event, body)
    except ValueError as exc:  # the webhook refuses these; an older queued one is dropped here
        log.warning("ignoring a malformed %s: %s", event, exc)
        return
    if change is None or (change.kind == "note" and change.skip_note):
        return
    if change.kind == "issue" and change.action == "open":
        _follow_move_here(change)
        return
    if change.kind == "issue" and change.action not in ("close", "reopen", "update"):
        return
    if change.action == "update" and not (change.labels_added or change.labels_removed or change.moved_to_id):
        return
    tracked_id = _tracked_issue(change.project, change.iid)
    if tracked_id is None:
        return  # not an issue the bot filed (or one it followed elsewhere since)
    if change.kind == "issue" and change.moved_to_id is not None and _follow_move_away(tracked_id, change):
        return
    if change.action == "update" and not (change.labels_added or change.labels_removed):
        return
    if change.kind == "note" and not _by_team_dri(tracked_id, change.author_id):
        return
    if (
        change.action == "edit"
        and change.editor_id != change.author_id
        and not _by_team_dri(tracked_id, change.editor_id)
    ):
        return
    _post_change(tracked_id, event, body)
    if change.kind == "issue" and (change.labels_added or change.labels_removed):
        moved = _relabelled(tracked_id, event, body)
        for escalation_id in moved["escalations"] if moved else []:
            escalation.refresh_cards(escalation_id)
        if moved and moved["request_id"] is not None:
            refresh_cards(moved["request_id"])


@step("workflows.issue_sync._tracked_issue")
def _tracked_issue(project: str, iid: int) -> int | None:
    with runtime.current().db.session() as session:
        row = session.exec(
            select(TrackedIssue)
            .where(func.lower(TrackedIssue.project) == project.lower())
            .where(TrackedIssue.iid == iid)
        ).first()
        return row.id if row else None


@step("workflows.issue_sync._by_team_dri", retries_allowed=True, max_attempts=4, interval_seconds=2.0, backoff_rate=2.0)
def _by_team_dri(tracked_id: int, author_id: int | None) -> bool:
    """Whether a note's author is a DRI of the team the issue was filed for (found in GitLab as for
    assignment) and not the bot itself. When GitLab cannot say, the note is not relayed."""
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, tracked_id)
        team_key = tracked.team if tracked is not None else None
    if author_id is None or rt.gitlab is None or team_key not in rt.policy.teams:
        return False
    try:
        if author_id == rt.gitlab.current_user_id():
            return False
        dris, _missing = dri_user_ids(rt.gitlab, rt.policy, rt.policy.team(str(team_key)))
    except TransientError:
        raise
    except ProviderError as exc:
        log.warning(
            "not relaying a comment on tracked issue %s: GitLab could not say who wrote it (%s)", tracked_id, exc
        )
        return False
    if author_id not in dris:
        log.info("not relaying a comment on tracked issue %s by GitLab user %s: not a DRI", tracked_id, author_id)
    return author_id in dris


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in escape(truncate(text.strip(), COMMENT_MAX)).split("\n"))


def messages_for(change: IssueChange, issue_link: str, ref: str, private_thread: bool) -> tuple[str, str | None]:
    """(what the thread gets, what the requester is DMed or None)."""
    actor = escape(change.actor)
    if change.kind == "note":
        edited = " (edited)" if change.action == "edit" else ""
        comment = f":speech_balloon: *{actor}* commented on {issue_link}{edited}:\n{_quote(change.note)}"
        if change.confidential and not private_thread:
            return (
                f":speech_balloon: *{actor}* commented on {issue_link} (confidential issue: "
                "the comment was sent to the requester)."
            ), comment
        return comment, None
    if change.action == "close":
        return (
            f":white_check_mark: {issue_link} was closed by *{actor}* in GitLab.",
            f":white_check_mark: Your request *{ref}* ({issue_link}) was closed by *{actor}*.",
        )
    if change.action == "reopen":
        return f":leftwards_arrow_with_hook: {issue_link} was reopened by *{actor}*.", None
    parts = []
    if change.labels_added:
        parts.append("added " + ", ".join(f"`{escape(t)}`" for t in change.labels_added))
    if change.labels_removed:
        parts.append("removed " + ", ".join(f"`{escape(t)}`" for t in change.labels_removed))
    return f":label: *{actor}* changed the labels of {issue_link}: {'; '.join(parts)}.", None


@step("workflows.issue_sync._post_change", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _post_change(tracked_id: int, event: str, body: dict[str, Any]) -> None:
    change = parse_event(event, body)
    assert change is not None
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, tracked_id)
        assert tracked is not None
        req = session.get(Request, tracked.request_id) if tracked.request_id else None
        if req is not None and change.action in ("close", "reopen"):
            status = RequestStatus.CLOSED if change.action == "close" else RequestStatus.FILED
            if req.status in (RequestStatus.FILED, RequestStatus.CLOSED) and req.status != status:
                req.status, req.version, req.updated_at = status, req.version + 1, rt.clock.now()
                session.add(req)
            audit.append(
                session,
                actor=f"gitlab:{change.actor}",
                action=f"gitlab.issue_{change.action}d" if change.action == "close" else "gitlab.issue_reopened",
                subject=tracked.requester_email,
                request_id=tracked.request_id,
                detail={"issue": f"{tracked.project}#{tracked.iid}"},
            )
    ref = req.ref if req else f"{tracked.project}#{tracked.iid}"
    link = f"<{tracked.web_url}|{escape(tracked.project)}#{tracked.iid}>"
    private_thread = (tracked.channel_id or "").startswith("D")
    in_thread, to_requester = messages_for(change, link, ref, private_thread)
    if change.kind == "note" and change.note_id is not None:
        event_of_note = note_relay.NoteEvent(change.note_id, change.note_version, edit=change.action == "edit")
        note_relay.show(tracked, event_of_note, in_thread, to_requester, DBOS.workflow_id or f"note-{change.note_id}")
        return
    if tracked.channel_id and tracked.thread_ts:
        rt.slack.post(tracked.channel_id, in_thread, thread_ts=tracked.thread_ts)
    if to_requester and tracked.requester_slack_id:
        rt.slack.dm(tracked.requester_slack_id, to_requester)
    if change.action == "close" and tracked.id is not None:
        for escalation_id in escalation.close_for_issue(tracked.id, rt.clock.now()):
            escalation.refresh_cards(escalation_id)
    if req is not None and req.id is not None and change.action in ("close", "reopen"):
        refresh_cards(req.id)


# --- triage corrections: relabels and moves (SPEC §6.4) ------------------------------------------------
def _is_dri(actor_id: int | None, team_keys: list[str]) -> bool:
    """Whether the GitLab user `actor_id` is a DRI of one of these teams (found in GitLab as for assignment), and
    not the bot. Transient GitLab errors raise (the step retries); when GitLab cannot say, not a DRI."""
    rt = runtime.current()
    if actor_id is None or rt.gitlab is None:
        return False
    try:
        if actor_id == rt.gitlab.current_user_id():
            return False
        for key in dict.fromkeys(team_keys):
            if key in rt.policy.teams and actor_id in dri_user_ids(rt.gitlab, rt.policy, rt.policy.team(key))[0]:
                return True
    except TransientError:
        raise
    except ProviderError as exc:
        log.warning("GitLab could not say whether user %s is a DRI (%s): not a triage correction", actor_id, exc)
    return False


@step("workflows.issue_sync._relabelled", retries_allowed=True, max_attempts=4, interval_seconds=2.0, backoff_rate=2.0)
def _relabelled(tracked_id: int, event: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """A relabel that names another team moves the request there, when a DRI of a team it names (before or after)
    or of the request's team made it, and the issue's labels in GitLab still name the teams it left them naming.
    Then (also when an earlier run of this step did it) the request and its escalations, whose cards to refresh."""
    change = parse_event(event, body)
    assert change is not None
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, tracked_id)
        if tracked is None or tracked.kind not in corrections.KINDS:
            return None
        team, where = tracked.team, (tracked.project, tracked.iid)
    target = corrections.team_after_relabel(rt.policy, change.labels_before, change.labels_now)
    if target is None or rt.gitlab is None:
        return None
    if (where[0].lower(), where[1]) != (change.project.lower(), change.iid):
        return None  # followed to another issue since
    try:
        current = rt.gitlab.get_issue(where[0], where[1]).labels
    except TransientError:
        raise
    except ProviderError as exc:
        log.warning(
            "tracked issue %s relabelled, but GitLab cannot show its labels (%s): not followed", tracked_id, exc
        )
        return None
    if corrections.teams_named(rt.policy, current) != corrections.teams_named(rt.policy, change.labels_now):
        log.info(
            "tracked issue %s: a relabel to %s that was undone since (a late event): not followed", tracked_id, target
        )
        return None
    named = sorted(corrections.teams_named(rt.policy, change.labels_before))
    if target != team and not _is_dri(change.actor_id, [team, *named, target]):
        log.info("tracked issue %s relabelled to %s by %s, not a DRI: not followed", tracked_id, target, change.actor)
        return None
    with rt.db.session() as session:
        tracked = corrections.locked_tracked(session, tracked_id)
        if tracked is None:
            return None
        labels = {"labels_added": list(change.labels_added), "labels_removed": list(change.labels_removed)}
        now, by = rt.clock.now(), _who(change)
        corrections.retriage(session, tracked, target, rt.policy, now, how="label", by=by, counts=True, detail=labels)
        if tracked.team != target:
            return None
        found = session.exec(select(Escalation.id).where(Escalation.tracked_issue_id == tracked_id))
        return {"request_id": tracked.request_id, "escalations": [i for i in found if i is not None]}


def _who(change: IssueChange) -> str:
    return change.actor_username or change.actor


def _mover(change: IssueChange) -> dict[str, Any]:
    return {"id": change.actor_id, "username": _who(change), "name": change.actor}


def _follow_move_away(tracked_id: int, change: IssueChange) -> bool:
    """The issue was closed by a move (`moved_to_id`): follow it to the team tracker it went to (from the
    workflow body). False for an issue that is not an IT request or escalation (an offboarding record): its
    close is told as any close."""
    search = _find_moved(tracked_id, change.moved_to_id)
    if not search["ours"]:
        return False
    destination = search["found"]
    if destination is None:
        if _claim_lost_move(tracked_id, [change.project, change.iid], change.moved_to_id, _mover(change)):
            _lost_move(tracked_id, _mover(change))
        return True
    followed = _follow_move(tracked_id, [change.project, change.iid], destination, _mover(change))
    if followed is not None:
        _tell_moved_once(followed)
    return True


def _follow_move_here(change: IssueChange) -> None:
    """An issue opened in a tracker: one the bot filed, moved here from another project, is followed (from the
    workflow body)."""
    named = REQUEST_IN_TITLE.search(change.title)
    if named is None or _tracked_issue(change.project, change.iid) is not None:
        return
    tracked_id = _moved_here_from(int(named[1]), change.project, change.issue_author_id)
    if tracked_id is None:
        return
    destination = {
        "project": change.project,
        "project_id": change.project_id,
        "iid": change.iid,
        "web_url": change.url,
        "title": change.title,
    }
    followed = _follow_move(tracked_id, None, destination, _mover(change))
    if followed is not None:
        _tell_moved_once(followed)


@step("workflows.issue_sync._moved_here_from", retries_allowed=True, max_attempts=4, interval_seconds=2.0)
def _moved_here_from(request_id: int, project: str, author_id: int | None) -> int | None:
    """The tracked issue (its id) of REQ-`request_id` when it lives in another project and the issue just opened
    in `project` was written by the bot: what GitLab opens when it moves an issue keeps its author (a person's
    clone is theirs), so nobody else can claim a request this way."""
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.exec(select(TrackedIssue).where(TrackedIssue.request_id == request_id)).first()
        if tracked is None or tracked.id is None or tracked.kind not in corrections.KINDS:
            return None
        if tracked.project.lower() == project.lower():
            return None  # a retry's own issue, or the issue it was filed as: nothing moved
        tracked_id = tracked.id
    if author_id is None or rt.gitlab is None or author_id != rt.gitlab.current_user_id():
        return None
    return tracked_id


@step("workflows.issue_sync._find_moved", retries_allowed=True, max_attempts=4, interval_seconds=2.0, backoff_rate=2.0)
def _find_moved(tracked_id: int, moved_to_id: int | None = None) -> dict[str, Any]:
    """Where a moved IT request or escalation went (`found`): the bot's open issue in another team's tracker
    whose title ends with the request's `(REQ-n)`, that is no tracked issue (another request's issue retitled so is
    not where this one went) and, when both are known, whose global id is `moved_to_id`; None when no tracker (or
    more than one) has it. `ours`: False for other tracked issues (offboarding records)."""
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, tracked_id)
        if tracked is None or tracked.request_id is None or tracked.kind not in corrections.KINDS:
            return {"ours": False, "found": None}
        here, suffix = tracked.project.lower(), f"(REQ-{tracked.request_id})"
    if rt.gitlab is None:
        return {"ours": True, "found": None}
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for tracker in dict.fromkeys(str(team.tracker) for team in rt.policy.teams.values()):
        if tracker.lower() == here:
            continue
        try:
            issues = open_issues_filed_by_bot(rt.gitlab, tracker, f"REQ-{tracked.request_id}", confidential=False)
        except TransientError:
            raise
        except ProviderError as exc:
            log.warning("cannot look for moved issue %s in %s: %s", tracked_id, tracker, exc)
            continue
        for issue in issues:
            global_id = getattr(issue, "id", None)  # when the adapter reports it
            if moved_to_id is not None and global_id is not None and global_id != moved_to_id:
                continue
            if issue.title.endswith(suffix) and issue.project.lower() != here:
                found[(issue.project.lower(), issue.iid)] = {
                    "project": issue.project,
                    "project_id": int(tracker) if tracker.isdigit() else None,  # a tracker given by its id
                    "iid": issue.iid,
                    "web_url": issue.web_url,
                    "title": issue.title,
                }
    if found:
        with rt.db.session() as session:
            for project, iid in list(found):
                taken = session.exec(
                    select(TrackedIssue.id)
                    .where(func.lower(TrackedIssue.project) == project)
                    .where(TrackedIssue.iid == iid)
                ).first()
                if taken is not None and taken != tracked_id:  # this one: the move's other event followed it
                    log.warning(
                        "moved issue %s: %s#%s claims its request but is another one's", tracked_id, project, iid
                    )
                    del found[(project, iid)]
    return {"ours": True, "found": next(iter(found.values())) if len(found) == 1 else None}


@step("workflows.issue_sync._follow_move", retries_allowed=True, max_attempts=4, interval_seconds=2.0, backoff_rate=2.0)
def _follow_move(
    tracked_id: int, seen_at: list[Any] | None, destination: dict[str, Any], mover: dict[str, Any]
) -> dict[str, Any] | None:
    """Move the tracked issue to `destination` (and its request to the team whose tracker that is); what to tell
    the thread, also when an earlier run or the other event of the same move did it. None when the tracked
    issue is no longer where the event saw it (`seen_at`: project and iid) nor at `destination`."""
    rt = runtime.current()
    to = corrections.Location(
        str(destination["project"]), int(destination["iid"]), str(destination["web_url"]), str(destination["title"])
    )
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, tracked_id)
        if tracked is None:
            return None
        team = tracked.team
    to_team = corrections.team_of_tracker(rt.policy, to.project, destination.get("project_id"))
    counts = to_team is not None and to_team != team and _is_dri(mover.get("id"), [team, to_team])
    with rt.db.session() as session:
        tracked = corrections.locked_tracked(session, tracked_id)
        if tracked is None:
            return None
        told = {"tracked_id": tracked_id, **destination, "actor": mover.get("name") or mover.get("username") or ""}
        if (tracked.project.lower(), tracked.iid) == (to.project.lower(), to.iid):
            return {**told, "team": tracked.team}  # already followed
        if seen_at is not None and (tracked.project.lower(), tracked.iid) != (str(seen_at[0]).lower(), seen_at[1]):
            return None
        was = f"{tracked.project}#{tracked.iid}"
        now = rt.clock.now()
        corrections.relocate(session, tracked, to, rt.policy, now)
        if to_team is not None:
            corrections.retriage(
                session,
                tracked,
                to_team,
                rt.policy,
                now,
                how="move",
                by=str(mover.get("username") or ""),
                counts=counts,
                detail={"moved_from": was},
            )
        audit.append(
            session,
            actor=f"gitlab:{mover.get('username') or ''}",
            action="gitlab.issue_moved",
            subject=tracked.requester_email,
            request_id=tracked.request_id,
            detail={"from": was, "to": to.ref, "team": tracked.team},
        )
        return {**told, "team": tracked.team}


LOST_MOVE = "gitlab.issue_moved_elsewhere"


@step("workflows.issue_sync._claim_lost_move", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _claim_lost_move(tracked_id: int, seen_at: list[Any], moved_to_id: int | None, mover: dict[str, Any]) -> bool:
    """Record that the issue (at `seen_at`: project and iid) was moved where the bot cannot find it; False when
    that was recorded before (an earlier event of the old issue), so the thread is told once."""
    rt = runtime.current()
    was = f"{seen_at[0]}#{seen_at[1]}".lower()
    with rt.db.session() as session:
        tracked = corrections.locked_tracked(session, tracked_id)
        if tracked is None or tracked.request_id is None:
            return False
        if any(
            str(d.get("from", "")).lower() == was
            for d in audit.details_recorded(session, tracked.request_id, (LOST_MOVE,))
        ):
            return False
        audit.append(
            session,
            actor=f"gitlab:{mover.get('username') or ''}",
            action=LOST_MOVE,
            subject=tracked.requester_email,
            request_id=tracked.request_id,
            detail={"from": f"{seen_at[0]}#{seen_at[1]}", "moved_to_id": moved_to_id, "team": tracked.team},
        )
        return True


@step("workflows.issue_sync._lost_move", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _lost_move(tracked_id: int, mover: dict[str, Any]) -> None:
    """Moved where the bot cannot find it (not to a team's tracker): the thread is told; the request stays."""
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, tracked_id)
        assert tracked is not None
    if tracked.channel_id and tracked.thread_ts:
        who = escape(str(mover.get("name") or mover.get("username") or "someone"))
        link = f"<{tracked.web_url}|{escape(tracked.project)}#{tracked.iid}>"
        rt.slack.post(
            tracked.channel_id,
            f":truck: *{who}* moved {link} to a project that is not a team's tracker: "
            "its updates no longer reach this thread.",
            thread_ts=tracked.thread_ts,
        )


def _tell_moved_once(followed: dict[str, Any]) -> None:
    """One message per move, however many of its events followed it (from the workflow body)."""
    where = hashlib.sha256(f"{followed['project']}#{followed['iid']}".lower().encode()).hexdigest()[:16]
    enqueue("gitlab_issue_moved", f"issue-moved-{followed['tracked_id']}-{where}", followed)


@durable("gitlab_issue_moved")
def gitlab_issue_moved(followed: dict[str, Any]) -> None:
    for escalation_id in _tell_moved(followed):
        escalation.refresh_cards(escalation_id)


@step("workflows.issue_sync._tell_moved", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def _tell_moved(followed: dict[str, Any]) -> list[int]:
    """The thread hears where the issue went and which team has it now; the request's cards are refreshed; the
    escalations whose cards to refresh."""
    rt = runtime.current()
    with rt.db.session() as session:
        tracked = session.get(TrackedIssue, int(followed["tracked_id"]))
        assert tracked is not None
        escalations = [
            i for i in session.exec(select(Escalation.id).where(Escalation.tracked_issue_id == tracked.id)) if i
        ]
    team = rt.policy.teams.get(str(followed.get("team") or ""))
    link = f"<{followed['web_url']}|{escape(str(followed['project']))}#{followed['iid']}>"
    text = f":truck: *{escape(str(followed.get('actor') or 'someone'))}* moved the issue to {link}"
    text += f": this request is now with *{escape(team.name)}*." if team else "."
    if tracked.channel_id and tracked.thread_ts:
        rt.slack.post(tracked.channel_id, text, thread_ts=tracked.thread_ts)
    if tracked.request_id is not None:
        refresh_cards(tracked.request_id)
    return escalations
