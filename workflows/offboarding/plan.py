"""The live lookups behind an offboarding's preview modal and its plan (the dry run on the card).

Each person is looked up at Google (status, last login), Okta (status) and AWS (the IAM user as
SPEC §5 finds it, and its active keys); a lookup that fails is shown as such, not as "not found".
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from bot.durations import describe_until
from bot.providers.errors import ProviderError
from bot.providers.google import GoogleUser
from bot.providers.okta import OktaUser
from bot.slack.offboarding_views import step_label
from workflows.engine import identity, runtime
from workflows.engine.runtime import NotConfiguredError
from workflows.offboarding import end_grants, outcomes, protection, steps
from workflows.offboarding import transfer as offboarding_transfer

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
    refusals: tuple[tuple[str, identity.Refusal], ...] = ()  # (provider, why that account is not acted on)
    blocked: identity.Refusal | None = None  # the whole person is refused (protected, outside the domain)
    oauth_apps: tuple[str, ...] | None = None  # Google OAuth tokens (app names); None: not looked up
    app_passwords: tuple[str, ...] | None = None
    bot_made: str = ""  # what engops_end_grants would end

    def error(self, provider: str) -> str | None:
        return next((why for name, why in self.errors if name == provider), None)

    def refusal(self, provider: str) -> identity.Refusal | None:
        return next((why for name, why in self.refusals if name == provider), None)

    @property
    def found_anywhere(self) -> bool:
        return bool(self.google or self.okta or self.iam_user or self.errors or self.refusals or self.blocked)

    @property
    def unverified(self) -> bool:
        """Whether they are protected could not be read (a provider did not answer): not refused for good. They stay
        in the request, and the plan checks again (waiting out the provider) before any approver sees it."""
        return isinstance(self.blocked, identity.Unverified)

    @property
    def offboardable(self) -> bool:
        """Something to do for this person, and nothing refuses them as a whole."""
        found = bool(self.google or self.okta or self.iam_user or self.errors)
        return (self.blocked is None or self.unverified) and found

    @property
    def identities(self) -> str:
        """The resolved accounts (SPEC §5: shown, not just what was typed)."""
        return " · ".join(
            [
                f"Okta login {self.okta.login}" if self.okta else "no Okta user",
                f"Google {self.google.primary_email}" if self.google else "no Google account",
                f"IAM user {self.iam_user}" if self.iam_user else "no IAM user",
            ]
        )


def _attempt(provider: str, errors: list[tuple[str, str]], fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except ProviderError as exc:
        errors.append((provider, outcomes.describe_error(exc)))
    except NotConfiguredError as exc:
        errors.append((provider, str(exc)))
    return None


def _accepted(
    provider: str, found: T | identity.Refusal | None, refusals: list[tuple[str, identity.Refusal]]
) -> T | None:
    if isinstance(found, identity.Refusal):
        refusals.append((provider, found))
        return None
    return found


def look_up(email: str, guard: protection.Guard | None = None) -> Lookup:
    """One person's accounts, as the identity rules resolve them; with `guard`, whether they are protected."""
    rt = runtime.current()
    outside = identity.outside_domain(email, rt.policy.org.email_domain)
    if outside is not None:
        return Lookup(email, blocked=outside)
    ctx = outcomes.PersonContext(email)
    errors: list[tuple[str, str]] = []
    refusals: list[tuple[str, identity.Refusal]] = []
    google = _accepted("Google", _attempt("Google", errors, ctx.google), refusals)
    okta = _accepted("Okta", _attempt("Okta", errors, ctx.okta), refusals)
    iam_user = _accepted("AWS", _attempt("AWS", errors, ctx.iam), refusals)
    policy_steps = rt.policy.offboarding.steps
    apps = passwords = None
    if google is not None and "google_revoke_tokens" in policy_steps:
        user_id = google.id
        found_apps = _attempt("Google", errors, lambda: rt.require_google().list_tokens(user_id))
        found_passwords = _attempt("Google", errors, lambda: rt.require_google().list_app_passwords(user_id))
        if found_apps is not None and found_passwords is not None:
            apps = tuple(t.display_text for t in found_apps)
            passwords = tuple(a.name for a in found_passwords)
    bot_made = end_grants.planned(email.lower()) if "engops_end_grants" in policy_steps else ""
    keys = 0
    if iam_user is not None:
        found = _attempt("AWS", errors, lambda: rt.require_aws().list_keys(iam_user, with_last_use=False))
        keys = sum(1 for k in found or [] if k.status == "Active")
    blocked: identity.Refusal | None = None
    if guard is not None:
        unanswered = [f"{provider}: {why}" for provider, why in errors if provider in ("Google", "Okta")]
        try:
            blocked = guard.check(email, google, okta)
        except (ProviderError, NotConfiguredError) as exc:  # fail closed: unchecked is not offboarded
            why = outcomes.describe_error(exc) if isinstance(exc, ProviderError) else str(exc)
            blocked = identity.Unverified(email, why)
        if blocked is None and unanswered:  # a super admin whose account could not be read is not known safe
            blocked = identity.Unverified(email, "; ".join(unanswered))
    return Lookup(
        email, google, okta, iam_user, keys, tuple(errors), tuple(refusals), blocked, apps, passwords, bot_made
    )


