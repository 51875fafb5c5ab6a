"""`engops check --live` reads the Slack token's scopes (Slack's `x-oauth-scopes`) and names each bot scope of
the manifest the token lacks, with what it is for, on a line of its own."""

from __future__ import annotations

from bot.slack.manifest import BOT_SCOPES
from engops.sandbox.stack import Stack
from tests.support.cli import run


def slack_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line[5:].startswith("slack:")]


def test_each_missing_scope_is_one_line_naming_it(stack: Stack) -> None:
    full = run(["check", "--live"], stack.env)
    assert [line for line in slack_lines(full.stdout) if "FAIL" in line] == [], full.stdout
    assert f"ok   slack: the token has all {len(BOT_SCOPES)} bot scopes of the manifest" in full.stdout
    token = stack.slack.issue_bot_token(without={"chat:write", "mpim:history"})
    result = run(["check", "--live"], {**stack.env, "SLACK_BOT_TOKEN": token})
    assert result.returncode == 1
    failed = [line for line in slack_lines(result.stdout) if line.startswith("FAIL")]
    assert failed == [
        "FAIL slack: grant chat:write, to post and update messages and ephemeral replies; then reinstall the app",
        "FAIL slack: grant mpim:history, to read threads in group DMs (escalation transcripts, no double posts after "
        "a retry); then reinstall the app",
    ]
    assert token not in result.stdout + result.stderr
