"""Slack's part of `engops check --live`."""

from __future__ import annotations

from collections.abc import Iterator

from engops.live_check.result import CheckResult, attempt


def slack_checks(token: str, api_url: str) -> Iterator[CheckResult]:
    from bot.slack.messenger import make_client

    client = make_client(token, api_url)

    def identity() -> str:
        resp = client.auth_test()
        return f"workspace {resp.get('team')} as @{resp.get('user')}"

    yield attempt("slack", identity)
