"""The one progress message of a run: posted once, then updated in place at most once per interval.

The message is rendered from the Run / RunStep rows, never from memory, so a worker that takes
over after a crash renders the same thing. A failed Slack call never fails the run it reports on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from sqlmodel import col, select

from bot import permissions
from bot.db import queries
from bot.db.details import details_of
from bot.db.models import Request, RequestStatus, Run, RunStep
from bot.slack.messenger import SlackCallError
from bot.slack.offboarding_views import (
    MAX_PERSON_ROWS,
    ProgressSnapshot,
    StepState,
    progress_blocks,
    progress_text,
)
from workflows.engine import runtime
from workflows.engine.durable import step
from workflows.offboarding.details import OffboardingDetails

log = logging.getLogger(__name__)

# SPEC: at most once a second. chat.update is Tier 3 (about 50 a minute), so a little slower than that.
UPDATE_INTERVAL = 1.2
UNDO_STEPS = ("google_unsuspend", "okta_unsuspend")
UNDOABLE_STEPS = ("google_suspend", "okta_suspend")
RECORD_STEP = "gitlab_issue"


class _Throttle:
    """When each progress message last changed (in this process), so that its changes keep their distance.

    The distance is measured from when Slack answered the previous change, not from when it was asked
    for, so a slow call cannot bring two changes closer together than the interval."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def turn(self, message: tuple[str, str]) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(message, threading.Lock())
        with lock:
            wait = self._last.get(message, float("-inf")) + UPDATE_INTERVAL - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                yield
            finally:
                self.changed(message)

    def changed(self, message: tuple[str, str]) -> None:
        now = time.monotonic()
        with self._guard:
            self._last[message] = now
            if len(self._last) > 1000:  # forget messages that have been quiet for a while
                for old in [m for m, at in self._last.items() if now - at > 60]:
                    self._last.pop(old, None)
                    self._locks.pop(old, None)


_THROTTLE = _Throttle()


# --- state -> snapshot -------------------------------------------------------------------------
class StepRow(NamedTuple):
    subject: str
    step: str
    status: str
    detail: str