def look_up_all(emails: list[str]) -> list[Lookup]:
    """Everyone's lookups, with the protected-people check (refused at preview and plan, SPEC §6.3)."""
    try:
        guard: protection.Guard | Exception = protection.guard()
    except (ProviderError, NotConfiguredError) as exc:
        guard = exc

    def one(email: str) -> Lookup:
        if isinstance(guard, protection.Guard):
            return look_up(email, guard)
        found = look_up(email)
        why = outcomes.describe_error(guard) if isinstance(guard, ProviderError) else str(guard)
        return found if found.blocked else replace(found, blocked=identity.Unverified(found.email, why))

    with ThreadPoolExecutor(LOOKUPS_IN_PARALLEL, thread_name_prefix="offboard-lookup") as pool:
        return list(pool.map(one, emails))


def refused_people(found: list[Lookup]) -> list[str]:
    """Why people of the request may not be offboarded at all (a plan with any of them is refused)."""
    return [f.blocked.text for f in found if f.blocked is not None]


def _last_login(user: GoogleUser, now: datetime) -> str:
    return f"last login {describe_until(user.last_login, now)}" if user.last_login else "never signed in"


_PROVIDER_OF = {"google": "Google", "okta": "Okta", "aws": "AWS"}


def person_lines(found: Lookup, policy_steps: list[str], tracker: str, now: datetime) -> list[str]:
    """What each step will do for this person, from the live lookups; first, who they resolved to."""
    if found.unverified and found.blocked is not None:
        return [f"Not checked yet: {found.blocked.text}; it is checked again before anyone approves"]
    if found.blocked is not None:
        return [f"Refused: {found.blocked.text}"]
    lines = [f"Resolved: {found.identities}"]
    for name in policy_steps:
        if name == "gitlab_issue":
            lines.append(f"GitLab: file the record in {tracker}")
            continue
        if name not in steps.IMPLEMENTED:  # said in advance, and the run records it as failed
            lines.append(f"{step_label(name)}: {outcomes.not_carried_out(name, found.email)}")
            continue
        if name == "google_transfer_data" and not found.error("Google") and not found.refusal("Google"):
            lines.append(offboarding_transfer.preview_line(found.email, found.google))
            continue
        if name == "engops_end_grants":
            lines.append(f"EngOps: {found.bot_made or 'no bot-made grants, open requests or key rotations'}")
            continue
        provider = _PROVIDER_OF[name.partition("_")[0]]
        why = found.error(provider)
        refusal = found.refusal(provider)
        if why:
            lines.append(f"{provider}: lookup failed ({why}); tried again when it runs")
        elif refusal is not None:
            lines.append(refusal.text if refusal.text.startswith(provider) else f"{provider}: {refusal.text}")
        elif name == "google_revoke_tokens" and found.google is not None:
            lines.append(_tokens_line(found, found.google))
        elif name.startswith("google_"):
            lines.append(_google_line(found.google, name, now))
        elif name.startswith("okta_"):
            lines.append(_okta_line(found.okta, name))
        else:
            lines.append(_aws_line(found))
    return list(dict.fromkeys(lines))  # "not found" once per provider, not once per step


def _google_line(user: GoogleUser | None, step_name: str, now: datetime) -> str:
    if user is None:
        return "Google: not found in Google (skipped)"
    if step_name != "google_suspend":
        return f"Google: sign {user.primary_email} out of every session"
    if user.suspended:
        return f"Google: already suspended ({_last_login(user, now)})"
    return f"Google: suspend {user.primary_email} (currently active, {_last_login(user, now)})"


