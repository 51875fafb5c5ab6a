"""The `engops` console script, run as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from bot.db.engine import sqlalchemy_url
from engops.sandbox.stack import EXAMPLE_POLICY, Stack
from tests.support.cli import run


def test_check_reports_each_policy_problem_with_its_path(tmp_path: Path) -> None:
    bad = EXAMPLE_POLICY.read_text().replace("approvals: [manager, owners]", "approvals: [manager, role:it-admin]")
    bad = bad.replace("  remind_after: 4h", "  remind_after: 4 hours")
    policy = tmp_path / "policy.yaml"
    policy.write_text(bad)
    result = run(["check"], {"ENGOPS_POLICY": str(policy)})
    assert result.returncode == 2
    assert "access.defaults.remind_after" in result.stderr
    assert result.stdout == ""


def test_check_cross_reference_error_names_path(tmp_path: Path) -> None:
    bad = EXAMPLE_POLICY.read_text().replace("approvals: [manager, owners]", "approvals: [manager, role:it-admin]")
    policy = tmp_path / "policy.yaml"
    policy.write_text(bad)
    result = run(["check"], {"ENGOPS_POLICY": str(policy)})
    assert result.returncode == 2
    assert "access.groups[0].approvals[1]: unknown role 'it-admin' (known: helpdesk, it-admins)" in result.stderr


def test_serve_refuses_to_start_without_settings() -> None:
    result = run(["serve", "--port", "0"], {"ENGOPS_POLICY": str(EXAMPLE_POLICY), "SLACK_API_URL": "nope"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["SLACK_API_URL: Value error, URL must be an http(s) URL, got 'nope'"]
    result = run(["serve", "--port", "0"], {"ENGOPS_POLICY": str(EXAMPLE_POLICY)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "SLACK_BOT_TOKEN: required",
        "SLACK_SIGNING_SECRET: required for serve",
    ]


def test_check_live_reaches_every_service(stack: Stack) -> None:
    result = run(["check", "--live"], stack.env)
    assert result.returncode == 0, result.stdout + result.stderr
    for service in ("database", "slack", "okta", "google", "aws", "gitlab"):
        assert f"ok   {service}:" in result.stdout
    assert "FAIL" not in result.stdout
    broken = {**stack.env, "OKTA_CLIENT_TOKEN": "wrong-token", "GITLAB_TOKEN": "glpat-wrong"}
    result = run(["check", "--live"], broken)
    assert result.returncode == 1
    assert "FAIL okta:" in result.stdout and "FAIL gitlab:" in result.stdout
    assert "wrong-token" not in result.stdout + result.stderr and "glpat-wrong" not in result.stdout + result.stderr


def test_db_upgrade_and_audit_verify_export(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    assert run(["db", "upgrade"], env).returncode == 0
    from bot import audit
    from bot.db.engine import Database

    db = Database(database_url)
    for i in range(3):
        audit.record(db, actor="grace@example.com", action="test", detail={"i": i})
    db.dispose()
    ok = run(["audit", "verify"], env)
    assert ok.returncode == 0 and "intact: 3 entries" in ok.stdout
    lines = run(["audit", "export", "--format", "jsonl"], env).stdout.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]
    assert run(["audit", "export", "--format", "csv"], env).stdout.startswith("seq,at,actor")
    assert run(["audit", "export", "--format", "xml"], env).returncode == 2
    engine = create_engine(sqlalchemy_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET detail = '{\"i\": 99}' WHERE seq = 2"))
    engine.dispose()
    broken = run(["audit", "verify"], env)
    assert broken.returncode == 1 and "entry 2 was changed" in broken.stderr


def test_manifest_command_matches_the_file() -> None:
    result = run(["manifest"], {})
    assert result.returncode == 0
    shipped = json.loads((Path(__file__).resolve().parents[2] / "manifest.json").read_text())
    assert json.loads(result.stdout) == shipped
    custom = json.loads(run(["manifest", "--url", "https://bot.corp.example"], {}).stdout)
    assert custom["settings"]["interactivity"]["request_url"] == "https://bot.corp.example/slack/events"
    socket = json.loads(run(["manifest", "--socket"], {}).stdout)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in socket["settings"]["interactivity"]
