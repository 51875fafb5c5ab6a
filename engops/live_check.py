"""`engops check --live`: reach every configured service and say what answered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.policy import Policy
from bot.providers.errors import ProviderError
from bot.providers.factory import build_providers
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.providers.gitlab import IssueTracker
    from bot.providers.okta import OktaDirectory


@dataclass(frozen=True)
class CheckResult:
    service: str
    ok: bool
    message: str


def _attempt(service: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(service, True, probe())
    except ProviderError as exc:
        return CheckResult(service, False, str(exc))
    except Exception as exc:  # any failure to reach a service is a finding, not a crash
        return CheckResult(service, False, f"{type(exc).__name__}: {str(exc)[:200]}")


def run_live_checks(settings: Settings, policy: Policy) -> Iterator[CheckResult]:
    from bot.db.engine import Database
    from bot.slack.messenger import make_client

    db = Database(settings.database_url)

    def database() -> str:
        db.ping()
        return "reachable"

    yield _attempt("database", database)
    db.dispose()
    if settings.slack_bot_token is None:
        yield CheckResult("slack", False, "SLACK_BOT_TOKEN is not set")
    else:
        client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        yield _attempt("slack", lambda: _slack_identity(client))
    providers = build_providers(settings)
    try:
        for name, adapter in (
            ("okta", providers.okta),
            ("google", providers.google),
            ("aws", providers.aws),
            ("gitlab", providers.gitlab),
        ):
            if adapter is None:
                yield CheckResult(name, False, "not configured")
                continue
            yield _attempt(name, adapter.ping)
        if providers.gitlab is not None:
            yield from _gitlab_policy_checks(policy, providers.gitlab)
        if providers.okta is not None:
            yield from _okta_policy_checks(policy, providers.okta)
    finally:
        providers.close()


def _slack_identity(client: object) -> str:
    from slack_sdk import WebClient

    assert isinstance(client, WebClient)
    resp = client.auth_test()
    return f"workspace {resp.get('team')} as @{resp.get('user')}"


def _found(service: str, probe: Callable[[], bool], missing: str) -> CheckResult:
    result = _attempt(service, lambda: "found" if probe() else "")
    if result.ok and not result.message:
        return CheckResult(service, False, missing)
    return result


def _gitlab_policy_checks(policy: Policy, gitlab: IssueTracker) -> Iterator[CheckResult]:
    for key, team in policy.teams.items():
        tracker = str(team.tracker)
        yield _found(
            f"gitlab tracker of teams.{key}",
            lambda t=tracker: gitlab.project_exists(t),  # type: ignore[misc]
            f"project {tracker} not found or not visible to the token",
        )
        for dri in team.dris:
            username = policy.gitlab_username(dri)
            found = gitlab.find_user_id(username=username) if username else gitlab.find_user_id(email=dri)
            yield CheckResult(
                f"gitlab user of {dri}",
                found is not None,
                f"id {found}" if found is not None else "not found (set org.gitlab_usernames or make the email public)",
            )


def _okta_policy_checks(policy: Policy, okta: OktaDirectory) -> Iterator[CheckResult]:
    names = [g.okta_group for g in policy.access.groups]
    names += [r.okta_group for r in policy.roles.values() if r.okta_group]
    for name in names:
        yield _found(
            f"okta group {name}",
            lambda n=name: okta.get_group_by_name(n) is not None,  # type: ignore[misc]
            f"group {name} not found in Okta",
        )
