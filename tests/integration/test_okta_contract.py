"""Contract tests: what the Okta adapter sends, and what the Okta stand-in answers, against
Okta's official OpenAPI spec (the ChatOps subset, plus listUsers / listGroups / getGroup taken
from the full spec), and the stand-in's Okta behaviour that the spec does not capture."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request, Response

from bot.providers.errors import AuthError, ProviderError
from bot.providers.okta import OktaSdkDirectory
from engops.sandbox.base import Fault, RecordedCall, RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.okta import API_USER_LOGIN, DEFAULT_TOKEN, OktaStandIn
from tests.support.shared import shared_dir

SPECS = shared_dir() / "specs" / "okta"
# Operations the bot uses that the ChatOps subset leaves out.
FROM_FULL_SPEC = {
    "/api/v1/users": {"get"},
    "/api/v1/groups": {"get"},
    "/api/v1/groups/{groupId}": {"get"},
    "/api/v1/users/{userId}/roles": {"get"},  # protected people: Okta super / org admins
}
DIRECTORY = demo_directory()
ALICE = DIRECTORY.by_handle("alice")
ROSA = DIRECTORY.by_handle("rosa")  # Okta login is not her email
TARA = DIRECTORY.by_handle("tara")  # an Okta super admin
AWS_ADMINS = next(g for g in DIRECTORY.groups if g.name == "aws-sandbox-admins")
EVERYONE = next(g for g in DIRECTORY.groups if g.name == "everyone")
AUTH = {"Authorization": f"SSWS {DEFAULT_TOKEN}"}


# --- the spec ----------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _drop_empty_content(node: Any) -> None:
    """openapi-core reads `content: {}` as "a body is required" (every 204 fails with MissingData)."""
    if isinstance(node, dict):
        if node.get("content") == {}:
            del node["content"]
        for value in node.values():
            _drop_empty_content(value)
    elif isinstance(node, list):
        for value in node:
            _drop_empty_content(value)


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.load((SPECS / "okta-chatops-subset.yaml").read_text(), Loader=yaml.CSafeLoader)
    full = yaml.load((SPECS / "okta-management-openapi.noexamples.yaml").read_text(), Loader=yaml.CSafeLoader)
    for path, methods in FROM_FULL_SPEC.items():
        spec["paths"][path] = {k: v for k, v in full["paths"][path].items() if k in methods or k == "parameters"}
    pending = list(_refs(spec["paths"])) + list(_refs(spec["components"]))
    while pending:  # copy every component the added operations refer to, transitively
        _, _, section, name = pending.pop().split("/")
        known = spec["components"].setdefault(section, {})
        if name not in known:
            known[name] = full["components"][section][name]
            pending.extend(_refs(known[name]))
    _drop_empty_content(spec)
    spec.pop("x-webhooks", None)
    spec["servers"] = [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "80"}}}]
    return spec


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec)


@pytest.fixture(scope="module")
def error_schema(spec: dict[str, Any]) -> OAS30Validator:
    """Okta's `Error` body, for statuses the spec leaves undeclared per operation (401)."""
    registry = Registry().with_resource("urn:okta", Resource.from_contents(spec, default_specification=DRAFT4))
    return OAS30Validator({"$ref": "urn:okta#/components/schemas/Error"}, registry=registry)


# --- one adapter session, recorded ---------------------------------------------------------------