def snapshot(run_id: int) -> tuple[ProgressSnapshot, Run]:
    rt = runtime.current()
    with rt.db.session() as session:
        run, req = queries.run_with_request(session, run_id)
        # plain tuples: a bulk run has thousands of rows and this runs every interval
        rows = [
            StepRow(*row)
            for row in session.exec(
                select(RunStep.subject, RunStep.step, RunStep.status, RunStep.detail)
                .where(RunStep.run_id == run_id)
                .order_by(col(RunStep.subject), col(RunStep.position))
            )
        ]
    order = [s for s in rt.policy.offboarding.steps] + list(UNDO_STEPS)
    by_person: dict[str, list[StepRow]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        by_person[row.subject].append(row)
        counts[row.step][row.status] += 1
    details = details_of(req, OffboardingDetails)
    people = list(dict.fromkeys(details.subjects)) or sorted(by_person)
    finished = sum(
        1
        for email in people
        if all(r.status != "pending" for r in by_person.get(email, []) if r.step not in (RECORD_STEP, *UNDO_STEPS))
    )
    failures = [
        (r.subject, StepState(r.step, r.status, r.detail))
        for email in people
        for r in by_person.get(email, [])
        if r.status == "failed"
    ]
    person_steps: list[tuple[str, list[StepState]]] = []
    if len(people) <= MAX_PERSON_ROWS:
        person_steps = [
            (email, [StepState(r.step, r.status, r.detail) for r in by_person.get(email, [])]) for email in people
        ]
    now = rt.clock.now()
    undoable = any(r.step in UNDOABLE_STEPS and r.status == "done" for r in rows)
    snap = ProgressSnapshot(
        request_id=req.id or 0,
        summary=req.summary,
        status=req.status,
        requester_slack_id=req.requester_slack_id,
        requester_email=req.requester_email,
        approved_by=req.decided_by_email,
        people_total=len(people),
        people_finished=finished,
        people_with_failures=len({email for email, _ in failures}),
        step_counts=[(s, dict(counts[s])) for s in order if s in counts],
        failures=failures,
        person_steps=person_steps,
        can_retry=req.status in permissions.RETRYABLE,
        can_undo=(
            req.status in (RequestStatus.DONE, RequestStatus.PARTLY_FAILED)
            and undoable
            and run.finished_at is not None
            and now - run.finished_at < permissions.UNDO_WINDOW
        ),
        note=_note(req, run),
        record_url=details.record.web_url if details.record else None,
    )
    return snap, run


def _note(req: Request, run: Run) -> str:
    undo = details_of(req, OffboardingDetails).undo
    by = undo.by if undo else "an IT admin"
    if run.status == "undoing":
        return f"Undo requested by {by}: unsuspending Google and Okta…"
    if run.status == "undone":
        return (
            f"Undone by {by}: Google and Okta accounts unsuspended. "
            "AWS access keys stay inactive; reactivate them by hand if needed."
        )
    if req.status == RequestStatus.RUNNING and req.attempt > 1:
        return f"Retry (attempt {req.attempt}): only the failed steps run again."
    return ""


# --- posting and updating ------------------------------------------------------------------------
def _target_channel(req: Request) -> str:
    """The channel the request came from; CLI runs (no channel) post in the offboarding team's channel."""
    if req.channel_id:
        return req.channel_id
    policy = runtime.current().policy
    return policy.team(policy.offboarding.team).channel


def post_or_update(run_id: int) -> None:
    """Post the run's message if it has none yet, else update it (throttled)."""
    rt = runtime.current()
    snap, run = snapshot(run_id)
    if run.progress_ts and run.progress_channel:
        update(run_id)
        return
    with rt.db.session() as session:
        req = session.get(Request, run.request_id)
        assert req is not None
    text, blocks = progress_text(snap), progress_blocks(snap)
    try:
        posted = rt.slack.post(_target_channel(req), text, blocks)
    except SlackCallError as exc:
        # e.g. a DM between two people, a private channel without the bot, or a channel Slack keeps failing: the
        # requester's DM still works (raising here instead would stop the run before its steps)
        log.warning(
            "progress of REQ-%s not postable in the request channel (%s); posting to the requester",
            req.id,
            exc.error,
        )
        posted = rt.slack.dm(req.requester_slack_id, text, blocks)
    with rt.db.session() as session:
        row = session.get(Run, run_id)
        assert row is not None
        row.progress_channel, row.progress_ts = posted.channel, posted.ts
        session.add(row)
    _THROTTLE.changed((posted.channel, posted.ts))


def update(run_id: int) -> None:
    """Re-render the message from the database, no sooner than UPDATE_INTERVAL after its last change."""
    rt = runtime.current()
    with rt.db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
    if not (run.progress_channel and run.progress_ts):
        return
    channel, ts = run.progress_channel, run.progress_ts
    with _THROTTLE.turn((channel, ts)):
        snap, _ = snapshot(run_id)  # after the wait: the freshest state
        try:
            rt.slack.update(channel, ts, progress_text(snap), progress_blocks(snap))
        except SlackCallError as exc:
            log.warning("progress of run %s not updated: %s", run_id, exc.error)


@step("workflows.progress.post_progress", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def post_progress(run_id: int) -> None:
    post_or_update(run_id)


@step("workflows.progress.render_progress", retries_allowed=True, max_attempts=4, interval_seconds=1.0)
def render_progress(run_id: int) -> None:
    update(run_id)


class ProgressReporter:
    """While a run works, re-renders its message whenever something changed (at most once per interval)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._changes = 0
        self._rendered = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{run_id}", daemon=True)

    def __enter__(self) -> ProgressReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def touch(self) -> None:
        with self._lock:
            self._changes += 1

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                pending = self._changes
            if pending == self._rendered:
                continue
            try:
                update(self.run_id)  # waits for its turn
            except Exception:  # a progress message is never worth failing the run for
                log.exception("progress update of run %s failed", self.run_id)
            self._rendered = pending