def _tokens_line(found: Lookup, user: GoogleUser) -> str:
    if found.oauth_apps is None or found.app_passwords is None:
        return f"Google: revoke the OAuth tokens and app passwords of {user.primary_email}"
    if not found.oauth_apps and not found.app_passwords:
        return f"Google: {user.primary_email} has no OAuth tokens or app passwords"
    apps, passwords = list(found.oauth_apps), list(found.app_passwords)
    text = steps.revoke_text(user.primary_email, apps, passwords, will=True)
    return f"Google: {text}"


def _okta_line(user: OktaUser | None, step_name: str) -> str:
    if user is None:
        return (
            "Okta: not found in Okta by login or profile.email "
            "(needs attention: the Okta steps will fail until they are found)"
        )
    if step_name != "okta_suspend":
        return "Okta: clear every session and OAuth token"
    if user.status == "ACTIVE":
        return f"Okta: suspend (status {user.status})"
    return f"Okta: nothing to suspend (status {user.status})"


def _aws_line(found: Lookup) -> str:
    if found.iam_user is None:
        return "AWS: no IAM user (skipped)"
    if found.active_keys:
        keys = "1 access key" if found.active_keys == 1 else f"{found.active_keys} access keys"
        return f"AWS: deactivate {keys} of IAM user {found.iam_user}"
    return f"AWS: IAM user {found.iam_user} has no active access keys"


def preview_lines(found: Lookup, policy_steps: list[str], tracker: str, now: datetime) -> list[str]:
    """The preview modal's lines for one person (a person with nothing to do is left out)."""
    if found.offboardable or found.blocked is not None:
        return person_lines(found, policy_steps, tracker, now)
    if found.refusals:
        return [*person_lines(found, policy_steps, tracker, now), "nothing else to do for this address; left out"]
    return ["not found in Google, Okta or AWS; left out"]


def compact_line(found: Lookup) -> str:
    if found.blocked is not None:
        return f"{found.email}: refused: {found.blocked.text}"
    if not found.found_anywhere:
        return f"{found.email}: not found in Google, Okta or AWS (nothing to do)"
    google = _state(
        found,
        "Google",
        "not found"
        if found.google is None
        else f"{found.google.primary_email} {'suspended' if found.google.suspended else 'active'}",
    )
    okta = _state(found, "Okta", "not found" if found.okta is None else f"{found.okta.login} {found.okta.status}")
    aws = _state(
        found,
        "AWS",
        "no IAM user" if found.iam_user is None else f"{found.active_keys} active keys of {found.iam_user}",
    )
    return f"{found.email}: Google {google} · Okta {okta} · AWS {aws}"


def _state(found: Lookup, provider: str, account: str) -> str:
    """One provider's part of a compact line: its error, its refusal, or what it found."""
    return "error" if found.error(provider) else "refused" if found.refusal(provider) else account


def bulk_summary(found: list[Lookup], tracker: str) -> list[str]:
    google = [f for f in found if f.google and not f.google.suspended]
    okta = [f for f in found if f.okta and f.okta.status == "ACTIVE"]
    keys = sum(f.active_keys for f in found)
    failed = [f for f in found if f.errors]
    refused = [f for f in found if f.refusals]
    lines = [
        f"{len(found)} people, each through every step; per person below",
        f"Google: suspend and sign out {len(google)} active accounts",
        f"Okta: suspend {len(okta)} active users and clear their sessions",
        f"AWS: deactivate {keys} access keys of {sum(1 for f in found if f.iam_user)} IAM users",
        f"GitLab: one record for the run in {tracker}",
    ]
    policy_steps = runtime.current().policy.offboarding.steps
    if "engops_end_grants" in policy_steps:
        ending = sum(1 for f in found if f.bot_made)
        lines.append(f"EngOps: end bot-made grants, open requests and key rotations of {ending} people")
    lines += [
        f"{step_label(name)}: {name} {outcomes.NOT_IN_THIS_RELEASE}; it is recorded as failed for everyone"
        for name in policy_steps
        if name != "gitlab_issue" and name not in steps.IMPLEMENTED
    ]
    if failed:
        lines.append(f"Lookups failed for {len(failed)} people; their steps are tried when it runs")
    if refused:
        lines.append(f"Some accounts of {len(refused)} people are refused (see below); those steps do not act")
    return lines
