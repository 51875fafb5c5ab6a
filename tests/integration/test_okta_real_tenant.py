"""A real Okta tenant's first contact (issue #15): the settings a service app needs (comma-separated scopes,
the key id, DPoP), login-is-not-email people and two `Link` headers, against an Okta stand-in as strict as
Okta in each respect. The adapter is built from settings, the way `engops` builds it."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.test import Client

from bot.providers.errors import AuthError, ProviderError
from bot.providers.factory import build_providers
from bot.providers.okta import OktaSdkDirectory
from bot.settings import Mode, load_settings
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.okta import OktaStandIn
from tests.support.keys import rsa_pem_pair

DIRECTORY = demo_directory()
ALICE = DIRECTORY.by_handle("alice")
ROSA = DIRECTORY.by_handle("rosa")  # Okta login rdiaz@example.com, email rosa@example.com
EVERYONE = next(g for g in DIRECTORY.groups if g.name == "everyone")
AWS_ADMINS = next(g for g in DIRECTORY.groups if g.name == "aws-sandbox-admins")
APP = "0oa-engops-bot"
SCOPES = ["okta.users.manage", "okta.groups.manage", "okta.roles.read"]


KEYS = rsa_pem_pair()


@pytest.fixture
def okta() -> OktaStandIn:
    return OktaStandIn.from_directory(DIRECTORY)


@pytest.fixture
def server(okta: OktaStandIn) -> Iterator[RunningServer]:
    with RunningServer(okta) as running:
        yield running


@pytest.fixture
def from_settings(server: RunningServer) -> Iterator[Callable[..., OktaSdkDirectory]]:
    """The adapter `engops` builds from these OKTA_* settings (an OAuth service app unless a token is given)."""
    made: list[OktaSdkDirectory] = []

    def build(**env: str) -> OktaSdkDirectory:
        base = {"OKTA_CLIENT_ORGURL": server.url, "OKTA_CLIENT_CLIENTID": APP, "OKTA_CLIENT_PRIVATEKEY": KEYS[0]}
        settings = load_settings({**base, **env})
        assert settings.problems_for(Mode.CHECK) == []
        okta = build_providers(settings).okta
        assert isinstance(okta, OktaSdkDirectory)
        made.append(okta)
        return okta

    yield build
    for adapter in made:
        adapter.close()


# --- OKTA_CLIENT_SCOPES ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "scopes",
    [
        "okta.users.manage,okta.groups.manage",
        "okta.users.manage, okta.groups.manage",
        "okta.users.manage okta.groups.manage",
    ],
)
def test_scopes_are_comma_separated_as_the_sdk_reads_them_spaces_too(
    okta: OktaStandIn, from_settings: Callable[..., OktaSdkDirectory], scopes: str
) -> None:
    okta.register_service_app(APP, KEYS[1], SCOPES)
    adapter = from_settings(OKTA_CLIENT_SCOPES=scopes)
    adapter.add_member(AWS_ADMINS.id, ALICE.okta_id)
    assert ALICE.email in okta.members("aws-sandbox-admins")
    assert "scope=okta.users.manage+okta.groups.manage" in okta.calls_to("POST", "/oauth2/v1/token")[0].text()


def test_token_endpoint_refuses_scopes_it_does_not_know_or_the_app_was_not_granted(okta: OktaStandIn) -> None:
    okta.register_service_app(APP, KEYS[1], ["okta.users.read"])
    client = Client(okta)
    url = "http://localhost/oauth2/v1/token"

    def ask(scope: str) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": APP, "sub": APP, "aud": url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode(claims, KEYS[0], algorithm="RS256"),
        }
        answer = client.post(url, data=form)
        return {"status": answer.status_code, **answer.get_json()}

    assert ask("okta.users.read,okta.groups.read")["error"] == "invalid_scope"  # one unknown scope, as today's bug sent
    assert "not configured" in ask("okta.users.read,okta.groups.read")["error_description"]
    ungranted = ask("okta.users.read okta.groups.manage")
    assert (ungranted["status"], ungranted["error"]) == (400, "invalid_scope")
    assert "okta.groups.manage" in ungranted["error_description"]
    granted = ask("okta.users.read")
    assert (granted["status"], granted["token_type"], granted["scope"]) == (200, "Bearer", "okta.users.read")


# --- OKTA_CLIENT_KID --------------------------------------------------------------------------------------------
def test_the_key_id_goes_into_the_client_assertion(
    okta: OktaStandIn, from_settings: Callable[..., OktaSdkDirectory]
) -> None:
    okta.register_service_app(APP, KEYS[1], SCOPES, key_id="kid-2026-12")
    with pytest.raises(AuthError) as refused:
        from_settings(OKTA_CLIENT_SCOPES=",".join(SCOPES)).get_user(ALICE.email)
    assert (
        "invalid_client" in refused.value.message and "The client_assertion JWT kid is invalid" in refused.value.message
    )
    okta.reset_log()
    user = from_settings(OKTA_CLIENT_SCOPES=",".join(SCOPES), OKTA_CLIENT_KID="kid-2026-12").get_user(ALICE.email)
    assert user is not None and user.login == ALICE.email
    form = okta.calls_to("POST", "/oauth2/v1/token")[0].text()
    assertion = next(v for k, v in (p.split("=", 1) for p in form.split("&")) if k == "client_assertion")
    assert jwt.get_unverified_header(assertion)["kid"] == "kid-2026-12"


# --- OKTA_CLIENT_DPOP -------------------------------------------------------------------------------------------
def test_an_app_that_requires_dpop_refuses_tokens_without_a_proof(
    okta: OktaStandIn, from_settings: Callable[..., OktaSdkDirectory]
) -> None:
    okta.register_service_app(APP, KEYS[1], SCOPES, dpop=True)
    with pytest.raises(AuthError) as refused:
        from_settings(OKTA_CLIENT_SCOPES=",".join(SCOPES), OKTA_CLIENT_DPOP="false").get_user(ALICE.email)
    assert "invalid_dpop_proof" in refused.value.message
    assert okta.calls_to("GET", "/api/v1/") == []


def test_dpop_tokens_and_proofs_for_every_call_logins_in_paths_included(
    okta: OktaStandIn, from_settings: Callable[..., OktaSdkDirectory]
) -> None:
    okta.register_service_app(APP, KEYS[1], SCOPES, key_id="kid-1", dpop=True)
    adapter = from_settings(OKTA_CLIENT_SCOPES=",".join(SCOPES), OKTA_CLIENT_KID="kid-1", OKTA_CLIENT_DPOP="true")
    # a login in the path: the SDK's proof names `/users/alice%40example.com`, Okta checks the decoded path
    user = adapter.get_user(ALICE.email)
    assert user is not None and user.id == ALICE.okta_id
    adapter.add_member(AWS_ADMINS.id, ALICE.okta_id)
    assert ALICE.email in okta.members("aws-sandbox-admins")
    assert len(adapter.list_group_members(EVERYONE.id)) == len(okta.members("everyone"))
    token_calls = okta.calls_to("POST", "/oauth2/v1/token")
    assert [c.status for c in token_calls] == [400, 200]  # use_dpop_nonce first, then a proof with the nonce
    proofs = [jwt.decode(c.headers["Dpop"], options={"verify_signature": False}) for c in token_calls]
    assert "nonce" not in proofs[0] and proofs[1]["nonce"]
    api_calls = okta.calls_to("GET", "/api/v1/") + okta.calls_to("PUT", "/api/v1/")
    assert api_calls and all(c.status < 400 for c in api_calls)
    assert all(c.headers["Authorization"].startswith("DPoP ") and c.headers.get("Dpop") for c in api_calls)


def _proof(key: Any, method: str, url: str, token: str | None = None, nonce: str | None = None) -> str:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if token:
        claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(claims, key, algorithm="RS256", headers={"typ": "dpop+jwt", "jwk": public})


def test_stand_in_checks_dpop_proofs_as_okta_does(okta: OktaStandIn) -> None:
    okta.register_service_app(APP, KEYS[1], ["okta.users.read"], dpop=True)
    client, token_url = Client(okta), "http://localhost/oauth2/v1/token"
    dpop_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token_request(nonce: str | None) -> Any:
        now = int(time.time())
        claims = {"iss": APP, "sub": APP, "aud": token_url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        form = {
            "grant_type": "client_credentials",
            "scope": "okta.users.read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode(claims, KEYS[0], algorithm="RS256"),
        }
        return client.post(token_url, data=form, headers={"DPoP": _proof(dpop_key, "POST", token_url, nonce=nonce)})

    challenge = token_request(None)
    assert (challenge.status_code, challenge.get_json()["error"]) == (400, "use_dpop_nonce")
    granted = token_request(challenge.headers["DPoP-Nonce"]).get_json()
    assert granted["token_type"] == "DPoP"
    token = granted["access_token"]
    path = f"/api/v1/users/{ALICE.email.replace('@', '%40')}"
    decoded_url, encoded_url = f"http://localhost/api/v1/users/{ALICE.email}", f"http://localhost{path}"

    def get(headers: dict[str, str]) -> Any:
        return client.get(path, headers=headers)

    assert get({"Authorization": f"Bearer {token}"}).status_code == 401  # a DPoP-bound token is not a bearer token
    missing = get({"Authorization": f"DPoP {token}"})
    assert missing.status_code == 400 and 'error="invalid_dpop_proof"' in missing.headers["WWW-Authenticate"]
    encoded = get({"Authorization": f"DPoP {token}", "DPoP": _proof(dpop_key, "GET", encoded_url, token)})
    assert encoded.status_code == 400 and "'htu' claim" in encoded.headers["WWW-Authenticate"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (
        get({"Authorization": f"DPoP {token}", "DPoP": _proof(other_key, "GET", decoded_url, token)}).status_code == 400
    )
    no_ath = get({"Authorization": f"DPoP {token}", "DPoP": _proof(dpop_key, "GET", decoded_url)})
    assert no_ath.status_code == 400 and "'ath' claim" in no_ath.headers["WWW-Authenticate"]
    proof = _proof(dpop_key, "GET", decoded_url, token)
    assert get({"Authorization": f"DPoP {token}", "DPoP": proof}).status_code == 200
    assert get({"Authorization": f"DPoP {token}", "DPoP": proof}).status_code == 400  # a proof is used once


# --- login is not the email ------------------------------------------------------------------------------------
def test_a_person_whose_login_is_not_their_email_is_found_by_profile_email(
    okta: OktaStandIn, from_settings: Callable[..., OktaSdkDirectory]
) -> None:
    adapter = from_settings(OKTA_CLIENT_TOKEN="okta-stand-in-token", OKTA_CLIENT_CLIENTID="")
    assert okta.calls_to("GET", "/api/v1/users") == []
    rosa = adapter.get_user(ROSA.email)
    assert rosa is not None and (rosa.login, rosa.email) == ("rdiaz@example.com", ROSA.email)
    assert adapter.get_user_by_login(ROSA.email) is None  # GET /users/{login} matches a login only
    assert adapter.get_user("nobody@example.com") is None
    okta.add_user("rosa.d@example.com", "Rosa", "Dup", email=ROSA.email)
    with pytest.raises(ProviderError, match="more than one Okta user"):
        adapter.get_user(ROSA.email)


# --- paging ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["self-first", "next-first", "alternate"])
def test_every_link_header_is_read_in_either_order(okta: OktaStandIn, server: RunningServer, order: str) -> None:
    okta.link_order = order
    adapter = OktaSdkDirectory(server.url, api_token="okta-stand-in-token", page_size=3)
    try:
        members = adapter.list_group_members(EVERYONE.id)
    finally:
        adapter.close()
    assert sorted(u.login for u in members) == sorted(okta.members("everyone"))
    page = okta.calls_to("GET", f"/api/v1/groups/{EVERYONE.id}/users")[0]
    assert page.status == 200 and len(okta.calls_to("GET", f"/api/v1/groups/{EVERYONE.id}/users")) > 2


def test_stand_in_sends_self_and_next_as_two_headers_in_either_order(okta: OktaStandIn) -> None:
    client = Client(okta)
    auth = {"Authorization": "SSWS okta-stand-in-token"}
    orders = []
    for _ in range(2):
        links = client.get(f"/api/v1/groups/{EVERYONE.id}/users?limit=3", headers=auth).headers.getlist("Link")
        assert len(links) == 2 and all("," not in link for link in links)
        orders.append([link.rsplit('rel="', 1)[1].rstrip('"') for link in links])
    assert sorted(orders) == [["next", "self"], ["self", "next"]]
