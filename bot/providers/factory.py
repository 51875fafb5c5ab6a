"""Constructs the provider adapters a set of settings configures (nothing is contacted here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.settings import Settings

if TYPE_CHECKING:  # the SDKs behind these are imported only when an adapter is built
    from bot.providers.aws import AwsProvider
    from bot.providers.gitlab import IssueTracker
    from bot.providers.google import GoogleProvider
    from bot.providers.okta import OktaDirectory


@dataclass
class Providers:
    okta: OktaDirectory | None
    google: GoogleProvider | None
    aws: AwsProvider | None
    gitlab: IssueTracker | None

    def close(self) -> None:
        close = getattr(self.okta, "close", None)
        if close is not None:
            close()


def build_providers(settings: Settings, **overrides: Any) -> Providers:
    """Real adapters for what is configured; `overrides` (okta=, google=, aws=, gitlab=) replace them."""
    okta = overrides.get("okta") or _okta(settings)
    google = overrides.get("google") or _google(settings)
    aws = overrides.get("aws") or _aws(settings)
    gitlab = overrides.get("gitlab") or _gitlab(settings)
    return Providers(okta=okta, google=google, aws=aws, gitlab=gitlab)


def _okta(settings: Settings) -> OktaDirectory | None:
    if not settings.okta_client_orgurl:
        return None
    from bot.providers.okta import OktaSdkDirectory

    key = settings.okta_client_privatekey.get_secret_value() if settings.okta_client_privatekey else None
    return OktaSdkDirectory(
        settings.okta_client_orgurl,
        api_token=settings.okta_client_token.get_secret_value() if settings.okta_client_token else None,
        client_id=settings.okta_client_clientid,
        private_key=key,
        scopes=settings.okta_scopes,
        key_id=settings.okta_client_kid,
        dpop=settings.okta_client_dpop,
    )


def _google(settings: Settings) -> GoogleProvider | None:
    if not settings.google_application_credentials or not settings.google_admin_subject:
        return None
    from bot.providers.google import GoogleAdapter

    return GoogleAdapter(
        settings.google_application_credentials, settings.google_admin_subject, settings.google_api_url
    )


def _aws(settings: Settings) -> AwsProvider | None:
    from bot.providers.aws import AwsAdapter

    return AwsAdapter(settings.aws_endpoint_url, settings.aws_default_region)


def _gitlab(settings: Settings) -> IssueTracker | None:
    if settings.gitlab_token is None:
        return None
    from bot.providers.gitlab import GitLabAdapter

    return GitLabAdapter(settings.gitlab_url, settings.gitlab_token.get_secret_value())
