"""Tables of triage and escalation (SPEC §6.4, §6.5) beyond TrackedIssue and Escalation."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class EscalationCard(SQLModel, table=True):
    """One posted copy of an escalation's card (a DRI's DM or the team channel); all are updated on ack."""

    __tablename__ = "escalation_card"

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    channel_id: str
    ts: str
    audience: str  # dri | channel
    note: str = ""  # what this copy adds to the card (mrkdwn, ours), e.g. a reminder; dropped once acknowledged
