"""Settings from the environment (SPEC §4), validated once at start-up.

Nothing is read at import time: `load_settings()` builds the object, and `Settings.problems_for`
lists what a given mode (serve, socket, worker, ...) still lacks, one line per variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Mode(StrEnum):
    SERVE = "serve"
    SOCKET = "socket"
    WORKER = "worker"
    CHECK = "check"
    CLI = "cli"


class SettingsError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _require_http_url(value: str, *, name: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


def okta_scope_list(text: str) -> list[str]:
    """Scopes separated by commas (the Okta SDK's `OKTA_CLIENT_SCOPES`) or spaces (OAuth's own form)."""
    return list(dict.fromkeys(s for s in re.split(r"[\s,]+", text) if s))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    okta_client_orgurl: str | None = None
    okta_client_token: SecretStr | None = None
    okta_client_clientid: str | None = None
    okta_client_privatekey: SecretStr | None = None
    okta_client_scopes: str | None = None
    okta_client_kid: str | None = None
    okta_client_dpop: bool = False

    google_application_credentials: str | None = None
    google_admin_subject: str | None = None
    google_api_url: str = "https://admin.googleapis.com/"

    aws_endpoint_url: str | None = None
    aws_default_region: str | None = None  # AWS_REGION wins over it; None: the profile's region (bot.providers.aws)

    gitlab_url: str = "https://gitlab.com"
    gitlab_token: SecretStr | None = None
    gitlab_webhook_secret: SecretStr | None = None

    database_url: str = "sqlite:///engops.db"
    engops_policy: str = "policy.yaml"

    @field_validator("slack_api_url", "google_api_url", "gitlab_url")
    @classmethod
    def _http_urls(cls, value: str) -> str:
        return _require_http_url(value, name="URL")

    @field_validator("okta_client_orgurl", "aws_endpoint_url")
    @classmethod
    def _optional_http_urls(cls, value: str | None) -> str | None:
        return None if value in (None, "") else _require_http_url(value, name="URL")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        scheme = value.split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError(f"must be a sqlite:/// or postgresql:// URL, got scheme {scheme!r}")
        return value

    @field_validator("okta_client_dpop", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        # Only the two words SPEC §4 names: "yes"/"1"/"on" would be accepted by pydantic and differ by vendor.
        if isinstance(value, str):
            if value.strip().lower() not in ("true", "false"):
                raise ValueError(f"must be true or false, got {value!r}")
            return value.strip().lower() == "true"
        return value

    @property
    def okta_scopes(self) -> list[str]:
        """`OKTA_CLIENT_SCOPES` as the Okta SDK reads it (comma-separated), spaces accepted too."""
        return okta_scope_list(self.okta_client_scopes or "")

    # --- what each mode needs -----------------------------------------------------------
    @property
    def okta_configured(self) -> bool:
        return self.okta_client_orgurl is not None

    @property
    def google_configured(self) -> bool:
        return self.google_application_credentials is not None

    @property
    def gitlab_configured(self) -> bool:
        return self.gitlab_token is not None

    def problems_for(self, mode: Mode) -> list[str]:
        problems: list[str] = []
        if mode in (Mode.SERVE, Mode.SOCKET, Mode.WORKER):
            if self.slack_bot_token is None:
                problems.append("SLACK_BOT_TOKEN: required")
            elif not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
                problems.append("SLACK_BOT_TOKEN: must be a bot token starting with 'xoxb-'")
        if mode is Mode.SERVE and self.slack_signing_secret is None:
            problems.append("SLACK_SIGNING_SECRET: required for serve")
        if mode is Mode.SOCKET:
            if self.slack_app_token is None:
                problems.append("SLACK_APP_TOKEN: required for socket")
            elif not self.slack_app_token.get_secret_value().startswith("xapp-"):
                problems.append("SLACK_APP_TOKEN: must be an app-level token starting with 'xapp-'")
        if self.okta_configured:
            has_token = self.okta_client_token is not None
            has_oauth = self.okta_client_clientid is not None and self.okta_client_privatekey is not None
            if not (has_token or has_oauth):
                problems.append(
                    "OKTA_CLIENT_TOKEN: required with OKTA_CLIENT_ORGURL "
                    "(or OKTA_CLIENT_CLIENTID + OKTA_CLIENT_PRIVATEKEY + OKTA_CLIENT_SCOPES)"
                )
            if self.okta_client_clientid and not self.okta_scopes:
                problems.append("OKTA_CLIENT_SCOPES: required with OKTA_CLIENT_CLIENTID")
        elif self.okta_client_token is not None:
            problems.append("OKTA_CLIENT_ORGURL: required when OKTA_CLIENT_TOKEN is set")
        if self.google_application_credentials is not None:
            if not Path(self.google_application_credentials).is_file():
                problems.append(f"GOOGLE_APPLICATION_CREDENTIALS: no such file: {self.google_application_credentials}")
            if not self.google_admin_subject:
                problems.append("GOOGLE_ADMIN_SUBJECT: required with GOOGLE_APPLICATION_CREDENTIALS")
        if mode is Mode.SERVE and self.gitlab_configured and self.gitlab_webhook_secret is None:
            problems.append("GITLAB_WEBHOOK_SECRET: required for the /gitlab/webhook endpoint")
        return problems

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from `environ` (default: the process environment).

    Raises SettingsError with one line per malformed variable, never echoing a secret's value.
    """
    try:
        if environ is None:
            return Settings()
        lowered = {k.lower(): v for k, v in environ.items()}
        fields = set(Settings.model_fields)
        return Settings.model_validate({k: v for k, v in lowered.items() if k in fields})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "SETTINGS"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError(problems) from None
