"""At most one Slack message per post a durable step makes, even when the step runs again.

A DBOS step is at-least-once: killed after chat.postMessage took effect but before the step's outcome
was recorded (or retried after a later call in it failed), it runs again and would post the same
message twice; Slack has no idempotency key. So every post a step makes is written down first (the
intent: workflow id, step id, conversation, thread and how many posts the step made there before)
and completed with the message's ts once Slack answers. A step that runs again and meets
- a completed entry gets that message back, and nothing is posted;
- an intent without an answer looks for the message in the conversation (a bot message with the
  same text, posted since the intent) and posts only when it is not there.
Posts made outside a step (web handlers, the console) go straight through.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from bot.db.engine import Database
from bot.db.models_slack import SlackPost

CONVERSATION_ID = re.compile(r"[CDG][A-Z0-9]{2,}")
CLOCK_SKEW = timedelta(minutes=5)  # between our clock (the intent's time) and Slack's (message ts)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Intent:
    """What an earlier run of the step recorded for this post."""

    channel: str
    thread_ts: str | None
    text_hash: str
    since: datetime
    posted_channel: str | None = None
    ts: str | None = None


class PostLedger:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()  # the running step attempt and its posts so far, per thread

    def key_for(self, channel: str, thread_ts: str | None) -> str | None:
        """This post's key inside the running DBOS step; None outside a step.

        The same post gets the same key in every run of the step: the count is per conversation and
        thread (a run that skips posts already recorded elsewhere still numbers the others alike)
        and restarts with each attempt."""
        from dbos import DBOS

        status, workflow_id = DBOS.step_status, DBOS.workflow_id
        if status is None or workflow_id is None:
            return None
        scope = (workflow_id, status.step_id, status.current_attempt)
        if getattr(self._local, "scope", None) != scope:
            self._local.scope, self._local.counts = scope, Counter()
        where = f"{channel}/{thread_ts or '-'}"
        n = self._local.counts[where]
        self._local.counts[where] += 1
        return f"{workflow_id}/{status.step_id}/{where}/{n}"

    def claim(self, key: str, channel: str, thread_ts: str | None, text: str) -> Intent | None:
        """An earlier run's entry for this post, or None once this run's intent is written."""
        with self._db.session() as session:
            row = session.get(SlackPost, key)
            if row is None:
                session.add(SlackPost(key=key, channel=channel, thread_ts=thread_ts, text_hash=text_hash(text)))
                return None
            return Intent(row.channel, row.thread_ts, row.text_hash, row.created_at, row.posted_channel, row.ts)

    def record(self, key: str, channel: str, ts: str) -> None:
        with self._db.session() as session:
            row = session.get(SlackPost, key)
            if row is not None and row.ts is None:
                row.posted_channel, row.ts = channel, ts
                session.add(row)

    def conversation_id(self, channel: str) -> str | None:
        """The id to read a conversation by: as given, or what Slack answered for that #name before."""
        if CONVERSATION_ID.fullmatch(channel):
            return channel
        with self._db.session() as session:
            return session.exec(
                select(SlackPost.posted_channel)
                .where(SlackPost.channel == channel)
                .where(col(SlackPost.posted_channel).is_not(None))
                .limit(1)
            ).first()

    def forget_before(self, moment: datetime) -> int:
        """Drop entries older than any step that could still run again; returns how many."""
        with self._db.session() as session:
            gone = session.execute(delete(SlackPost).where(col(SlackPost.created_at) < moment))
            return int(gone.rowcount)  # type: ignore[attr-defined]
