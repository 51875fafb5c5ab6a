"""What an offboarding step says and how it is recorded: its outcome (`done`, `skipped`, `failed`), the person it
acts on (resolved once per person, per SPEC §5), and the outcomes written to their `RunStep` rows with their audit
entries. The steps themselves are in `steps.py`; the Data Transfer step in `transfer.py` speaks the same words."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import bindparam, update

from bot import audit
from bot.db.models import RunStep
from bot.providers.errors import ProviderError
from workflows.engine import identity, runtime

if TYPE_CHECKING:
    from bot.providers.google import GoogleUser
    from bot.providers.okta import OktaUser

log = logging.getLogger(__name__)
T = TypeVar("T")

FLUSH_EVERY = 0.1


@dataclass(frozen=True)
class StepOutcome:
    status: str  # done | skipped | failed | running (google_transfer_data, followed by the workflow)
    detail: str


def done(detail: str) -> StepOutcome:
    return StepOutcome("done", detail)


def skipped(detail: str) -> StepOutcome:
    return StepOutcome("skipped", detail)


def failed(detail: str) -> StepOutcome:
    return StepOutcome("failed", detail)


def describe_error(exc: ProviderError) -> str:
    return exc.message + (f" (HTTP {exc.status})" if exc.status else "")


class Refused(Exception):
    """A step met a refusal from the identity rules (SPEC §5): it does not act."""

    def __init__(self, refusal: identity.Refusal) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal


def refused_outcome(refusal: identity.Refusal) -> StepOutcome:
    # An IAM user that is someone else's or a service user is simply not this person's: nothing to do.
    if isinstance(refusal, identity.TaggedToSomeoneElse | identity.ServiceUser):
        return skipped(refusal.text)
    return failed(refusal.text)


class PersonContext:
    """One person's identities at each provider (`workflows.engine.identity`), resolved once, shared by their steps."""

    def __init__(self, email: str, request_id: int = 0) -> None:
        self.email = email
        self.request_id = request_id  # the offboarding request (REQ-n) the steps run for
        self._found: dict[str, object] = {}

    def _once(self, provider: str, resolve: Callable[[str], T]) -> T:
        if provider not in self._found:
            self._found[provider] = resolve(self.email)
        return self._found[provider]  # type: ignore[return-value]

    def google(self) -> GoogleUser | identity.Refusal | None:
        return self._once("google", identity.google_person)

    def okta(self) -> OktaUser | identity.Refusal | None:
        return self._once("okta", identity.okta_person)

    def iam(self) -> str | identity.Refusal | None:
        return self._once("aws", identity.iam_user_of)

    def google_user(self) -> GoogleUser | None:
        return accepted(self.google())

    def okta_user(self) -> OktaUser | None:
        return accepted(self.okta())

    def iam_user(self) -> str | None:
        return accepted(self.iam())


def accepted(found: T | identity.Refusal | None) -> T | None:
    if isinstance(found, identity.Refusal):
        raise Refused(found)
    return found


NOT_IN_THIS_RELEASE = "is not carried out by this release"


def not_carried_out(step_name: str, email: str) -> str:
    """The honest outcome (and preview line) of a step without an implementation."""
    return f"{step_name} {NOT_IN_THIS_RELEASE}: do it by hand for {email}"


# --- recording outcomes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recorded:
    """One step's outcome, waiting to be written."""

    row_id: int
    email: str
    step: str
    outcome: StepOutcome


class OutcomeRecorder:
    """Writes outcomes (and their audit entries) from one thread, a small batch per transaction.

    SQLite has one writer at a time: sixteen threads each opening a write transaction per step
    would mostly wait on each other's locks. A crash before a batch is written only means those
    steps run again, which they may (they are idempotent)."""

    def __init__(self, request_id: int, on_written: Callable[[], None]) -> None:
        self.request_id = request_id
        self._on_written = on_written
        self._queue: queue.Queue[Recorded] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"outcomes-{request_id}", daemon=True)

    def __enter__(self) -> OutcomeRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._flush()  # whatever is left; an error here fails the step, which then runs again

    def record(self, row_id: int, email: str, step_name: str, outcome: StepOutcome) -> None:
        self._queue.put(Recorded(row_id, email, step_name, outcome))

    def _loop(self) -> None:
        while not self._stop.wait(FLUSH_EVERY):
            try:
                self._flush()
            except Exception:
                log.exception("recording offboarding outcomes failed; trying again")

    def _flush(self) -> None:
        batch: list[Recorded] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        try:
            write_outcomes(self.request_id, batch)
        except BaseException:
            for item in batch:
                self._queue.put(item)
            raise
        self._on_written()


def write_outcomes(request_id: int, batch: list[Recorded]) -> None:
    """Each outcome into its RunStep row, with its audit entry, in one transaction."""
    rt = runtime.current()
    now = rt.clock.now()
    table = RunStep.__table__  # type: ignore[attr-defined]
    by_id = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            status=bindparam("new_status"),
            detail=bindparam("new_detail"),
            attempts=table.c.attempts + 1,
            updated_at=now,
        )
    )
    with rt.db.session() as session:
        session.connection().execute(
            by_id,
            [{"row_id": r.row_id, "new_status": r.outcome.status, "new_detail": r.outcome.detail} for r in batch],
        )
        audit.append_many(
            session,
            [
                {
                    "actor": "engops-bot",
                    "action": f"offboarding.{r.step}",
                    "subject": r.email,
                    "request_id": request_id,
                    "detail": {"status": r.outcome.status, "detail": r.outcome.detail},
                }
                for r in batch
            ],
        )
