"""The offboarding steps (SPEC §6.3) and how a run carries them out.

Each step is idempotent (safe to run twice) and gets its own outcome in its `RunStep` row:
`done` (it changed something), `skipped` (nothing to do: not found, already suspended) or
`failed`. A person's steps run in policy order; a failed step does not stop the next one,
since each step checks for itself what it depends on (the user existing at that provider,
looked up once per person). People are worked on in parallel, bounded; the adapters pace
the calls to each provider (Okta: semaphore + `X-Rate-Limit-*`; Google: token bucket), and a
429 is waited out here too, so it is never recorded as a failure.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar, get_args

from sqlmodel import col, select

from bot.db.models import Run, RunStep
from bot.policy import OffboardingStep
from bot.providers.errors import NotFoundError, ProviderError, RateLimitedError
from workflows.engine import identity, runtime
from workflows.engine.durable import step
from workflows.engine.runtime import NotConfiguredError
from workflows.offboarding import end_grants, progress, protection
from workflows.offboarding import transfer as offboarding_transfer
from workflows.offboarding.outcomes import (
    OutcomeRecorder,
    PersonContext,
    Refused,
    StepOutcome,
    describe_error,
    done,
    failed,
    not_carried_out,
    refused_outcome,
    skipped,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
T = TypeVar("T")

PEOPLE_IN_PARALLEL = 16
RATE_LIMIT_PATIENCE = 15 * 60.0  # seconds of 429s before a step gives up (a provider that never recovers)


StepFn = Callable[["PersonContext"], "StepOutcome"]


# --- the steps ---------------------------------------------------------------------------------
# Each acts on the resolved account (Google primary email, Okta id, IAM user), never on the address typed.
def google_suspend(ctx: PersonContext) -> StepOutcome:
    user = ctx.google_user()
    if user is None:
        return skipped("not found in Google")
    if user.suspended:
        return skipped("already suspended")
    runtime.current().require_google().set_suspended(user.primary_email, True)
    return done("suspended (was active)")


def google_signout(ctx: PersonContext) -> StepOutcome:
    user = ctx.google_user()
    if user is None:
        return skipped("not found in Google")
    try:
        runtime.current().require_google().sign_out(user.primary_email)
    except NotFoundError:
        return skipped("not found in Google")
    return done("signed out of every session")


def not_in_okta(email: str) -> StepOutcome:
    """Someone being offboarded who is missing from Okta may still be able to sign in there (a login unlike
    their email that no `profile.email` names either): never a quiet skip, always a step to look at."""
    return failed(
        f"not found in Okta: no user has the login or profile.email {email}; find them in Okta and suspend "
        "them by hand (or set their profile.email), then Retry failed steps"
    )


def okta_suspend(ctx: PersonContext) -> StepOutcome:
    user = ctx.okta_user()
    if user is None:
        return not_in_okta(ctx.email)
    if user.status == "SUSPENDED":
        return skipped("already suspended")
    if user.status == "DEPROVISIONED":
        return skipped("already deactivated")
    if user.status != "ACTIVE":
        return failed(f"Okta suspends ACTIVE users only; this one is {user.status}: deactivate or unlock by hand")
    runtime.current().require_okta().suspend(user.id)
    return done("suspended (was ACTIVE)")


def okta_clear_sessions(ctx: PersonContext) -> StepOutcome:
    user = ctx.okta_user()
    if user is None:
        return not_in_okta(ctx.email)
    runtime.current().require_okta().clear_sessions(user.id)
    return done("sessions and OAuth tokens revoked")


def aws_deactivate_keys(ctx: PersonContext) -> StepOutcome:
    iam_user = ctx.iam_user()
    if iam_user is None:
        return skipped("no IAM user")
    aws = runtime.current().require_aws()
    active = [k for k in aws.list_keys(iam_user, with_last_use=False) if k.status == "Active"]
    if not active:
        return skipped(f"IAM user {iam_user} has no active access keys")
    for key in active:
        aws.set_key_status(iam_user, key.id, False)
    keys = "1 access key" if len(active) == 1 else f"{len(active)} access keys"
    return done(f"deactivated {keys} of IAM user {iam_user}")


def google_revoke_tokens(ctx: PersonContext) -> StepOutcome:
    """Every OAuth token the person granted to apps, and every app password, deleted (Directory tokens / asps)."""
    user = ctx.google_user()
    if user is None:
        return skipped("not found in Google")
    google = runtime.current().require_google()
    try:
        tokens = google.list_tokens(user.id)
        passwords = google.list_app_passwords(user.id)
    except NotFoundError:
        return skipped("not found in Google")
    for token in tokens:
        with contextlib.suppress(NotFoundError):  # gone since the list: what this step wants
            google.delete_token(user.id, token.client_id)
    for password in passwords:
        with contextlib.suppress(NotFoundError):
            google.delete_app_password(user.id, password.code_id)
    if not tokens and not passwords:
        return skipped(f"{user.primary_email} has no OAuth tokens or app passwords")
    return done(revoke_text(user.primary_email, [t.display_text for t in tokens], [a.name for a in passwords]))


def revoke_text(email: str, apps: list[str], passwords: list[str], *, will: bool = False) -> str:
    parts = []
    if apps or not passwords:
        parts.append(f"{_count(len(apps), 'OAuth token')}{f' ({_names(apps)})' if apps else ''}")
    if passwords or not apps:
        parts.append(f"{_count(len(passwords), 'app password')}{f' ({_names(passwords)})' if passwords else ''}")
    return f"{'revoke' if will else 'revoked'} {' and '.join(parts)} of {email}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def engops_end_grants(ctx: PersonContext) -> StepOutcome:
    """SPEC §6.3: the person's open requests cancelled, key rotations stopped, bot-made Okta grants removed."""
    cancelled = end_grants.cancel_open_requests(ctx.email, ctx.request_id)
    stopped, in_flight = end_grants.stop_rotations(ctx.email, ctx.request_id)
    grants = end_grants.active_grants(ctx.email)
    removed: list[str] = []
    if grants:
        user = ctx.okta_user()
        if user is None:  # the grants stay open (a Retry removes them once Okta knows the person)
            groups = ", ".join(sorted({g.okta_group for g in grants}))
            so_far = end_grants.Ended(cancelled, stopped, [], in_flight).text()
            left = f"bot-made grants to {groups} left: {not_in_okta(ctx.email).detail}"
            return failed(f"{so_far}; {left}" if so_far else left)
        okta = runtime.current().require_okta()
        for grant in grants:
            group = okta.get_group_by_name(grant.okta_group)
            if group is not None:
                okta.remove_member(group.id, user.id)  # not a member any more: 204 too
            ended = end_grants.close_grant(grant, ctx.request_id)
            if ended:
                removed.append(ended)
    text = end_grants.Ended(cancelled, stopped, removed, in_flight).text()
    if not (cancelled or stopped or removed):
        return skipped(text or "no bot-made grants, open requests or key rotations")
    return done(text)


