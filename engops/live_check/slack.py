"""Slack's part of `engops check --live`: the token works, and holds every bot scope the manifest asks for.

Slack tells a token's scopes in the `x-oauth-scopes` header of every Web API answer (auth.test needs none)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from bot.slack.manifest import BOT_SCOPE_USES
from engops.live_check.result import CheckResult, attempt


def slack_checks(token: str, api_url: str) -> Iterator[CheckResult]:
    from bot.slack.messenger import make_client

    client = make_client(token, api_url)
    granted: set[str] | None = None

    def identity() -> str:
        nonlocal granted
        resp = client.auth_test()
        granted = granted_scopes(resp.headers)
        return f"workspace {resp.get('team')} as @{resp.get('user')}"

    reached = attempt("slack", identity)
    yield reached
    if not reached.ok:
        return
    if granted is None:
        yield CheckResult("slack", False, "Slack did not say which scopes the token has (no x-oauth-scopes header)")
        return
    missing = [scope for scope in BOT_SCOPE_USES if scope not in granted]
    for scope in missing:
        yield CheckResult("slack", False, f"grant {scope}, to {BOT_SCOPE_USES[scope]}; then reinstall the app")
    if not missing:
        yield CheckResult("slack", True, f"the token has all {len(BOT_SCOPE_USES)} bot scopes of the manifest")


def granted_scopes(headers: Mapping[str, object]) -> set[str] | None:
    """The scopes in an answer's `x-oauth-scopes` header (any spelling of its name); None without one."""
    for name, value in headers.items():
        if name.lower() == "x-oauth-scopes":
            text = value[0] if isinstance(value, list) and value else value
            return {scope.strip() for scope in str(text).split(",") if scope.strip()}
    return None
