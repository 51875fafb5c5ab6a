"""`engops offboard --file people.csv --as <email>` against the running stack: the real console script,
its CSV checks, the approval in Slack and the progress bar."""

from __future__ import annotations

import threading
from pathlib import Path

from typer.testing import CliRunner, Result

from engops.cli import app
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack

TEAM_CHANNEL = "#bt-engineering-access-manager"


def cli_env(stack: Stack) -> dict[str, str]:
    settings = stack.settings
    assert settings is not None and settings.slack_bot_token is not None
    return {
        "DATABASE_URL": settings.database_url,
        "ENGOPS_POLICY": str(settings.engops_policy),
        "SLACK_BOT_TOKEN": settings.slack_bot_token.get_secret_value(),
        "SLACK_API_URL": settings.slack_api_url,
    }


def run_cli(stack: Stack, *args: str) -> Result:
    return CliRunner().invoke(app, ["offboard", *args], env=cli_env(stack))


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_malformed_rows_are_reported_by_line_and_the_rest_go_on(stack: Stack, tmp_path: Path) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # role cache
    people = write_csv(
        tmp_path,
        "\n".join(
            [
                "Email,Reason,Team",
                "alice@example.com,Last day Friday,Sales",
                ",no email here,Sales",
                "not-an-email,typo,Sales",
                "",
                "bob@example.com,,Ops",
                "alice@example.com,again,Sales",
                "eve@elsewhere.org,contractor,Ops",
                "carol@example.com,x,y,one too many",
                '"irene@example.com","multi',
                'line reason",Ops',
            ]
        )
        + "\n",
    )
    result = run_cli(stack, "--file", str(people), "--as", "hank@example.com", "--no-wait")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "line 3: no email" in out
    assert "line 4: not an email address: 'not-an-email'" in out
    assert "line 7: alice@example.com repeats line 2" in out
    assert "line 8: eve@elsewhere.org is not an address in example.com" in out
    assert "line 9: more fields than the header row" in out
    assert "REQ-1: offboarding of 3 people submitted" in out
    stack.wait_idle()
    assert "REQ-1" in driver.dm_text("grace") and "REQ-1" in driver.dm_text("heidi")
    driver.click("grace", "Approve")
    stack.wait_idle()
    for email in ("alice@example.com", "bob@example.com", "irene@example.com"):
        assert stack.google.is_suspended(email)
        assert stack.okta.user_status(email) == "SUSPENDED"
    assert not stack.google.is_suspended("carol@example.com")
    progress = [m for m in stack.slack.all_messages(TEAM_CHANNEL) if "Offboarding progress" in str(m.blocks)]
    assert len(progress) == 1  # CLI runs report in the offboarding team's channel
    assert "3/3 finished" in message_as_text(progress[0].text, progress[0].blocks)


def test_waits_with_a_progress_bar_until_the_run_ends(stack: Stack, tmp_path: Path) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()
    people = write_csv(tmp_path, "email,reason\ndave@example.com,left\nleo@example.com,left\n")
    results: list[Result] = []
    waiting = threading.Thread(
        target=lambda: results.append(run_cli(stack, "--file", str(people), "--as", "grace@example.com"))
    )
    waiting.start()
    stack.wait_for(lambda: "REQ-1" in driver.dm_text("heidi"), what="the approval card")
    driver.click("heidi", "Approve")
    waiting.join(timeout=60)
    assert results, "the CLI did not return"
    assert results[0].exit_code == 0, results[0].output
    assert "REQ-1 done: 2 people offboarded" in results[0].output
    assert stack.okta.user_status("leo@example.com") == "SUSPENDED"


def test_refused_requester_and_unusable_file(stack: Stack, tmp_path: Path) -> None:
    stack.wait_idle()
    people = write_csv(tmp_path, "email\nalice@example.com\n")
    refused = run_cli(stack, "--file", str(people), "--as", "dave@example.com", "--no-wait")
    assert refused.exit_code == 2 and "can offboard people" in refused.output
    headless = write_csv(tmp_path, "name,reason\nalice,left\n")
    bad = run_cli(stack, "--file", str(headless), "--as", "hank@example.com", "--no-wait")
    assert bad.exit_code == 2 and "no `email` column" in bad.output
    assert stack.slack.dm("grace") == []  # nothing was submitted
