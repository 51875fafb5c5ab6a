"""Okta's part of `engops check --live`: the credentials authenticate, hold the scopes the bot needs
(OAuth service app) and an admin role that lets them do its job; one line per missing permission."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.policy import Policy
from bot.providers.errors import ProviderError
from engops.live_check.result import CheckResult, attempt, found

if TYPE_CHECKING:
    from bot.providers.okta import OktaDirectory

# What the bot does with Okta, and the standard admin roles that allow it. Organization Administrator
# allows all of it (and Super Administrator, which the bot does not need).
ORG_ADMINS = frozenset({"SUPER_ADMIN", "ORG_ADMIN"})
CAPABILITIES: dict[str, tuple[frozenset[str], str]] = {
    "offboarding (suspend, unsuspend, deactivate, end sessions)": (ORG_ADMINS, "Organization Administrator"),
    "access grants (add and remove group members)": (
        ORG_ADMINS | {"GROUP_MEMBERSHIP_ADMIN"},
        "Organization Administrator (or Group Membership Administrator)",
    ),
    "protected people (read admin role assignments)": (
        ORG_ADMINS | {"READ_ONLY_ADMIN"},
        "Organization Administrator (or Read-only Administrator)",
    ),
}


def okta_checks(policy: Policy, okta: OktaDirectory) -> Iterator[CheckResult]:
    ping = attempt("okta", okta.ping)
    yield ping
    yield from _scope_checks(okta)  # also when no token was issued: it names the scopes that were refused
    if not ping.ok:
        return
    yield from _role_checks(okta)
    names = [g.okta_group for g in policy.access.groups]
    names += [r.okta_group for r in policy.roles.values() if r.okta_group]
    for name in names:
        yield found(
            f"okta group {name}",
            lambda n=name: okta.get_group_by_name(n) is not None,  # type: ignore[misc]
            f"group {name} not found in Okta",
        )


def _scope_checks(okta: OktaDirectory) -> Iterator[CheckResult]:
    from bot.providers.okta import REQUIRED_SCOPES

    try:
        missing = okta.missing_scopes()
    except ProviderError as exc:
        yield CheckResult("okta scopes", False, str(exc))
        return
    for scope in missing:
        yield CheckResult(
            f"okta scope {scope}",
            False,
            f"missing (needed to {REQUIRED_SCOPES[scope]}): grant it to the service app (Okta API Scopes tab) "
            "and add it to OKTA_CLIENT_SCOPES",
        )


def _role_checks(okta: OktaDirectory) -> Iterator[CheckResult]:
    try:
        app_roles = okta.service_app_roles()
        if app_roles is None:
            me = okta.api_user()
            if me is None:
                yield CheckResult("okta admin role", False, "the API token's user (/users/me) was not found")
                return
            holder, roles = f"the API token's user {me.login}", okta.admin_roles(me.id)
        else:
            holder, roles = "the service app (Admin roles tab)", app_roles
    except ProviderError as exc:
        yield CheckResult("okta admin role", False, f"cannot read the admin roles: {exc}")
        return
    held = ", ".join(roles) or "none"
    for capability, (allowed, grant) in CAPABILITIES.items():
        if not allowed & set(roles):
            yield CheckResult(
                "okta admin role", False, f"{capability} not allowed (roles: {held}): assign {grant} to {holder}"
            )
    if ORG_ADMINS & set(roles):
        yield CheckResult("okta admin role", True, f"{held} ({holder})")
