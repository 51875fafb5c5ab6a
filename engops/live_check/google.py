"""Google Workspace's part of `engops check --live`: the scopes delegated to the service account (one line per
scope Google refuses) and what the admin subject may do.

What it proves: each scope is delegated (Google's token endpoint answers `unauthorized_client` for a scope that is
not, so one token is asked for per scope); the subject may read users (users.get of itself) and use the Data
Transfer API (applications.list). What it cannot prove without changing a user: that a delegated admin's role
also grants the writes (suspend, sign out, revoke tokens and app passwords, start transfers). A super admin holds
every privilege, so for one nothing is left unproved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.providers.errors import AuthError, NotFoundError, ProviderError
from bot.providers.google import DELEGATED_SCOPES, SCOPE_DATATRANSFER, SCOPES
from engops.live_check.result import CheckResult

if TYPE_CHECKING:
    from bot.providers.google import GoogleProvider

SERVICE = "google"
WRITE_PRIVILEGES = "Users > Update (suspend), User Security Management (sign out, tokens, app passwords), Data Transfer"


def google_checks(google: GoogleProvider) -> Iterator[CheckResult]:
    try:
        refusals = {scope: google.scope_refusal(scope) for scope in DELEGATED_SCOPES}
    except ProviderError as exc:
        yield CheckResult(SERVICE, False, str(exc))
        return
    other = {why for why in refusals.values() if why and not why.startswith("unauthorized_client")}
    if other:  # e.g. invalid_grant: the subject is not a user; no scope can be judged
        yield CheckResult(SERVICE, False, f"token refused as {google.subject}: {sorted(other)[0]}")
        return
    missing = [scope for scope, why in refusals.items() if why]
    for scope in missing:
        yield CheckResult(
            SERVICE,
            False,
            f"scope {scope} is not delegated to client id {google.client_id()}: add it in Admin console > Security > "
            "API controls > Domain-wide delegation",
        )
    if not set(SCOPES) & set(missing):
        yield from _subject_checks(google)
    if SCOPE_DATATRANSFER not in missing:
        yield _transfer_check(google)


def _subject_checks(google: GoogleProvider) -> Iterator[CheckResult]:
    subject = google.subject
    try:
        admin = google.get_user(subject)
    except AuthError as exc:
        yield CheckResult(
            SERVICE,
            False,
            f"{subject} may not read users ({exc.message}): make it a super admin, or give its admin role "
            f"Users > Read and {WRITE_PRIVILEGES}",
        )
        return
    except ProviderError as exc:
        yield CheckResult(SERVICE, False, str(exc))
        return
    if admin is None:
        yield CheckResult(SERVICE, False, f"GOOGLE_ADMIN_SUBJECT {subject} is not a user of this Workspace")
    elif admin.is_admin:
        yield CheckResult(SERVICE, True, f"acting as {admin.primary_email}, a super admin (every privilege)")
    else:
        yield CheckResult(
            SERVICE,
            True,
            f"acting as {admin.primary_email}, a delegated admin: Users > Read proved; check --live cannot prove "
            f"the rest without changing a user, so its role must also grant {WRITE_PRIVILEGES}",
        )


def _transfer_check(google: GoogleProvider) -> CheckResult:
    try:
        applications = google.transfer_applications()
    except (AuthError, NotFoundError) as exc:
        return CheckResult(
            SERVICE, False, f"{google.subject} may not use the Data Transfer API ({exc.message}): grant Data Transfer"
        )
    except ProviderError as exc:
        return CheckResult(SERVICE, False, str(exc))
    return CheckResult(SERVICE, True, f"Data Transfer API: {len(applications)} applications readable")
