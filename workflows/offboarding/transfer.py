"""`google_transfer_data` (SPEC §6.3 Handover): Drive and Calendar ownership to the handover person.

The person's step starts a Data Transfer API transfer (user ids, not emails; the application ids read
from `applications.list`) and records the step as `running`. A transfer can take hours, so the execute
workflow follows it with a durable timer between checks (`follow`: DBOS.sleep in the workflow body,
never a step blocked on Google) until Google says `completed` or `failed`.

Idempotent: before inserting, the step looks for a transfer between the same two users that has not
failed (one found is followed instead); the transfer's id is kept in the request's details.
"""

from __future__ import annotations

from collections.abc import Callable

from dbos import DBOS
from sqlmodel import col, select

from bot.db.details import details_of, store_details
from bot.db.models import Request, Run, RunStep
from bot.providers.errors import NotFoundError, ProviderError
from bot.providers.google import GoogleUser
from workflows.engine import identity, people, runtime
from workflows.engine.durable import step
from workflows.engine.runtime import NotConfiguredError
from workflows.offboarding import outcomes
from workflows.offboarding.details import OffboardingDetails, Transfer

STEP = "google_transfer_data"
DRIVE, CALENDAR = "Drive and Docs", "Calendar"
# Drive: files shared with others and private ones; Calendar: the person's resource bookings released.
PARAMS = {
    DRIVE: [{"key": "PRIVACY_LEVEL", "value": ["PRIVATE", "SHARED"]}],
    CALENDAR: [{"key": "RELEASE_RESOURCES", "value": ["TRUE"]}],
}
CHECK_EVERY = 300.0  # seconds between checks of running transfers (durable sleep)
MAX_CHECKS = 864  # 3 days of checks; then the step fails and says where to look


def handover_account(email: str) -> tuple[str, GoogleUser | None, str | None]:
    """(handover email or description, their Google account, why there is none) for the person `email`."""
    if runtime.current().policy.offboarding.handover != "manager":
        return "", None, f"handover: ask (the manager picks someone) {outcomes.NOT_IN_THIS_RELEASE}"
    to = people.manager_of(email)
    if not to:
        return "", None, f"no handover person: {email} has no manager in Okta"
    found = identity.google_person(to)
    if isinstance(found, identity.Refusal):
        return to, None, f"handover person {to}: {found.text}"
    if found is None:
        return to, None, f"handover person {to} has no Google account"
    if found.suspended:
        return to, None, f"handover person {to} is suspended in Google"
    return to, found, None


def transfer_data(ctx: outcomes.PersonContext) -> outcomes.StepOutcome:
    """Start (or find) the transfer of the person's Drive and Calendar to the handover person."""
    user = ctx.google_user()
    if user is None:
        return outcomes.skipped("not found in Google")
    to, new_owner, why_not = handover_account(ctx.email)
    if new_owner is None:
        return outcomes.failed(f"{why_not}; transfer Drive and Calendar in the Google Admin console")
    google = runtime.current().require_google()
    apps = google.transfer_applications()
    missing = [name for name in PARAMS if name not in apps]
    if missing:
        return outcomes.failed(f"the Data Transfer API does not list {', '.join(missing)}")
    earlier = [t for t in google.find_transfers(user.id, new_owner.id) if t.status != "failed"]
    transfer = (
        earlier[-1]
        if earlier
        else google.start_transfer(user.id, new_owner.id, {apps[name]: params for name, params in PARAMS.items()})
    )
    _remember(ctx.request_id, ctx.email, transfer.id, to)
    if transfer.status == "completed":
        return outcomes.done(f"Drive and Calendar transferred to {to}")
    return outcomes.StepOutcome("running", f"transferring Drive and Calendar to {to} (transfer {transfer.id})")


def preview_line(email: str, user: GoogleUser | None) -> str:
    if user is None:
        return "Google: not found in Google (skipped)"
    try:
        to, new_owner, why_not = handover_account(email)
    except (ProviderError, NotConfiguredError) as exc:
        return f"Google: handover person not resolved ({exc}); tried again when it runs"
    if new_owner is None:
        return f"Google: Drive and Calendar cannot be transferred: {why_not} (the step will fail)"
    return f"Google: transfer Drive and Calendar of {user.primary_email} to {new_owner.primary_email}"


def _remember(request_id: int, email: str, transfer_id: str, to: str) -> None:
    """The transfer's id in the request's details (row locked: people's steps run in parallel)."""
    with runtime.current().db.session() as session:
        req = session.exec(select(Request).where(col(Request.id) == request_id).with_for_update()).one()
        details = details_of(req, OffboardingDetails)
        known = details.transfers.get(email)
        if known is not None and known.id == transfer_id:
            return
        details.transfers = {**details.transfers, email: Transfer(id=transfer_id, to=to)}
        store_details(req, details)
        session.add(req)


def _running(run_id: int) -> tuple[int, list[RunStep], dict[str, Transfer]]:
    """The run's request, its transfer steps still running, and the transfers it started."""
    with runtime.current().db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        req = session.get(Request, run.request_id)
        assert req is not None
        rows = list(
            session.exec(
                select(RunStep).where(RunStep.run_id == run_id, RunStep.step == STEP, RunStep.status == "running")
            )
        )
        return run.request_id, rows, details_of(req, OffboardingDetails).transfers


def _checked(row: RunStep, transfer: Transfer) -> outcomes.StepOutcome | None:
    """The outcome once Google says the transfer ended; None while it runs (or Google does not answer now)."""
    to = transfer.to
    try:
        status = runtime.current().require_google().get_transfer(transfer.id).status
    except NotFoundError:
        return outcomes.failed(f"Google does not know transfer {transfer.id} any more; Retry starts a new one")
    except (ProviderError, NotConfiguredError):
        return None  # asked again at the next check
    if status == "completed":
        return outcomes.done(f"Drive and Calendar transferred to {to}")
    if status == "failed":
        return outcomes.failed(
            f"Google reports the transfer to {to} failed (transfer {transfer.id}); Retry starts a new one"
        )
    return None


@step("workflows.offboarding_transfer.check_transfers", retries_allowed=True, max_attempts=3, interval_seconds=2.0)
def check_transfers(run_id: int, give_up: bool = False) -> int:
    """Record the transfers that ended; returns how many still run. `give_up`: those fail now."""
    request_id, rows, transfers = _running(run_id)
    finished = []
    for row in rows:
        transfer = transfers.get(row.subject)
        outcome = _checked(row, transfer) if transfer else outcomes.failed("the transfer's id was not recorded; Retry")
        if outcome is None and give_up:
            outcome = outcomes.failed(
                f"not completed after {MAX_CHECKS * CHECK_EVERY / 3600:.0f} hours: check transfer "
                f"{transfer.id if transfer else None} in the Google Admin console"
            )
        if outcome is not None:
            finished.append(outcomes.Recorded(row.id or 0, row.subject, STEP, outcome))
    if finished:
        outcomes.write_outcomes(request_id, finished)
    return len(rows) - len(finished)


def follow(run_id: int, on_change: Callable[[int], None]) -> None:
    """From the execute workflow's body: check, then sleep durably, until no transfer of the run is running."""
    checks = 0
    while check_transfers(run_id, give_up=checks >= MAX_CHECKS):
        on_change(run_id)
        DBOS.sleep(CHECK_EVERY)
        checks += 1
