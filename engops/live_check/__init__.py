"""`engops check --live`: reach every configured service and prove the credentials can do the bot's job.

One module a service; each yields one line per finding (a missing permission names what to grant)."""

from __future__ import annotations

from collections.abc import Iterator

from bot.policy import Policy
from bot.providers.factory import build_providers
from bot.settings import Settings
from engops.live_check.aws import aws_checks
from engops.live_check.gitlab import gitlab_checks
from engops.live_check.google import google_checks
from engops.live_check.okta import okta_checks
from engops.live_check.result import CheckResult, attempt
from engops.live_check.slack import slack_checks

__all__ = ["CheckResult", "run_live_checks"]


def run_live_checks(settings: Settings, policy: Policy) -> Iterator[CheckResult]:
    from bot.db.engine import Database

    db = Database(settings.database_url)

    def database() -> str:
        db.ping()
        return "reachable"

    yield attempt("database", database)
    db.dispose()
    if settings.slack_bot_token is None:
        yield CheckResult("slack", False, "SLACK_BOT_TOKEN is not set")
    else:
        yield from slack_checks(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    providers = build_providers(settings)
    try:
        if providers.okta is None:
            yield CheckResult("okta", False, "not configured")
        else:
            yield from okta_checks(policy, providers.okta)
        if providers.google is None:
            yield CheckResult("google", False, "not configured")
        else:
            yield from google_checks(providers.google)
        if providers.aws is None:
            yield CheckResult("aws", False, "not configured")
        else:
            yield from aws_checks(providers.aws, policy.aws_keys.secret_name)
        if providers.gitlab is None:
            yield CheckResult("gitlab", False, "not configured")
        else:
            yield from gitlab_checks(policy, providers.gitlab)
    finally:
        providers.close()
