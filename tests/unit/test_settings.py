from pathlib import Path

import pytest

from bot.settings import Mode, SettingsError, load_settings


def test_defaults_match_the_spec() -> None:
    s = load_settings({})
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.google_api_url == "https://admin.googleapis.com/"
    assert s.gitlab_url == "https://gitlab.com"
    assert s.database_url == "sqlite:///engops.db"
    assert s.engops_policy == "policy.yaml"


def test_serve_needs_slack_credentials_one_line_per_variable() -> None:
    problems = load_settings({}).problems_for(Mode.SERVE)
    assert problems == ["SLACK_BOT_TOKEN: required", "SLACK_SIGNING_SECRET: required for serve"]


def test_socket_needs_app_token_of_the_right_kind() -> None:
    s = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-wrong"})
    assert s.problems_for(Mode.SOCKET) == ["SLACK_APP_TOKEN: must be an app-level token starting with 'xapp-'"]


def test_malformed_values_name_the_variable_and_hide_secrets() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"SLACK_API_URL": "not a url", "DATABASE_URL": "mysql://x", "SLACK_BOT_TOKEN": "xoxb-secret"})
    text = str(err.value)
    assert "SLACK_API_URL:" in text and "DATABASE_URL:" in text
    assert "xoxb-secret" not in text
    assert len(err.value.problems) == 2


def test_okta_needs_a_credential_and_google_needs_a_subject(tmp_path: Path) -> None:
    key = tmp_path / "sa.json"
    key.write_text("{}")
    s = load_settings({"OKTA_CLIENT_ORGURL": "https://x.okta.com", "GOOGLE_APPLICATION_CREDENTIALS": str(key)})
    problems = s.problems_for(Mode.CHECK)
    assert any(p.startswith("OKTA_CLIENT_TOKEN:") for p in problems)
    assert any(p.startswith("GOOGLE_ADMIN_SUBJECT:") for p in problems)


def test_missing_google_key_file_is_reported() -> None:
    s = load_settings({"GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json", "GOOGLE_ADMIN_SUBJECT": "a@b.c"})
    assert s.problems_for(Mode.CHECK) == ["GOOGLE_APPLICATION_CREDENTIALS: no such file: /nonexistent/key.json"]


def test_secrets_do_not_show_in_repr() -> None:
    s = load_settings({"SLACK_BOT_TOKEN": "xoxb-topsecret", "GITLAB_TOKEN": "glpat-secret"})
    assert "topsecret" not in repr(s) and "glpat-secret" not in repr(s)
