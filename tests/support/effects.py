"""Reading back what happened: a request's status, durable work still pending, requests that did not reach a
final state, and effects that happened twice (Slack messages, GitLab issues)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

from dbos import DBOSClient
from sqlmodel import select

from bot.db.engine import Database, plain_url
from bot.db.models import Request
from engops.sandbox.gitlab import GitLabStandIn
from engops.sandbox.slack import SlackStandIn, message_as_text
from engops.sandbox.stack import Stack

# Where a request rests once nothing more will happen without a person (or the clock) acting.
FINAL = {"done", "denied", "failed", "partly_failed", "filed", "closed", "expired", "ended", "revoked", "undone"}


class Durable:
    """The DBOS system database, read through a client (the bot itself runs in other processes)."""

    def __init__(self, database_url: str) -> None:
        self._client = DBOSClient(system_database_url=plain_url(database_url))

    def close(self) -> None:
        self._client.destroy()

    def unfinished(self) -> list[str]:
        """Workflows queued or running (the per-minute sweeps aside)."""
        found = self._client.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False)
        return sorted(w.workflow_id for w in found if not w.workflow_id.startswith("sched-"))

    def crashed(self) -> list[str]:
        """Workflows that ended with an exception instead of recording an outcome."""
        found = self._client.list_workflows(
            status=["ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"], load_input=False, load_output=True
        )
        return [f"{w.workflow_id} ({w.name}): {str(w.error)[:200]}" for w in found]

    def recovered(self) -> list[str]:
        """Workflows that had to be resumed (started more than once: a worker died while they ran)."""
        found = self._client.list_workflows(load_input=False, load_output=False)
        return sorted(w.workflow_id for w in found if (w.recovery_attempts or 0) > 1)

    def ran_on(self) -> dict[str, int]:
        """How many workflows each executor (worker id) ran last."""
        found = self._client.list_workflows(load_input=False, load_output=False)
        return dict(sorted(Counter(str(w.executor_id) for w in found).items()))

    def wait_drained(self, timeout: float) -> float:
        """Seconds until nothing is queued or running; raises with what is left after `timeout`."""
        started = time.monotonic()
        left: list[str] = []
        while time.monotonic() - started < timeout:
            left = self.unfinished()
            if not left:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"{len(left)} workflows still unfinished after {timeout:.0f}s: {left[:10]}")


def requests_by_id(database_url: str) -> dict[int, Request]:
    db = Database(database_url)
    try:
        with db.session() as session:
            return {r.id: r for r in session.exec(select(Request)) if r.id is not None}
    finally:
        db.dispose()


def repeated_messages(slack: SlackStandIn) -> list[str]:
    """Bot messages that exist twice in one conversation (same thread, same text and blocks).

    Every message the bot posts names its request or escalation, so two identical ones are the
    same message posted twice (cards are updated in place, so duplicated copies end up identical)."""
    repeated = []
    for channel_id in list(slack.channels):
        seen: Counter[tuple[str | None, str, str]] = Counter()
        for message in slack.all_messages(channel_id):
            if message.user == slack.bot_user_id:
                thread = message.thread_ts if message.is_reply else None
                seen[(thread, message.text, json.dumps(message.blocks, sort_keys=True))] += 1
        repeated += [f"{channel_id}: {n} x {text[:160]!r}" for (_, text, _), n in seen.items() if n > 1]
    return repeated


def repeated_issues(gitlab: GitLabStandIn, projects: tuple[str, ...]) -> list[str]:
    """Issue titles filed twice in a project (every title the bot files ends with its REQ id)."""
    repeated = []
    for project in projects:
        titles = Counter(issue["title"] for issue in gitlab.issues(project))
        repeated += [f"{project}: {n} x {title!r}" for title, n in titles.items() if n > 1]
    return repeated


def dms_about(slack: SlackStandIn, who: str, ref: int, wording: str) -> int:
    """Messages in someone's DM with the app that say `wording` about REQ-<ref>."""
    about = re.compile(rf"\bREQ-{ref}\b")
    return sum(
        1 for m in slack.dm(who) if wording in (text := message_as_text(m.text, m.blocks)) and about.search(text)
    )


def request_status(stack: Stack, request_id: int) -> str:
    assert stack.web is not None
    with stack.web.services.db.session() as session:
        req = session.get(Request, request_id)
        assert req is not None
        return req.status
