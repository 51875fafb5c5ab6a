"""One Slack message per relayed GitLab comment, kept up to date when the comment is edited (issue #15).

GitLab sends a Note Hook when a comment is created (`action: create`) and each time its text is edited
(`action: update`, same note id, later `updated_at`); none when it is deleted. The first event to arrive posts the
message and records where it is (`RelayedNote`); an edit then `chat.update`s that message instead of posting
another. The hooks come from GitLab's background jobs and run here side by side, so either may arrive first: the
record is claimed before posting (a second event waits for the first to post) and a message never goes back to an
older version of the comment (the versions are the note's `updated_at`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.db.models import RelayedNote, TrackedIssue
from bot.slack.messenger import Posted
from workflows.engine import runtime


class RelayPending(Exception):
    """Another event of the same comment is posting its message right now: try again shortly."""


@dataclass(frozen=True)
class NoteEvent:
    note_id: int
    version: str  # the note's updated_at, as its hook says ("2026-12-07 19:40:00 UTC": ordered as text)
    edit: bool


@dataclass(frozen=True)
class _Claim:
    row_id: int
    mine: bool  # this workflow posts the message
    version: str
    channel_id: str | None
    ts: str | None


def show(tracked: TrackedIssue, event: NoteEvent, in_thread: str, to_requester: str | None, workflow_id: str) -> None:
    """Show a comment: `to_requester` (a confidential issue's comment) is its text for the requester's DM, and the
    thread gets `in_thread`, which only says there was one; otherwise `in_thread` is its text."""
    assert tracked.id is not None
    in_dm = to_requester is not None
    if (in_dm and not tracked.requester_slack_id) or (not in_dm and not (tracked.channel_id and tracked.thread_ts)):
        _post(tracked, in_thread, to_requester)  # nowhere to show its text, so nothing to keep up to date
        return
    claim = _claim(tracked.id, event, workflow_id)
    if claim.mine:
        try:
            shown = _post(tracked, in_thread, to_requester)
        except BaseException:
            _release(claim.row_id)  # a later attempt, or the comment's next event, posts it
            raise
        assert shown is not None
        _record(claim.row_id, shown)
        return
    if claim.ts is None or claim.channel_id is None:
        raise RelayPending(f"the message of GitLab note {event.note_id} is being posted")
    if not (event.edit and _advance(claim.row_id, event.version)):
        return  # the message already shows this version of the comment, or a later one
    slack = runtime.current().slack
    if to_requester is not None and not claim.channel_id.startswith("D"):
        # The issue was made confidential since: its comment leaves the channel and goes to the requester.
        slack.update(claim.channel_id, claim.ts, in_thread)
        if tracked.requester_slack_id:
            _record(claim.row_id, slack.dm(tracked.requester_slack_id, to_requester))  # later edits update this
        return
    slack.update(claim.channel_id, claim.ts, to_requester or in_thread)


def _post(tracked: TrackedIssue, in_thread: str, to_requester: str | None) -> Posted | None:
    """Post into the thread and the requester's DM; the message that holds the comment's text."""
    slack = runtime.current().slack
    posted = None
    if tracked.channel_id and tracked.thread_ts:
        posted = slack.post(tracked.channel_id, in_thread, thread_ts=tracked.thread_ts)
    if to_requester and tracked.requester_slack_id:
        posted = slack.dm(tracked.requester_slack_id, to_requester)
    return posted


def _claim(tracked_id: int, event: NoteEvent, workflow_id: str) -> _Claim:
    db = runtime.current().db
    try:
        with db.session() as session:
            row = RelayedNote(
                tracked_issue_id=tracked_id, note_id=event.note_id, version=event.version, claimed_by=workflow_id
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            return _Claim(row.id, True, row.version, None, None)
    except IntegrityError:
        pass  # shown, or being shown, by an earlier event (or an earlier attempt of this one)
    with db.session() as session:
        found = session.exec(
            select(RelayedNote)
            .where(RelayedNote.tracked_issue_id == tracked_id)
            .where(RelayedNote.note_id == event.note_id)
        ).one()
        assert found.id is not None
        mine = found.claimed_by == workflow_id and found.ts is None
        return _Claim(found.id, mine, found.version, found.channel_id, found.ts)


def _record(row_id: int, shown: Posted) -> None:
    with runtime.current().db.session() as session:
        row = session.get(RelayedNote, row_id)
        assert row is not None
        row.channel_id, row.ts = shown.channel, shown.ts
        session.add(row)


def _advance(row_id: int, version: str) -> bool:
    """Whether the message is to show `version` (not older than what it shows; the same again when a step that
    updated it runs again)."""
    with runtime.current().db.session() as session:
        result = session.execute(
            update(RelayedNote)
            .where(col(RelayedNote.id) == row_id)
            .where(col(RelayedNote.version) <= version)
            .values(version=version)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _release(row_id: int) -> None:
    with runtime.current().db.session() as session:
        session.execute(delete(RelayedNote).where(col(RelayedNote.id) == row_id).where(col(RelayedNote.ts).is_(None)))
