"""workflows/engine/identity.py's resolvers through the real adapters against the stand-ins (Google, Okta, moto),
which behave as the vendors do where identity is concerned: Google answers users.get for an alias
with the primary account, Okta logins differ from emails and admins hold roles, IAM users are tagged
to one person but named like another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.policy import load_policy
from bot.providers.aws import AwsAdapter
from bot.providers.google import GoogleAdapter
from bot.providers.okta import OktaSdkDirectory
from bot.settings import load_settings
from engops.sandbox.aws import SANDBOX_CREDENTIALS, MotoServer, sandbox_client, seed_aws
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.google import DEFAULT_ADMIN_SUBJECT, GoogleStandIn
from engops.sandbox.okta import API_USER_LOGIN, DEFAULT_TOKEN, OktaStandIn
from workflows.engine import identity, runtime
from workflows.engine.identity import AliasOfAnother, Ambiguous, ServiceUser, TaggedToSomeoneElse
from workflows.engine.runtime import Runtime
from workflows.offboarding import protection

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.example.yaml"
DIRECTORY = demo_directory()


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def okta() -> OktaStandIn:
    return OktaStandIn.from_directory(DIRECTORY)


@pytest.fixture
def google() -> GoogleStandIn:
    return GoogleStandIn.from_directory(DIRECTORY)


@pytest.fixture
def installed(okta: OktaStandIn, google: GoogleStandIn, moto: MotoServer, tmp_path: Path) -> Iterator[Runtime]:
    """The workflow runtime with the real adapters on the stand-ins (no database or Slack needed here)."""
    moto.reset()
    seed_aws(moto.url, DIRECTORY)
    with RunningServer(okta) as okta_srv, RunningServer(google) as google_srv:
        key = google.issue_key(tmp_path / "sa.json", google_srv.url)
        okta_adapter = OktaSdkDirectory(okta_srv.url, api_token=DEFAULT_TOKEN, retry_base_delay=0.01)
        rt = Runtime(
            settings=load_settings({"GOOGLE_ADMIN_SUBJECT": DEFAULT_ADMIN_SUBJECT}),
            policy=load_policy(EXAMPLE),
            db=None,  # type: ignore[arg-type]
            slack=None,  # type: ignore[arg-type]
            okta=okta_adapter,
            google=GoogleAdapter(key.path, DEFAULT_ADMIN_SUBJECT, google_srv.url),
            aws=AwsAdapter(moto.url, session=boto3.session.Session(**SANDBOX_CREDENTIALS), tag_index_ttl=0),
        )
        runtime.install(rt)
        try:
            yield rt
        finally:
            runtime.install(None)
            okta_adapter.close()


# --- the stand-ins behave like the vendors ---------------------------------------------------------------------
def test_google_users_get_by_an_alias_answers_with_the_primary_account(installed: Runtime) -> None:
    google = installed.require_google()
    found = google.get_user("old-bob@example.com")
    assert found is not None and found.primary_email == "mona@example.com"
    assert found.aliases == ("old-bob@example.com",)
    sam = google.get_user("sam@example.com")
    assert sam is not None and sam.is_admin
    alice = google.get_user("alice@example.com")
    assert alice is not None and not alice.is_admin and alice.aliases == ()


def test_google_user_resource_with_aliases_matches_the_discovery_schema(google: GoogleStandIn) -> None:
    from engops.sandbox.google import directory_discovery

    schema = directory_discovery()["schemas"]["User"]["properties"]
    mona = google.user("old-bob@example.com")
    assert mona is not None and mona["primaryEmail"] == "mona@example.com"
    assert set(mona) <= set(schema) | {"kind", "etag"}
    assert mona["aliases"] == ["old-bob@example.com"] and schema["aliases"]["type"] == "array"
    assert {"address": "old-bob@example.com"} in mona["emails"]


def test_okta_search_by_profile_email_roles_and_me(installed: Runtime, okta: OktaStandIn) -> None:
    adapter = installed.require_okta()
    assert adapter.get_user_by_login("rosa@example.com") is None  # her login is rdiaz@
    assert adapter.get_user("rosa@example.com").login == "rdiaz@example.com"  # the profile.email fallback
    assert [u.login for u in adapter.find_users_by_email("rosa@example.com")] == ["rdiaz@example.com"]
    search = okta.calls_to("GET", "/api/v1/users")[-1].query
    assert search["search"] == 'profile.email eq "rosa@example.com"'
    tara = DIRECTORY.by_handle("tara")
    assert adapter.admin_roles(tara.okta_id) == ["SUPER_ADMIN"]
    me = adapter.api_user()
    assert me is not None and me.login == API_USER_LOGIN


# --- the resolvers --------------------------------------------------------------------------------------------------
def test_okta_person_is_the_login_else_the_one_profile_email(installed: Runtime, okta: OktaStandIn) -> None:
    alice = identity.okta_person("alice@example.com")
    assert not isinstance(alice, identity.Refusal) and alice is not None and alice.login == "alice@example.com"
    rosa = identity.okta_person("ROSA@example.com")
    assert not isinstance(rosa, identity.Refusal) and rosa is not None and rosa.login == "rdiaz@example.com"
    assert identity.okta_person("nobody@example.com") is None
    okta.add_user("rosa.d@example.com", "Rosa", "Dup", email="rosa@example.com")
    assert identity.okta_person("rosa@example.com") == Ambiguous(
        "rosa@example.com", "Okta", ("rdiaz@example.com", "rosa.d@example.com")
    )


def test_google_person_refuses_an_alias(installed: Runtime) -> None:
    assert identity.google_person("old-bob@example.com") == AliasOfAnother("old-bob@example.com", "mona@example.com")
    mona = identity.google_person("mona@example.com")
    assert not isinstance(mona, identity.Refusal) and mona is not None and mona.primary_email == "mona@example.com"
    assert identity.google_person("nobody@example.com") is None


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("alice@example.com", "alice"),  # tagged
        ("rosa@example.com", "sam"),  # tagged, named like someone else
        ("dave@example.com", "dave"),  # tagged
        ("bob@example.com", None),  # bob.brown: untagged, not named like him
        ("carol@example.com", None),
        ("alice@contractor.io", None),  # finding 2: names count inside example.com only
        ("alice@example.com.evil.com", None),
        ("erin@example.com", "erin"),  # svc-deploy is tagged with erin's email too: never hers
        ("sam@example.com", TaggedToSomeoneElse("sam@example.com", "sam", "rosa@example.com")),
        ("uma@example.com", Ambiguous("uma@example.com", "AWS", ("uma@example.com", "uma"))),
        ("svc-deploy@example.com", ServiceUser("svc-deploy@example.com", "svc-deploy")),
    ],
)
def test_iam_user_of(installed: Runtime, email: str, expected: Any) -> None:
    assert identity.iam_user_of(email) == expected


def test_iam_a_tag_for_the_exact_address_counts_outside_the_domain(installed: Runtime, moto: MotoServer) -> None:
    sandbox_client("iam", moto.url).create_user(
        UserName="guest-alice", Tags=[{"Key": "email", "Value": "alice@contractor.io"}]
    )
    assert identity.iam_user_of("alice@contractor.io") == "guest-alice"


def test_the_guard_knows_the_protected_roles_and_the_bots_own_accounts(installed: Runtime) -> None:
    guard = protection.guard()
    assert guard.protected_people == {
        "grace@example.com": "offboarding.protected: role:it-admins",
        "heidi@example.com": "offboarding.protected: role:it-admins",
    }
    assert guard.bot_accounts[DEFAULT_ADMIN_SUBJECT] and guard.bot_accounts[API_USER_LOGIN]
    google, okta = installed.require_google(), installed.require_okta()
    assert (
        guard.check("alice@example.com", google.get_user("alice@example.com"), okta.get_user("alice@example.com"))
        is None
    )
    tara = guard.check("tara@example.com", None, okta.get_user("tara@example.com"))
    assert tara is not None and "Okta super admin" in tara.why
