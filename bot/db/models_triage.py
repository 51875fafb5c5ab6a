"""Tables of triage and escalation (SPEC §6.4, §6.5) beyond TrackedIssue and Escalation: escalation cards, the
team classifier's versions, corrections, and threads filed by emoji."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db.types import created as _created
from bot.db.types import json_column as _json


class EscalationCard(SQLModel, table=True):
    """One posted copy of an escalation's card (a DRI's DM or the team channel); all are updated on ack."""

    __tablename__ = "escalation_card"

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    channel_id: str
    ts: str
    audience: str  # dri | channel
    note: str = ""  # what this copy adds to the card (mrkdwn, ours), e.g. a reminder; dropped once acknowledged


class TriageModel(SQLModel, table=True):
    """A fitted team classifier (SPEC §6.4, §7 `engops triage retrain`). Versions are kept; exactly one is live, and
    rollback makes the one that was live before it live again. Every process reads the live version's id before it
    classifies and loads the weights when that id changes."""

    __tablename__ = "triage_model"

    id: int | None = Field(default=None, primary_key=True)  # the version
    created_at: datetime = _created()
    live: bool = Field(default=False, index=True)
    previous_id: int | None = None  # the model that was live when this one went live
    teams_fingerprint: str  # the policy's teams (keys, keywords, descriptions, examples) it was trained for
    weights: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # zlib-compressed JSON (team_model.py)
    examples: int = 0  # shipped and policy examples it learnt from
    corrections: int = 0  # recorded corrections it learnt from
    metrics: dict[str, Any] = _json(dict)  # cross-validated accuracy with and without the corrections
    trained_by: str = ""  # "schedule", or who ran `engops triage retrain`


class TriageCorrection(SQLModel, table=True):
    """A DRI moved a bot-filed issue to another team (relabelled `team::x`, or moved it to another tracker): what
    the request said and where it belonged. Corrections train the next model."""

    __tablename__ = "triage_correction"
    __table_args__ = (UniqueConstraint("request_id", "to_team"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _created()
    request_id: int = Field(foreign_key="request.id", index=True)
    from_team: str
    to_team: str
    summary: str
    details: str = ""
    corrected_by: str = ""  # the GitLab username the webhook named
    how: str = ""  # label | move


class IntakeThread(SQLModel, table=True):
    """A Slack thread filed by emoji intake (SPEC §6.4): one per thread, however many reactions or people."""

    __tablename__ = "intake_thread"
    __table_args__ = (UniqueConstraint("channel_id", "thread_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    channel_id: str
    thread_ts: str
    reacted_by: str  # the Slack id of the helpdesk member whose reaction claimed it (the requester)
    request_id: int | None = Field(default=None, foreign_key="request.id", index=True)
    created_at: datetime = _created()
    # The DBOS workflow working on the thread (a reaction's attempt to file it, or a pick of the team); None while
    # the bot's question waits for a pick. A failed attempt gives it up (a reaction's row is deleted), so a later
    # reaction or click can try again.
    claimed_by: str | None = None
    picked_by: str | None = None  # the Slack id of who picked the team, when the bot asked
