"""GoogleAdapter (google-api-python-client + google-auth) against the running Google Directory stand-in."""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from bot.providers.errors import AuthError, RateLimitedError
from bot.providers.google import SCOPES, GoogleAdapter, GoogleUser, TokenBucket
from engops.sandbox.base import Fault, RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.google import (
    DEFAULT_ADMIN_SUBJECT,
    JWT_BEARER,
    SCOPE_USER,
    GoogleStandIn,
    ServiceAccountKey,
    directory_discovery,
    make_service_account_key,
)


@pytest.fixture
def stand_in() -> GoogleStandIn:
    return GoogleStandIn.from_directory(demo_directory())


@pytest.fixture
def server(stand_in: GoogleStandIn) -> Iterator[RunningServer]:
    with RunningServer(stand_in) as running:
        yield running


@pytest.fixture
def key(stand_in: GoogleStandIn, server: RunningServer, tmp_path: Path) -> ServiceAccountKey:
    return stand_in.issue_key(tmp_path / "sa.json", server.url)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def adapter(key: ServiceAccountKey, server: RunningServer, sleeps: Sleeps) -> GoogleAdapter:
    return GoogleAdapter(key.path, DEFAULT_ADMIN_SUBJECT, server.url, rate_limit_backoff=0.1, sleep=sleeps)


def delegated_session(key: ServiceAccountKey, scopes: list[str]) -> requests.Session:
    """A plain google-auth session acting as the admin, for requests the adapter would never send."""
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(key.path), scopes=scopes
    )
    session: requests.Session = AuthorizedSession(credentials.with_subject(DEFAULT_ADMIN_SUBJECT))  # type: ignore[no-untyped-call]
    return session


def api_calls(stand_in: GoogleStandIn) -> list[Any]:
    return [c for c in stand_in.calls if c.path != "/token"]


# --- token flow ------------------------------------------------------------------------------------------


def test_token_is_fetched_once_with_a_signed_delegation_assertion(
    adapter: GoogleAdapter, stand_in: GoogleStandIn
) -> None:
    assert adapter.ping() == f"acting as {DEFAULT_ADMIN_SUBJECT}"
    adapter.get_user("alice@example.com")

    token_calls = stand_in.calls_to("POST", "/token")
    assert len(token_calls) == 1
    form = dict(x.split("=", 1) for x in token_calls[0].text().split("&"))
    assert unquote(form["grant_type"]) == JWT_BEARER
    claims = json.loads(base64.urlsafe_b64decode(form["assertion"].split(".")[1] + "=="))
    assert claims["sub"] == DEFAULT_ADMIN_SUBJECT
    assert set(claims["scope"].split()) == set(SCOPES)

    issued = {grant for grant in stand_in.grants}
    for call in api_calls(stand_in):
        scheme, _, token = call.headers["Authorization"].partition(" ")
        assert scheme == "Bearer" and token in issued