class ExchangeRecorder:
    """WSGI middleware keeping each request with the response the stand-in gave."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.exchanges: list[tuple[Request, Response]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = Response.from_app(self.app, environ, buffered=True)
        self.exchanges.append((request, response))
        return response(environ, start_response)


@pytest.fixture(scope="module")
def session() -> Iterator[tuple[OktaStandIn, ExchangeRecorder]]:
    """Every adapter method, the idempotent repeats, and the error answers the adapter handles."""
    okta = OktaStandIn.from_directory(DIRECTORY)
    recorder = ExchangeRecorder(okta)
    with RunningServer(recorder) as server:
        adapter = OktaSdkDirectory(server.url, api_token=DEFAULT_TOKEN, page_size=2, retry_base_delay=0.01)
        stranger = OktaSdkDirectory(server.url, api_token="wrong", retry_attempts=1)
        try:
            assert adapter.get_user(ALICE.email) and adapter.get_user(ALICE.okta_id)
            assert adapter.get_user("nobody@example.com") is None  # 404
            assert [u.login for u in adapter.find_users_by_email(ROSA.email)] == [ROSA.login]
            assert adapter.admin_roles(TARA.okta_id) == ["SUPER_ADMIN"] and adapter.admin_roles(ALICE.okta_id) == []
            api_user = adapter.api_user()  # GET /api/v1/users/me
            assert api_user is not None and api_user.login == API_USER_LOGIN
            adapter.list_user_groups(ALICE.okta_id)
            adapter.search_groups("aws", limit=5)
            adapter.get_group_by_name("aws-sandbox-admins")
            adapter.list_group_members(EVERYONE.id)  # 10 pages
            adapter.add_member(AWS_ADMINS.id, ALICE.okta_id)
            adapter.add_member(AWS_ADMINS.id, ALICE.okta_id)
            adapter.remove_member(AWS_ADMINS.id, ALICE.okta_id)
            adapter.suspend(ALICE.okta_id)
            adapter.suspend(ALICE.okta_id)  # 400, then a GET
            adapter.unsuspend(ALICE.okta_id)
            adapter.clear_sessions(ALICE.okta_id)
            okta.inject(Fault(429, path_prefix="/api/v1/users", kind="ratelimit"))
            adapter.ping()  # 429, then 200
            adapter.deactivate(ALICE.okta_id)
            with pytest.raises(AuthError):
                stranger.get_user(ALICE.email)  # 401
            with pytest.raises(ProviderError):
                adapter.unsuspend(ALICE.okta_id)  # 400: DEPROVISIONED
            # Stand-in operations the adapter does not use (yet): answers must still match the spec.
            for path in (f"/api/v1/groups/{EVERYONE.id}", "/api/v1/users?q=a", "/api/v1/groups?limit=2"):
                requests.get(server.url + path, headers=AUTH, timeout=5).raise_for_status()
            search = '/api/v1/users?search=profile.managerId eq "mona@example.com"'
            requests.get(server.url + search, headers=AUTH, timeout=5).raise_for_status()
        finally:
            adapter.close()
            stranger.close()
        yield okta, recorder


def as_openapi_request(call: RecordedCall, base_url: str) -> WerkzeugOpenAPIRequest:
    builder = EnvironBuilder(
        method=call.method,
        path=call.path,
        base_url=base_url,
        query_string=call.query,
        headers=list(call.headers.items()),
    )
    return WerkzeugOpenAPIRequest(builder.get_request())


def _template(spec: dict[str, Any], method: str, path: str) -> str | None:
    for template, item in spec["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if method.lower() in item and re.fullmatch(pattern, path):
            return f"{method.upper()} {template}"
    return None


# --- the tests -----------------------------------------------------------------------------------


def test_every_request_the_adapter_sent_matches_the_spec(
    openapi: OpenAPI, session: tuple[OktaStandIn, ExchangeRecorder]
) -> None:
    okta, recorder = session
    base_url = recorder.exchanges[0][0].host_url
    api_calls = [c for c in okta.calls if c.path.startswith("/api/")]
    assert len(api_calls) > 25
    for call in api_calls:
        openapi.validate_request(as_openapi_request(call, base_url))
        # openapi-core cannot check the `apiToken` scheme's format; Okta wants exactly one space.
        assert re.fullmatch(r"(SSWS|Bearer) \S+", call.headers["Authorization"]), call.path


def test_every_stand_in_response_matches_the_spec(
    openapi: OpenAPI, error_schema: OAS30Validator, session: tuple[OktaStandIn, ExchangeRecorder]
) -> None:
    _, recorder = session
    for request, response in recorder.exchanges:
        try:
            openapi.validate_response(WerkzeugOpenAPIRequest(request), WerkzeugOpenAPIResponse(response))
        except ResponseNotFound:
            # Okta documents 401 once for all operations, not per operation.
            assert response.status_code == 401, request.path
            error_schema.validate(response.get_json())
        if response.status_code == 204:
            assert response.get_data() == b""
        if response.status_code >= 400:
            error_schema.validate(response.get_json())


def test_the_session_covered_every_operation_and_answer(
    spec: dict[str, Any], session: tuple[OktaStandIn, ExchangeRecorder]
) -> None:
    """So that the two tests above cannot pass by checking too little."""
    _, recorder = session
    seen = {_template(spec, r.method, r.path) for r, _ in recorder.exchanges if r.path.startswith("/api/")}
    declared = {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item if m != "parameters"}
    assert seen == declared
    assert {resp.status_code for _, resp in recorder.exchanges} >= {200, 204, 400, 401, 404, 429}


# --- Okta behaviour the spec does not capture ------------------------------------------------------


@pytest.fixture
def okta() -> OktaStandIn:
    return OktaStandIn.from_directory(DIRECTORY)


@pytest.fixture
def client(okta: OktaStandIn) -> Client:
    return Client(okta)


@pytest.mark.parametrize(
    "header",
    [
        None,
        f"SSWS{DEFAULT_TOKEN}",
        f"SSWS  {DEFAULT_TOKEN}",
        f"ssws {DEFAULT_TOKEN}",
        f"Bearer {DEFAULT_TOKEN}",
        "SSWS x",
    ],
)
def test_stand_in_rejects_malformed_or_wrong_authorization(client: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get(f"/api/v1/users/{ALICE.okta_id}", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["errorCode"] == "E0000011"


def test_stand_in_sends_rate_limit_headers_on_every_response(client: Client) -> None:
    for response in (
        client.get(f"/api/v1/users/{ALICE.okta_id}", headers=AUTH),
        client.get("/api/v1/users/nobody", headers=AUTH),
        client.get(f"/api/v1/users/{ALICE.okta_id}"),
        client.put(f"/api/v1/groups/{AWS_ADMINS.id}/users/{ALICE.okta_id}", headers=AUTH),
    ):
        limit, remaining, reset = (int(response.headers[f"X-Rate-Limit-{h}"]) for h in ("Limit", "Remaining", "Reset"))
        assert 0 <= remaining <= limit and reset >= int(time.time())


def test_stand_in_429_is_okta_shaped(client: Client, okta: OktaStandIn) -> None:
    okta.set_rate_limit(1, period=60, writes_only=True)
    first = client.post(f"/api/v1/users/{ALICE.okta_id}/lifecycle/suspend", headers=AUTH)
    second = client.delete(f"/api/v1/users/{ALICE.okta_id}/sessions", headers=AUTH)
    read = client.get(f"/api/v1/users/{ALICE.okta_id}", headers=AUTH)
    assert (first.status_code, second.status_code, read.status_code) == (200, 429, 200)
    assert second.get_json()["errorCode"] == "E0000047"
    assert second.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(second.headers["X-Rate-Limit-Reset"]) > time.time()
    assert okta.sessions_cleared[ALICE.email] == 0


def test_stand_in_follows_okta_lifecycle_rules(client: Client, okta: OktaStandIn) -> None:
    url = f"/api/v1/users/{ALICE.okta_id}/lifecycle"
    assert client.post(f"{url}/unsuspend", headers=AUTH).get_json()["errorCode"] == "E0000001"
    assert client.post(f"{url}/suspend", headers=AUTH).status_code == 200
    assert client.post(f"{url}/suspend", headers=AUTH).status_code == 400
    assert client.post(f"{url}/deactivate", headers=AUTH).status_code == 200
    assert client.post(f"{url}/unsuspend", headers=AUTH).status_code == 400
    assert okta.user_status(ALICE.email) == "DEPROVISIONED"


def test_stand_in_pagination_links(client: Client) -> None:
    ids: list[str] = []
    url: str | None = f"/api/v1/groups/{EVERYONE.id}/users?limit=3"
    while url:
        response = client.get(url, headers=AUTH)
        ids.extend(u["id"] for u in response.get_json())
        every_link = ", ".join(response.headers.getlist("Link"))  # Okta sends self and next as two headers
        links = dict((rel, href) for href, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', every_link))
        assert "self" in links
        url = links.get("next")
    assert sorted(ids) == sorted(p.okta_id for p in DIRECTORY.people) and len(ids) == len(set(ids))
    typeahead = client.get("/api/v1/groups?q=a&limit=1", headers=AUTH)
    assert len(typeahead.get_json()) == 1
    assert 'rel="next"' not in " ".join(typeahead.headers.getlist("Link"))  # q is never paged


def test_stand_in_search_expressions(client: Client) -> None:
    found = client.get('/api/v1/groups?search=profile.name sw "net" or profile.name eq "zoom-users"', headers=AUTH)
    assert sorted(g["profile"]["name"] for g in found.get_json()) == ["netsuite-finance", "zoom-users"]
    bad = client.get('/api/v1/groups?search=profile.name gt "a"', headers=AUTH)
    assert bad.status_code == 400 and bad.get_json()["errorCode"] == "E0000031"
    reports = client.get('/api/v1/users?search=profile.managerId eq "oscar@example.com"', headers=AUTH)
    assert sorted(u["profile"]["login"] for u in reports.get_json()) == ["kim@example.com", "leo@example.com"]


def test_user_id_paths_do_not_take_a_login(client: Client) -> None:
    assert client.delete(f"/api/v1/users/{ALICE.email}/sessions", headers=AUTH).status_code == 404
    assert client.put(f"/api/v1/groups/{AWS_ADMINS.id}/users/{ALICE.email}", headers=AUTH).status_code == 404
    assert client.get(f"/api/v1/users/{ALICE.email}", headers=AUTH).status_code == 200  # `{id}` does
