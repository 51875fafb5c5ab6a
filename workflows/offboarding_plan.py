"""The live lookups behind an offboarding's preview modal and its plan (the dry run on the card).

Each person is looked up at Google (status, last login), Okta (status) and AWS (the IAM user as
SPEC §5 finds it, and its active keys); a lookup that fails is shown as such, not as "not found".
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from bot.durations import describe_until
from bot.providers.errors import ProviderError
from bot.providers.google import GoogleUser
from bot.providers.okta import OktaUser
from workflows import offboarding_steps as steps
from workflows import runtime
from workflows.runtime import NotConfiguredError

T = TypeVar("T")
LOOKUPS_IN_PARALLEL = 16


@dataclass(frozen=True)
class Lookup:
    email: str
    google: GoogleUser | None = None
    okta: OktaUser | None = None
    iam_user: str | None = None
    active_keys: int = 0
    errors: tuple[tuple[str, str], ...] = ()  # (provider, what went wrong)

    def error(self, provider: str) -> str | None:
        return next((why for name, why in self.errors if name == provider), None)

    @property
    def found_anywhere(self) -> bool:
        return bool(self.google or self.okta or self.iam_user or self.errors)


def _attempt(provider: str, errors: list[tuple[str, str]], fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except ProviderError as exc:
        errors.append((provider, steps.describe_error(exc)))
    except NotConfiguredError as exc:
        errors.append((provider, str(exc)))
    return None


def look_up(email: str) -> Lookup:
    ctx = steps.PersonContext(email)
    errors: list[tuple[str, str]] = []
    google = _attempt("Google", errors, ctx.google_user)
    okta = _attempt("Okta", errors, ctx.okta_user)
    iam_user = _attempt("AWS", errors, ctx.iam_user)
    keys = 0
    if iam_user is not None:
        found = _attempt(
            "AWS", errors, lambda: runtime.current().require_aws().list_keys(iam_user, with_last_use=False)
        )
        keys = sum(1 for k in found or [] if k.status == "Active")
    return Lookup(email, google, okta, iam_user, keys, tuple(errors))


def look_up_all(emails: list[str]) -> list[Lookup]:
    with ThreadPoolExecutor(LOOKUPS_IN_PARALLEL, thread_name_prefix="offboard-lookup") as pool:
        return list(pool.map(look_up, emails))


def _last_login(user: GoogleUser, now: datetime) -> str:
    return f"last login {describe_until(user.last_login, now)}" if user.last_login else "never signed in"


def person_lines(found: Lookup, policy_steps: list[str], tracker: str, now: datetime) -> list[str]:
    """What each step will do for this person, from the live lookups."""
    email, lines = found.email, []
    for name in policy_steps:
        if name.startswith("google_"):
            why = found.error("Google")
            if why:
                lines.append(f"Google: lookup failed ({why}); tried again when it runs")
                continue
            if found.google is None:
                lines.append("Google: not found in Google (skipped)")
            elif name == "google_suspend":
                lines.append(
                    f"Google: already suspended ({_last_login(found.google, now)})"
                    if found.google.suspended
                    else f"Google: suspend {email} (currently active, {_last_login(found.google, now)})"
                )
            else:
                lines.append(f"Google: sign {email} out of every session")
        elif name.startswith("okta_"):
            why = found.error("Okta")
            if why:
                lines.append(f"Okta: lookup failed ({why}); tried again when it runs")
            elif found.okta is None:
                lines.append("Okta: not found in Okta (skipped)")
            elif name == "okta_suspend":
                lines.append(
                    f"Okta: suspend (status {found.okta.status})"
                    if found.okta.status == "ACTIVE"
                    else f"Okta: nothing to suspend (status {found.okta.status})"
                )
            else:
                lines.append("Okta: clear every session and OAuth token")
        elif name == "aws_deactivate_keys":
            why = found.error("AWS")
            if why:
                lines.append(f"AWS: lookup failed ({why}); tried again when it runs")
            elif found.iam_user is None:
                lines.append("AWS: no IAM user (skipped)")
            elif found.active_keys:
                keys = "1 access key" if found.active_keys == 1 else f"{found.active_keys} access keys"
                lines.append(f"AWS: deactivate {keys} of IAM user {found.iam_user}")
            else:
                lines.append(f"AWS: IAM user {found.iam_user} has no active access keys")
        elif name == "gitlab_issue":
            lines.append(f"GitLab: file the record in {tracker}")
    return list(dict.fromkeys(lines))  # "not found" once per provider, not once per step


def compact_line(found: Lookup) -> str:
    if not found.found_anywhere:
        return f"{found.email}: not found in Google, Okta or AWS (nothing to do)"
    google = (
        "error"
        if found.error("Google")
        else ("not found" if found.google is None else "suspended" if found.google.suspended else "active")
    )
    okta = "error" if found.error("Okta") else "not found" if found.okta is None else found.okta.status
    aws = (
        "error"
        if found.error("AWS")
        else ("no IAM user" if found.iam_user is None else f"{found.active_keys} active keys of {found.iam_user}")
    )
    return f"{found.email}: Google {google} · Okta {okta} · AWS {aws}"


def bulk_summary(found: list[Lookup], tracker: str) -> list[str]:
    google = [f for f in found if f.google and not f.google.suspended]
    okta = [f for f in found if f.okta and f.okta.status == "ACTIVE"]
    keys = sum(f.active_keys for f in found)
    failed = [f for f in found if f.errors]
    lines = [
        f"{len(found)} people, each through every step; per person below",
        f"Google: suspend and sign out {len(google)} active accounts",
        f"Okta: suspend {len(okta)} active users and clear their sessions",
        f"AWS: deactivate {keys} access keys of {sum(1 for f in found if f.iam_user)} IAM users",
        f"GitLab: one record for the run in {tracker}",
    ]
    if failed:
        lines.append(f"Lookups failed for {len(failed)} people; their steps are tried when it runs")
    return lines