def test_expired_token_is_refreshed_transparently(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    adapter.get_user("alice@example.com")
    stand_in.expire_tokens()
    assert adapter.get_user("alice@example.com") is not None
    assert stand_in.tokens_issued == 2
    assert [c.status for c in api_calls(stand_in)] == [200, 401, 200]


def test_unknown_subject_is_an_auth_error(key: ServiceAccountKey, server: RunningServer) -> None:
    adapter = GoogleAdapter(key.path, "nobody@example.com", server.url, sleep=Sleeps())
    with pytest.raises(AuthError, match="Invalid email or User ID"):
        adapter.get_user("alice@example.com")


def test_non_admin_subject_is_an_auth_error(key: ServiceAccountKey, server: RunningServer) -> None:
    adapter = GoogleAdapter(key.path, "alice@example.com", server.url, sleep=Sleeps())
    with pytest.raises(AuthError, match="Not Authorized"):
        adapter.get_user("bob@example.com")


def test_key_not_trusted_by_google_is_an_auth_error(server: RunningServer, tmp_path: Path) -> None:
    untrusted = make_service_account_key(tmp_path / "other.json", server.url + "/token")
    adapter = GoogleAdapter(untrusted.path, DEFAULT_ADMIN_SUBJECT, server.url, sleep=Sleeps())
    with pytest.raises(AuthError, match="account not found"):
        adapter.ping()


def test_assertion_signed_by_another_key_is_an_auth_error(
    key: ServiceAccountKey, server: RunningServer, tmp_path: Path
) -> None:
    forged = make_service_account_key(tmp_path / "forged.json", server.url + "/token")
    info = json.loads(forged.path.read_text())
    info.update(client_email=key.client_email, private_key_id=key.private_key_id, client_id=key.client_id)
    forged.path.write_text(json.dumps(info))
    adapter = GoogleAdapter(forged.path, DEFAULT_ADMIN_SUBJECT, server.url, sleep=Sleeps())
    with pytest.raises(AuthError, match="Invalid JWT Signature"):
        adapter.ping()


def test_client_without_delegated_security_scope_cannot_get_a_token(
    stand_in: GoogleStandIn, server: RunningServer, tmp_path: Path
) -> None:
    narrow = stand_in.issue_key(tmp_path / "narrow.json", server.url, scopes=[SCOPE_USER])
    adapter = GoogleAdapter(narrow.path, DEFAULT_ADMIN_SUBJECT, server.url, sleep=Sleeps())
    with pytest.raises(AuthError, match="unauthorized_client"):
        adapter.ping()


def _jwt(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return ".".join([enc(json.dumps(header).encode()), enc(json.dumps(claims).encode()), enc(signature)])


def test_stand_in_token_endpoint_rejects_what_google_rejects(key: ServiceAccountKey, server: RunningServer) -> None:
    import time

    now = int(time.time())
    claims = {
        "iss": key.client_email,
        "sub": DEFAULT_ADMIN_SUBJECT,
        "aud": "https://oauth2.googleapis.com/token",
        "scope": " ".join(SCOPES),
        "iat": now,
        "exp": now + 3600,
    }
    unsigned = _jwt({"alg": "none", "typ": "JWT"}, claims)
    forged_sig = _jwt({"alg": "RS256", "typ": "JWT", "kid": key.private_key_id}, claims, b"\x00" * 256)
    cases = {
        "unsigned": ({"grant_type": JWT_BEARER, "assertion": unsigned}, 400, "invalid_grant"),
        "bad signature": ({"grant_type": JWT_BEARER, "assertion": forged_sig}, 400, "invalid_grant"),
        "not a jwt": ({"grant_type": JWT_BEARER, "assertion": "abc"}, 400, "invalid_grant"),
        "no assertion": ({"grant_type": JWT_BEARER}, 400, "invalid_request"),
        "wrong grant": ({"grant_type": "client_credentials", "assertion": unsigned}, 400, "unsupported_grant_type"),
    }
    for name, (form, status, error) in cases.items():
        response = requests.post(server.url + "/token", data=form, timeout=5)
        assert (response.status_code, response.json()["error"]) == (status, error), name


def test_api_without_a_valid_bearer_token_is_401_in_googles_shape(server: RunningServer) -> None:
    for headers in ({}, {"Authorization": "Bearer ya29.made-up"}, {"Authorization": "SSWS x"}):
        response = requests.get(server.url + "/admin/directory/v1/users/alice@example.com", headers=headers, timeout=5)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == 401 and error["errors"][0]["domain"] == "global"
        assert error["errors"][0]["reason"] in ("required", "authError")


def test_sign_out_needs_the_security_scope(
    stand_in: GoogleStandIn, key: ServiceAccountKey, server: RunningServer
) -> None:
    """Why the adapter asks for admin.directory.user.security: admin.directory.user alone cannot sign out."""
    session = delegated_session(key, [SCOPE_USER])
    url = server.url + "/admin/directory/v1/users/alice@example.com"
    assert session.get(url, timeout=5).status_code == 200
    denied = session.post(url + "/signOut", timeout=5)
    assert denied.status_code == 403
    assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    assert stand_in.signouts["alice@example.com"] == 0


# --- users -------------------------------------------------------------------------------------------------


def test_get_user_maps_the_resource(adapter: GoogleAdapter) -> None:
    alice = adapter.get_user("alice@example.com")
    assert isinstance(alice, GoogleUser)
    assert (alice.primary_email, alice.full_name, alice.suspended) == ("alice@example.com", "Alice Archer", False)
    assert alice.last_login is not None and alice.last_login.tzinfo is not None
    never = demo_directory().people[-1].email
    assert adapter.get_user(never).last_login is None  # type: ignore[union-attr]


def test_unknown_user_is_none(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    assert adapter.get_user("nobody@example.com") is None
    assert api_calls(stand_in)[-1].status == 404


def test_list_users_follows_every_page(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    users = adapter.list_users("example.com", page_size=4)
    expected = {u["primaryEmail"] for u in stand_in.state()["users"]}
    everyone = len(demo_directory().people) + 1  # and the admin subject
    assert len(users) == len(expected) == everyone
    assert {u.primary_email for u in users} == expected
    pages = stand_in.calls_to("GET", "/admin/directory/v1/users")
    assert len(pages) == math.ceil(everyone / 4)
    assert "pageToken" not in pages[0].query and all("pageToken" in p.query for p in pages[1:])
    assert len({u.last_login for u in users}) > 5  # varied seed


def test_suspend_is_idempotent_and_reversible(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    adapter.set_suspended("alice@example.com", True)
    adapter.set_suspended("alice@example.com", True)
    assert stand_in.is_suspended("alice@example.com")
    assert adapter.get_user("alice@example.com").suspended  # type: ignore[union-attr]
    adapter.set_suspended("alice@example.com", False)
    assert not stand_in.is_suspended("alice@example.com")
    assert not stand_in.is_suspended("bob@example.com")


def test_sign_out_is_recorded(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    adapter.sign_out("carol@example.com")
    adapter.sign_out("carol@example.com")
    assert stand_in.signouts["carol@example.com"] == 2
    assert stand_in.signouts["alice@example.com"] == 0


# --- rate limits and failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(403, "userRateLimitExceeded"), (429, "rateLimitExceeded")])
def test_rate_limit_answers_are_retried_with_growing_backoff(
    adapter: GoogleAdapter, stand_in: GoogleStandIn, sleeps: Sleeps, status: int, reason: str
) -> None:
    stand_in.rate_limit_status = status
    stand_in.inject(Fault(status=status, kind="ratelimit", remaining=3, path_prefix="/admin/"))
    assert adapter.get_user("alice@example.com") is not None
    answered = [c for c in api_calls(stand_in) if c.status == status]
    assert len(answered) == 3
    assert json.loads(stand_in.rate_limited_response(0).get_data())["error"]["errors"][0]["reason"] == reason
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2]


def test_real_quota_window_is_waited_out(
    key: ServiceAccountKey, server: RunningServer, stand_in: GoogleStandIn
) -> None:
    stand_in.set_rate_limit(3, period=0.5)
    adapter = GoogleAdapter(key.path, DEFAULT_ADMIN_SUBJECT, server.url, rate_limit_backoff=0.1)
    emails = [p.email for p in demo_directory().people[:6]]
    assert [adapter.get_user(e).primary_email for e in emails] == emails  # type: ignore[union-attr]
    assert any(c.status == 403 for c in stand_in.calls)


def test_persistent_rate_limit_surfaces_as_rate_limited(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    stand_in.inject(Fault(status=403, kind="ratelimit", remaining=None, path_prefix="/admin/"))
    with pytest.raises(RateLimitedError):
        adapter.sign_out("alice@example.com")
    assert stand_in.signouts["alice@example.com"] == 0


def test_server_errors_are_retried(adapter: GoogleAdapter, stand_in: GoogleStandIn, sleeps: Sleeps) -> None:
    stand_in.inject(Fault(status=503, remaining=2, path_prefix="/admin/"))
    adapter.set_suspended("dave@example.com", True)
    assert stand_in.is_suspended("dave@example.com")
    assert len(sleeps) == 2


def test_threads_get_their_own_answers(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    """One shared httplib2.Http cross-wires concurrent responses (measured); each thread must get its own."""
    stand_in.latency = 0.005
    emails = [p.email for p in demo_directory().people] * 3
    wrong: list[tuple[str, str | None]] = []

    def fetch(email: str) -> None:
        user = adapter.get_user(email)
        if user is None or user.primary_email != email:
            wrong.append((email, user.primary_email if user else None))

    threads = [threading.Thread(target=fetch, args=(e,)) for e in emails]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert stand_in.max_in_flight > 1


def test_token_bucket_paces_to_the_configured_rate() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(120, capacity=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    assert waits and sum(waits) == pytest.approx(2.0)  # 4 beyond the burst at 2/s


# --- contract: every request matches the discovery document --------------------------------------------------


def _discovery_methods() -> list[tuple[str, str, re.Pattern[str], set[str]]]:
    doc = directory_discovery()
    global_params = {name for name, spec in doc["parameters"].items() if spec.get("location") == "query"}
    methods = []
    for method in doc["resources"]["users"]["methods"].values():
        pattern = re.compile("^/" + re.sub(r"\{[^}]+\}", "[^/]+", method["flatPath"]) + "$")
        params = {n for n, s in method.get("parameters", {}).items() if s.get("location") == "query"}
        methods.append((method["id"], method["httpMethod"], pattern, params | global_params))
    return methods


def test_every_request_matches_the_discovery_document(adapter: GoogleAdapter, stand_in: GoogleStandIn) -> None:
    adapter.ping()
    adapter.get_user("nobody@example.com")
    adapter.list_users("example.com", page_size=10)
    adapter.set_suspended("alice@example.com", True)
    adapter.sign_out("alice@example.com")

    methods = _discovery_methods()
    user_properties = set(directory_discovery()["schemas"]["User"]["properties"])
    used = set()
    for call in api_calls(stand_in):
        matching = [m for m in methods if m[1] == call.method and m[2].match(call.path)]
        assert len(matching) == 1, f"{call.method} {call.path} is not one Directory API method"
        method_id, _, _, params = matching[0]
        assert set(call.query) <= params, f"{method_id}: unknown query parameters {set(call.query) - params}"
        if call.body:
            assert set(call.json()) <= user_properties
        used.add(method_id)
    assert used == {"directory.users.get", "directory.users.list", "directory.users.patch", "directory.users.signOut"}

    for user in stand_in.state()["users"]:
        assert set(stand_in.user(user["primaryEmail"]) or {}) <= user_properties


def test_stand_in_refuses_parameters_google_does_not_know(key: ServiceAccountKey, server: RunningServer) -> None:
    session = delegated_session(key, list(SCOPES))
    base = server.url + "/admin/directory/v1/users"
    assert session.get(base, params={"domain": "example.com", "maxResults": "500"}, timeout=5).status_code == 200
    bad = [
        {"domain": "example.com", "maxResult": "5"},  # misspelt
        {"domain": "example.com", "maxResults": "501"},  # out of range
        {"domain": "example.com", "orderBy": "name"},  # not in the enum
        {"domain": "example.com", "pageToken": "forged"},
        {},  # neither domain nor customer
    ]
    for params in bad:
        response = session.get(base, params=params, timeout=5)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"] == 400