# --- steps this release does not carry out (SPEC names them; never silently skipped) ------------------------------
def _not_implemented(step_name: str) -> StepFn:
    def outcome(ctx: PersonContext) -> StepOutcome:
        return failed(not_carried_out(step_name, ctx.email))

    outcome.__name__ = step_name
    return outcome


def google_unsuspend(ctx: PersonContext) -> StepOutcome:
    user = ctx.google_user()
    if user is None:
        return skipped("not found in Google any more")
    try:
        runtime.current().require_google().set_suspended(user.primary_email, False)
    except NotFoundError:
        return skipped("not found in Google any more")
    return done("unsuspended")


def okta_unsuspend(ctx: PersonContext) -> StepOutcome:
    user = ctx.okta_user()
    if user is None:
        return skipped("not found in Okta any more")
    if user.status != "SUSPENDED":
        return skipped(f"status is {user.status}; left as it is")
    runtime.current().require_okta().unsuspend(user.id)
    return done("unsuspended")


IMPLEMENTED: dict[str, StepFn] = {
    "google_suspend": google_suspend,
    "google_signout": google_signout,
    "google_revoke_tokens": google_revoke_tokens,
    "okta_suspend": okta_suspend,
    "okta_clear_sessions": okta_clear_sessions,
    "engops_end_grants": engops_end_grants,
    "aws_deactivate_keys": aws_deactivate_keys,
    # through the module: the two import each other
    "google_transfer_data": lambda ctx: offboarding_transfer.transfer_data(ctx),
}
# Every step the policy accepts has an entry: implemented, or failing with NOT_IN_THIS_RELEASE.
# `gitlab_issue` runs after the people's steps (workflows/offboarding/record.py).
PERSON_STEPS: dict[str, StepFn] = {
    name: IMPLEMENTED.get(name) or _not_implemented(name)
    for name in get_args(OffboardingStep)
    if name != progress.RECORD_STEP
}
UNDO_STEPS: dict[str, StepFn] = {"google_unsuspend": google_unsuspend, "okta_unsuspend": okta_unsuspend}


