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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dbos import DBOS
from sqlmodel import func, select

from bot import audit
from bot.db.models import Request, RequestStatus, TrackedIssue
from bot.providers.errors import ProviderError, TransientError
from bot.slack.escape import escape, truncate
from workflows.engine import runtime
from workflows.engine.approvals import refresh_cards
from workflows.engine.durable import step
from workflows.tickets import escalation, note_relay
from workflows.tickets.filing import dri_user_ids

log = logging.getLogger(__name__)

COMMENT_MAX = 1500


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
        return IssueChange(
            kind="issue",
            project=project,
            iid=_int(attrs.get("iid"), "object_attributes.iid"),
            action=str(attrs.get("action") or "update"),
            actor=actor,
            confidential=bool(attrs.get("confidential")),
            labels_added=tuple(t for t in after if t not in before),
            labels_removed=tuple(t for t in before if t not in after),
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
    if change.kind == "issue" and change.action not in ("close", "reopen", "update"):
        return
    if change.action == "update" and not (change.labels_added or change.labels_removed):
        return
    tracked_id = _tracked_issue(change.project, change.iid)
    if tracked_id is None:
        return  # not an issue the bot filed
    if change.kind == "note" and not _by_team_dri(tracked_id, change.author_id):
        return
    if (
        change.action == "edit"
        and change.editor_id != change.author_id
        and not _by_team_dri(tracked_id, change.editor_id)
    ):
        return
    _post_change(tracked_id, event, body)


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
