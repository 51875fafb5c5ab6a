"""Messages durable steps post in Slack, so a step that runs again (after a crash, or a retry) does not
post the same message twice (see bot/slack/post_ledger.py)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.db.types import UTCDateTime, utcnow


class SlackPost(SQLModel, table=True):
    """Written before chat.postMessage (the intent) and completed with the message's ts after it."""

    __tablename__ = "slack_post"

    key: str = Field(primary_key=True)  # workflow id, step id, conversation, thread, n-th post there
    channel: str = Field(index=True)  # as asked: a conversation id or a #name
    thread_ts: str | None = None
    text_hash: str  # sha256 of the text sent, to recognise the message in the conversation's history
    posted_channel: str | None = None  # the conversation id Slack answered with
    ts: str | None = None  # None: posted or not, the answer was never recorded
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