def run_step(fn: StepFn, ctx: PersonContext, *, sleep: Callable[[float], None] = time.sleep) -> StepOutcome:
    """One step's outcome; provider errors become `failed`, a rate limit is waited out."""
    give_up = time.monotonic() + RATE_LIMIT_PATIENCE
    while True:
        try:
            return fn(ctx)
        except Refused as exc:
            return refused_outcome(exc.refusal)
        except RateLimitedError as exc:
            if time.monotonic() > give_up:
                return failed(f"{exc.provider} kept rate-limiting for {RATE_LIMIT_PATIENCE / 60:.0f} minutes")
            sleep(max(exc.retry_after, 0.2))
        except ProviderError as exc:
            return failed(describe_error(exc))
        except NotConfiguredError as exc:
            return failed(str(exc))
        except Exception as exc:
            log.exception("offboarding step %s failed unexpectedly", fn.__name__)
            return failed(f"internal error ({type(exc).__name__}); see the bot's logs")


# --- running a run's pending steps ------------------------------------------------------------------------
def _pending(run_id: int, names: Iterable[str]) -> tuple[Run, dict[str, list[tuple[int, str]]]]:
    with runtime.current().db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        rows = session.exec(
            select(RunStep)
            .where(RunStep.run_id == run_id, RunStep.status == "pending")
            .where(col(RunStep.step).in_(list(names)))
            .order_by(col(RunStep.subject), col(RunStep.position))
        )
        todo: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for row in rows:
            assert row.id is not None
            todo[row.subject].append((row.id, row.step))
    return run, todo


def _work_on_person(
    email: str,
    todo: list[tuple[int, str]],
    steps: dict[str, StepFn],
    recorder: OutcomeRecorder,
    guard: protection.Guard | identity.Refusal | None,
) -> None:
    ctx = PersonContext(email, recorder.request_id)
    blocked = _protected_now(ctx, guard)
    for row_id, name in todo:
        outcome = failed(blocked.text) if blocked is not None else run_step(steps[name], ctx)
        recorder.record(row_id, email, name, outcome)


def _run_guard() -> protection.Guard | identity.Refusal:
    """Who is protected, read once per run; a failure to read it protects everyone in the run."""
    try:
        return protection.guard()
    except (ProviderError, NotConfiguredError) as exc:
        why = describe_error(exc) if isinstance(exc, ProviderError) else str(exc)
        return identity.Unverified("this run's people", why)


def _protected_now(ctx: PersonContext, guard: protection.Guard | identity.Refusal | None) -> identity.Refusal | None:
    """Protection is checked again when the steps run (a Retry can come days after the plan): someone who became
    protected meanwhile, or whose protection cannot be read now, is not acted on (SPEC §6.3)."""
    if guard is None:
        return None
    if isinstance(guard, identity.Refusal):
        return identity.Unverified(ctx.email, guard.text)
    try:
        google, okta = ctx.google(), ctx.okta()
        return guard.check(
            ctx.email,
            None if isinstance(google, identity.Refusal) else google,
            None if isinstance(okta, identity.Refusal) else okta,
        )
    except (ProviderError, NotConfiguredError) as exc:
        why = describe_error(exc) if isinstance(exc, ProviderError) else str(exc)
        return identity.Unverified(ctx.email, why)


def run_pending(run_id: int, steps: dict[str, StepFn]) -> None:
    """Carry out the run's pending steps among `steps`, people in parallel, each person's in order."""
    run, todo = _pending(run_id, steps)
    if not todo:
        return
    guard = _run_guard() if steps is PERSON_STEPS else None  # undoing is never refused
    with (
        progress.ProgressReporter(run_id) as reporter,
        OutcomeRecorder(run.request_id, reporter.touch) as recorder,
        ThreadPoolExecutor(PEOPLE_IN_PARALLEL, thread_name_prefix=f"offboard-{run_id}") as pool,
    ):
        futures = [pool.submit(_work_on_person, email, rows, steps, recorder, guard) for email, rows in todo.items()]
        for future in futures:
            future.result()


@step("workflows.offboarding_steps.run_offboarding_steps", retries_allowed=True, max_attempts=3, interval_seconds=2.0)
def run_offboarding_steps(run_id: int) -> None:
    run_pending(run_id, PERSON_STEPS)


@step(
    "workflows.offboarding_steps.run_offboarding_undo_steps", retries_allowed=True, max_attempts=3, interval_seconds=2.0
)
def run_offboarding_undo_steps(run_id: int) -> None:
    run_pending(run_id, UNDO_STEPS)
