"""The tables. State lives here; Slack cards are rendered from it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db.types import StrEnumText, UTCDateTime, utcnow
from bot.db.types import created as _created
from bot.db.types import json_column as _json
from bot.db.types import timestamp as _ts


class RequestStatus(StrEnum):
    """Where a request stands. Automated kinds: submitted -> pending -> approved -> running -> done | partly_failed |
    failed (denied, expired or cancelled on the way; access ends revoked or ended, an undone offboarding undone). IT
    requests: running (being filed) -> filed -> closed, or waiting_for_requester while the requester chooses."""

    SUBMITTED = "submitted"
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    RUNNING = "running"
    DONE = "done"
    PARTLY_FAILED = "partly_failed"
    FAILED = "failed"
    REVOKED = "revoked"
    ENDED = "ended"
    UNDONE = "undone"
    FILED = "filed"
    CLOSED = "closed"
    WAITING_FOR_REQUESTER = "waiting_for_requester"


class Request(SQLModel, table=True):
    """An automated request (access, offboarding, key rotation). Shown to users as REQ-<id>."""

    __tablename__ = "request"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    status: RequestStatus = Field(sa_type=StrEnumText(RequestStatus), index=True, nullable=False)
    requester_email: str = Field(index=True)
    requester_slack_id: str = Field(index=True)
    subject_email: str | None = None  # who it is for, when not the requester
    summary: str
    reason: str = ""
    details: dict[str, Any] = _json(dict)
    plan: list[str] = _json(list)
    channel_id: str | None = None
    version: int = 0  # bumped on every state change: compare-and-set guard
    created_at: datetime = _created()
    updated_at: datetime = _created()
    decided_at: datetime | None = _ts()
    decided_by_email: str | None = None
    decided_by_slack_id: str | None = None
    deny_reason: str | None = None
    attempt: int = 0  # execution attempts (Retry failed steps starts another)
    expires_at: datetime | None = _ts(index=True)  # undecided requests expire
    remind_at: datetime | None = _ts(index=True)
    escalate_at: datetime | None = _ts(index=True)
    error: str | None = None

    @property
    def ref(self) -> str:
        return f"REQ-{self.id}"


class ApprovalStep(SQLModel, table=True):
    __tablename__ = "approval_step"
    __table_args__ = (UniqueConstraint("request_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    position: int
    spec: str  # manager | owners | role:<name> | <email>
    approver_emails: list[str] = _json(list)
    approver_slack_ids: list[str] = _json(list)
    status: str = "waiting"  # waiting | pending | approved | denied | skipped
    decided_by_email: str | None = None
    decided_by_slack_id: str | None = None
    decided_at: datetime | None = _ts()
    reminded: bool = False
    escalated: bool = False


class CardCopy(SQLModel, table=True):
    """One posted copy of a request's card (channel post or DM); all are re-rendered on change."""

    __tablename__ = "card_copy"
    __table_args__ = (UniqueConstraint("request_id", "channel_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    channel_id: str
    ts: str
    audience: str  # requester | approver | channel
    recipient_slack_id: str | None = None  # for DM copies


class Grant(SQLModel, table=True):
    __tablename__ = "grant"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    user_email: str = Field(index=True)
    user_slack_id: str | None = None
    okta_user_id: str | None = None  # the account added, removed by id (an email may later name no one, or another)
    okta_group: str
    status: str = "pending"  # pending | active | ended | failed
    granted_at: datetime | None = _ts()
    expires_at: datetime | None = _ts(index=True)
    warned_day: bool = False
    warned_hour: bool = False
    ended_at: datetime | None = _ts()
    ended_by: str | None = None
    end_reason: str | None = None


class Run(SQLModel, table=True):
    """An execution of a request's steps (offboarding, key rotation), with a progress message."""

    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="request.id", index=True)
    status: str = "running"  # running | done | partly_failed | failed | cancelled
    progress_channel: str | None = None
    progress_ts: str | None = None
    started_at: datetime = _created()
    finished_at: datetime | None = _ts()


class RunStep(SQLModel, table=True):
    __tablename__ = "run_step"
    __table_args__ = (UniqueConstraint("run_id", "subject", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="run.id", index=True)
    subject: str  # the person (email) or IAM user the step acts on
    step: str
    position: int
    status: str = "pending"  # pending | running | done | failed | skipped
    detail: str = ""
    attempts: int = 0
    updated_at: datetime = _created()


class TrackedIssue(SQLModel, table=True):
    """A GitLab issue the bot filed, and the Slack thread it is synced into."""

    __tablename__ = "tracked_issue"
    __table_args__ = (UniqueConstraint("project", "iid"),)

    id: int | None = Field(default=None, primary_key=True)
    project: str
    iid: int
    web_url: str
    title: str
    team: str
    kind: str  # it_request | escalation | offboarding
    requester_email: str
    requester_slack_id: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None
    created_at: datetime = _created()
    request_id: int | None = Field(default=None, foreign_key="request.id", index=True)  # the REQ it was filed for
    confidential: bool = False  # then the channel thread gets no content from GitLab, only the requester's DM


class RelayedNote(SQLModel, table=True):
    """A GitLab comment relayed into Slack, and the message that shows it, so that an edit updates that message.

    Written before the message is posted (`ts` None: `claimed_by`, a workflow, is posting it), so that a comment's
    create and edit events, which GitLab may deliver in either order and the worker runs side by side, post one
    message between them. The comment's text is not kept."""

    __tablename__ = "relayed_note"
    __table_args__ = (UniqueConstraint("tracked_issue_id", "note_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tracked_issue_id: int = Field(foreign_key="tracked_issue.id", index=True)
    note_id: int  # GitLab's note id
    version: str  # the note's updated_at (as its webhook says) that the message shows
    claimed_by: str  # the workflow that posts (or posted) the message
    channel_id: str | None = None  # where the comment's text is: the request's thread, or the requester's DM
    ts: str | None = None
    created_at: datetime = _created()


class Escalation(SQLModel, table=True):
    __tablename__ = "escalation"

    id: int | None = Field(default=None, primary_key=True)
    tracked_issue_id: int = Field(foreign_key="tracked_issue.id", index=True)
    team: str
    channel_id: str | None = None
    card_ts: str | None = None
    acked_by_email: str | None = None
    acked_at: datetime | None = _ts()
    pages: int = 1
    next_page_at: datetime | None = _ts(index=True)


class AuditEntry(SQLModel, table=True):
    """Append-only, hash-chained: hash = sha256(prev_hash + canonical entry)."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    actor: str
    action: str = Field(index=True)
    subject: str = ""
    request_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = _json(dict)
    prev_hash: str
    hash: str


class AuditInbox(SQLModel, table=True):
    """Entries committed with the change they record, not yet chained: no lock is shared to write one. The sealer
    (bot.audit.seal) moves them into audit_entry, in id order, under the head's lock."""

    __tablename__ = "audit_inbox"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    actor: str
    action: str
    subject: str = ""
    request_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] = _json(dict)


class AuditHead(SQLModel, table=True):
    """One row: the last sequence number and hash. Locked by the sealer, which alone appends to the chain."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = ""


class SlackEventSeen(SQLModel, table=True):
    """Event ids already handled: Slack retries deliveries."""

    __tablename__ = "slack_event_seen"

    event_id: str = Field(primary_key=True)
    seen_at: datetime = _created()


class Person(SQLModel, table=True):
    """Directory cache: Slack id <-> email, filled as people are resolved."""

    __tablename__ = "person"

    slack_id: str = Field(primary_key=True)
    email: str = Field(index=True, unique=True)
    name: str = ""
    updated_at: datetime = _created()


class RoleMember(SQLModel, table=True):
    """Who holds a policy role right now (static members and Okta group members, refreshed)."""

    __tablename__ = "role_member"
    __table_args__ = (UniqueConstraint("role", "email"), Index("ix_role_member_email", "email"))

    id: int | None = Field(default=None, primary_key=True)
    role: str
    email: str
    refreshed_at: datetime = _created()


class OktaGroupInfo(SQLModel, table=True):
    """Okta group descriptions for the type-ahead (refreshed by the sweep; never looked up on the ack path)."""

    __tablename__ = "okta_group_info"

    name: str = Field(primary_key=True)
    okta_id: str = ""
    description: str = ""
    refreshed_at: datetime = _created()


class Handover(SQLModel, table=True):
    """Durable work promised in the transaction of the change it follows, until the sweep has re-sent it
    (a transactional outbox: see workflows/engine/handover.py)."""

    __tablename__ = "handover"

    workflow_id: str = Field(primary_key=True)
    workflow: str
    args: list[Any] = _json(list)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
