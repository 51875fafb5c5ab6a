"""Okta stand-in: the Management API subset the bot uses, as strict as the real service.

Paths, status codes and bodies follow the official spec (`okta-chatops-subset.yaml`, plus
listUsers / listGroups / getGroup from the full spec): `Authorization: SSWS <token>` or
`Bearer <token>` only, Okta `Error` bodies with the real error codes, `X-Rate-Limit-*` headers
on every response, 429 `E0000047`, `Link: <...>; rel="next"` pagination with `after` cursors,
and Okta's lifecycle rules (suspend only ACTIVE users, unsuspend only SUSPENDED ones).
Paths documented as taking a user *id* (`{userId}`) do not accept a login, as in Okta, and
`/users/{id}` matches a login, never a `profile.email` that differs from it. A page's `self` and
`next` links are two `Link` headers, in either order (`link_order`).

OAuth 2.0 service apps (`register_service_app`) get tokens from the org authorization server with
a `private_key_jwt` client assertion, as Okta checks it: the assertion's `kid` must name the app's
key when the app has a key id (`invalid_client`), the scopes must be known Okta scopes and granted
to the app (`invalid_scope`), and an app that requires DPoP needs a DPoP proof (RFC 9449) on the
token request (`invalid_dpop_proof`, then `use_dpop_nonce` with a `DPoP-Nonce` until the proof
carries one) and on every API call with its DPoP-bound token (`Authorization: DPoP`, `ath`, the
bound key, `htu` compared with the *decoded* request path, as Okta does).

Admin roles are enforced: the API token acts with its user's roles, a service app with its own
(`/oauth2/v1/clients/{clientId}/roles`); an operation no role allows is 403 `E0000006`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from engops.sandbox.base import FixedWindowLimiter, StandIn, json_response
from engops.sandbox.directory import Directory

DEFAULT_TOKEN = "okta-stand-in-token"
# The admin who created the API token: what GET /api/v1/users/me answers for it.
API_USER_LOGIN = "okta-api@example.com"
TOKEN_PATH = "/oauth2/v1/token"
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Okta's default limit for most /api/v1/users endpoints; advertised when no limiter is set.
_NOMINAL_LIMIT = 600

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("E0000001", "Api validation failed"),
    401: ("E0000011", "Invalid token provided"),
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found"),
    405: ("E0000022", "The endpoint does not support the provided HTTP method"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
}
_SERVER_ERROR = ("E0000009", "Internal Server Error")


def _timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class _User:
    id: str
    login: str
    email: str
    first_name: str
    last_name: str
    manager_login: str | None
    status: str = "ACTIVE"
    admin_roles: list[str] = field(default_factory=list)  # SUPER_ADMIN, ORG_ADMIN, ... (GET .../roles)
    created: float = field(default_factory=time.time)
    status_changed: float = field(default_factory=time.time)

    def profile(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "email": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
            "managerId": self.manager_login,
            "mobilePhone": None,
            "secondEmail": None,
        }


@dataclass(frozen=True)
class _ServiceApp:
    client_id: str
    public_key_pem: str
    scopes: frozenset[str]  # granted to the app (its "Okta API Scopes" tab)
    key_id: str | None = None  # the registered key's `kid`; then assertions must name it
    dpop: bool = False  # "Require DPoP header in token requests" (Okta's default for new service apps)
    admin_roles: tuple[str, ...] = ("SUPER_ADMIN",)


@dataclass(frozen=True)
class _AccessToken:
    scopes: frozenset[str]
    client_id: str
    jkt: str | None  # the thumbprint of the DPoP key the token is bound to


# Okta API scopes of the org authorization server (a subset; any other is "not configured").
OKTA_SCOPES = frozenset(
    f"okta.{resource}.{access}"
    for resource in (
        "users", "groups", "roles", "apps", "logs", "factors", "sessions", "userTypes", "policies",
        "clients", "authorizationServers", "orgs", "schemas", "idps", "devices", "eventHooks", "inlineHooks",
    )
    for access in ("read", "manage")
)  # fmt: skip

# Which standard admin roles may call which operation (the part of Okta's role model the bot meets).
_ANY_ADMIN = frozenset(
    {"SUPER_ADMIN", "ORG_ADMIN", "GROUP_MEMBERSHIP_ADMIN", "USER_ADMIN", "HELP_DESK_ADMIN", "READ_ONLY_ADMIN",
     "APP_ADMIN", "REPORT_ADMIN", "API_ACCESS_MANAGEMENT_ADMIN"}
)  # fmt: skip
_ROLES_FOR: dict[str, frozenset[str]] = {
    "read": _ANY_ADMIN,
    "read_roles": frozenset({"SUPER_ADMIN", "ORG_ADMIN", "READ_ONLY_ADMIN"}),
    "membership": frozenset({"SUPER_ADMIN", "ORG_ADMIN", "GROUP_MEMBERSHIP_ADMIN", "USER_ADMIN"}),
    "lifecycle": frozenset({"SUPER_ADMIN", "ORG_ADMIN", "USER_ADMIN"}),
    "sessions": frozenset({"SUPER_ADMIN", "ORG_ADMIN", "USER_ADMIN", "HELP_DESK_ADMIN"}),
}
_DPOP_ALGS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
_DPOP_MAX_AGE = 300  # seconds a proof's `iat` may be off


@dataclass
class _Group:
    id: str
    name: str
    description: str
    members: set[str] = field(default_factory=set)  # user ids
    created: float = field(default_factory=time.time)
    last_membership_updated: float = field(default_factory=time.time)


class OktaError(Exception):
    """Raised by handlers; rendered as an Okta `Error` body."""

    def __init__(self, status: int, detail: str = "", causes: Iterable[str] = (), code: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.causes = list(causes)
        self.code = code


# --- Okta filter / search expressions (the subset we accept) ------------------------------
_CLAUSE = re.compile(r'\s*([A-Za-z_][\w.]*)\s+(eq|sw|co)\s+"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE)
_JOIN = re.compile(r"\s*(and|or)\s+", re.IGNORECASE)

Predicate = Callable[[Callable[[str], str | None]], bool]


def parse_expression(text: str, allowed: dict[str, set[str]]) -> Predicate:
    """Parse `attr op "value" [and|or ...]` (and binds tighter than or).

    `allowed` maps attribute -> operators it supports; anything else is Okta's 400 E0000031.
    The predicate takes a getter from attribute name to value.
    """
    pos = 0
    any_of: list[list[tuple[str, str, str]]] = []
    all_of: list[tuple[str, str, str]] = []
    while True:
        m = _CLAUSE.match(text, pos)
        if not m:
            raise OktaError(400, f"Invalid search criteria: {text}", code="E0000031")
        attr, op, raw = m.group(1), m.group(2).lower(), m.group(3)
        if op not in allowed.get(attr, set()):
            raise OktaError(400, f"Invalid search criteria: {attr} {op}", code="E0000031")
        value = re.sub(r"\\(.)", r"\1", raw)
        all_of.append((attr, op, value))
        pos = m.end()
        if pos == len(text):
            any_of.append(all_of)
            break
        j = _JOIN.match(text, pos)
        if not j:
            raise OktaError(400, f"Invalid search criteria: {text}", code="E0000031")
        if j.group(1).lower() == "or":
            any_of.append(all_of)
            all_of = []
        pos = j.end()

    def test(get: Callable[[str], str | None]) -> bool:
        return any(all(_compare(get(a), op, v) for a, op, v in clauses) for clauses in any_of)

    return test


def _compare(actual: str | None, op: str, expected: str) -> bool:
    if actual is None:
        return False
    if op == "eq":
        return actual == expected
    if op == "sw":
        return actual.lower().startswith(expected.lower())
    return expected.lower() in actual.lower()  # co


_USER_FILTER = {
    a: {"eq"} for a in ("status", "id", "profile.login", "profile.email", "profile.firstName", "profile.lastName")
}
_USER_SEARCH = {
    **{a: {"eq", "sw", "co"} for a in ("profile.login", "profile.email", "profile.firstName", "profile.lastName")},
    "profile.managerId": {"eq", "sw"},
    "status": {"eq"},
    "id": {"eq"},
}
_GROUP_FILTER = {"id": {"eq"}, "type": {"eq"}}
_GROUP_SEARCH = {
    "id": {"eq"},
    "type": {"eq"},
    "profile.name": {"eq", "sw", "co"},
    "profile.description": {"eq", "sw", "co"},
}


class OktaStandIn(StandIn):
    """Okta Management API stand-in. Construct empty, or `OktaStandIn.from_directory(...)`."""

    name = "okta"

    def __init__(self, api_token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self.api_tokens: set[str] = {api_token}
        self.token_users: dict[str, str] = {}  # API token -> id of the user it belongs to (`/users/me`)
        self.access_tokens: dict[str, _AccessToken] = {}  # issued OAuth access tokens
        self.service_apps: dict[str, _ServiceApp] = {}
        self.link_order = "alternate"  # "self-first" | "next-first" | "alternate" (per response)
        self._links_sent = 0
        self._dpop_nonces: dict[str, float] = {}  # nonce -> when issued
        self._dpop_jtis: set[str] = set()
        self.users: dict[str, _User] = {}
        self.groups: dict[str, _Group] = {}
        self.sessions_cleared: Counter[str] = Counter()  # login -> DELETE .../sessions calls
        self.oauth_tokens_revoked: Counter[str] = Counter()  # login -> calls with oauthTokens=true
        self._next_id = 1000
        self._routes()

    # --- seeding -------------------------------------------------------------------
    @classmethod
    def from_directory(cls, directory: Directory, api_token: str = DEFAULT_TOKEN) -> OktaStandIn:
        standin = cls(api_token)
        standin.seed(directory)
        return standin

    def seed(self, directory: Directory) -> None:
        for g in directory.groups:
            self.add_group(g.name, g.description, group_id=g.id)
        for p in directory.people:
            first, _, last = p.name.partition(" ")
            manager = directory.by_handle(p.manager).login if p.manager else None
            self.add_user(
                p.login,
                first,
                last or first,
                user_id=p.okta_id,
                email=p.email,
                manager_login=manager,
                admin_roles=p.okta_admin_roles,
            )
            for name in p.okta_groups:
                self.add_membership(name, p.login)
        # Like a real org's: the API token belongs to the (super) admin who created it.
        api_user = self.add_user(API_USER_LOGIN, "EngOps", "API", admin_roles=("SUPER_ADMIN",))
        for token in self.api_tokens:
            self.token_users[token] = api_user

    def add_user(
        self,
        login: str,
        first_name: str,
        last_name: str,
        *,
        user_id: str | None = None,
        email: str | None = None,
        manager_login: str | None = None,
        status: str = "ACTIVE",
        admin_roles: Iterable[str] = (),
    ) -> str:
        with self.lock:
            uid = user_id or self._new_id("00u")
            self.users[uid] = _User(
                uid, login, email or login, first_name, last_name, manager_login, status, list(admin_roles)
            )
            return uid

    def add_group(self, name: str, description: str = "", *, group_id: str | None = None) -> str:
        with self.lock:
            gid = group_id or self._new_id("00g")
            self.groups[gid] = _Group(gid, name, description)
            return gid

    def add_membership(self, group_name: str, login: str) -> None:
        with self.lock:
            self._group_named(group_name).members.add(self._user_by_login(login).id)

    def register_service_app(
        self,
        client_id: str,
        public_key_pem: str,
        scopes: Iterable[str],
        *,
        key_id: str | None = None,
        dpop: bool = False,
        admin_roles: Iterable[str] = ("SUPER_ADMIN",),
    ) -> None:
        """An OAuth 2.0 service app: `private_key_jwt` client auth, client-credentials grant."""
        with self.lock:
            self.service_apps[client_id] = _ServiceApp(
                client_id, public_key_pem, frozenset(scopes), key_id, dpop, tuple(admin_roles)
            )

    def set_admin_roles(self, login: str, roles: Iterable[str]) -> None:
        with self.lock:
            self._user_by_login(login).admin_roles = list(roles)

    def set_status(self, login: str, status: str) -> None:
        with self.lock:
            self._change_status(self._user_by_login(login), status)

    def _new_id(self, prefix: str) -> str:
        self._next_id += 1
        return f"{prefix}{self._next_id:017d}"

    # --- state for tests and the console -------------------------------------------------
    def members(self, group_name: str) -> set[str]:
        with self.lock:
            return {self.users[uid].login for uid in self._group_named(group_name).members}

    def user_status(self, login: str) -> str:
        with self.lock:
            return self._user_by_login(login).status

    def user_id(self, login: str) -> str:
        with self.lock:
            return self._user_by_login(login).id

    def group_id(self, group_name: str) -> str:
        with self.lock:
            return self._group_named(group_name).id

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "users": [
                    {"id": u.id, "login": u.login, "status": u.status, "manager": u.manager_login}
                    for u in sorted(self.users.values(), key=lambda u: u.login)
                ],
                "groups": [
                    {
                        "id": g.id,
                        "name": g.name,
                        "description": g.description,
                        "members": sorted(self.users[uid].login for uid in g.members),
                    }
                    for g in sorted(self.groups.values(), key=lambda g: g.name)
                ],
                "sessions_cleared": dict(self.sessions_cleared),
                "rate_limited": self.seen_rate_limited,
                "calls": len(self.calls),
            }

    def _group_named(self, name: str) -> _Group:
        for g in self.groups.values():
            if g.name == name:
                return g
        raise KeyError(name)

    def _user_by_login(self, login: str) -> _User:
        for u in self.users.values():
            if u.login.lower() == login.lower():
                return u
        raise KeyError(login)

    # --- vendor hooks ----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if request.path == TOKEN_PATH:
            return None  # the client authenticates with its signed assertion
        scheme, sep, token = request.headers.get("Authorization", "").partition(" ")
        if sep and scheme == "SSWS" and token in self.api_tokens:
            request.environ["okta.token_user"] = self.token_users.get(token)
            user = self.users.get(self.token_users.get(token) or "")
            if user is not None and request.path == f"/api/v1/users/{user.id}/roles":
                return None  # anyone may see their own role assignments
            return self._role_check(request, user.admin_roles if user else ["SUPER_ADMIN"])
        issued = self.access_tokens.get(token) if sep and scheme in ("Bearer", "DPoP") else None
        if issued is None:
            return self.error_response(401, "")
        if issued.jkt is not None or scheme == "DPoP":
            refused = self._check_resource_proof(request, scheme, token, issued)
            if refused is not None:
                return refused
        needed = _required_scope(request)
        if needed not in issued.scopes and needed.replace(".read", ".manage") not in issued.scopes:
            return self._okta_error(403, "", [f"The access token is missing the scope {needed}"])
        if request.path == f"/oauth2/v1/clients/{issued.client_id}/roles":
            return None  # the app's own role assignments
        return self._role_check(request, self.service_apps[issued.client_id].admin_roles)

    def _role_check(self, request: Request, roles: Iterable[str]) -> Response | None:
        if set(roles) & _ROLES_FOR[_operation(request)]:
            return None
        return self._okta_error(403, "", [])

    def _check_resource_proof(self, request: Request, scheme: str, token: str, issued: _AccessToken) -> Response | None:
        """A DPoP-bound token is used with `Authorization: DPoP` and a proof for this request and key."""
        if scheme != "DPoP" or issued.jkt is None:
            return self._dpop_resource_error(
                401, "invalid_token", "The access token is DPoP-bound; use the DPoP scheme."
            )
        try:
            claims, jkt = self._verify_proof(request)
            expected_ath = _b64(hashlib.sha256(token.encode()).digest())
            if claims.get("ath") != expected_ath:
                raise _ProofError("'ath' claim in the DPoP proof JWT is invalid.")
            if jkt != issued.jkt:
                raise _ProofError("The DPoP proof JWT key does not match the key the access token is bound to.")
        except _ProofError as exc:
            return self._dpop_resource_error(400, "invalid_dpop_proof", str(exc))
        return None

    def _dpop_resource_error(self, status: int, error: str, description: str) -> Response:
        response = self._okta_error(status, description, [], code=error)
        response.headers["WWW-Authenticate"] = (
            f'DPoP algs="{" ".join(_DPOP_ALGS)}", error="{error}", error_description="{description}"'
        )
        return response

    def _verify_proof(self, request: Request) -> tuple[dict[str, Any], str]:
        """RFC 9449 §4.3 checks of the request's `DPoP` header; the claims and the key's thumbprint."""
        import jwt

        proof = request.headers.get("DPoP")
        if not proof:
            raise _ProofError("The DPoP proof JWT header is missing.")
        try:
            header = jwt.get_unverified_header(proof)
            jwk = header.get("jwk")
            if header.get("typ") != "dpop+jwt" or header.get("alg") not in _DPOP_ALGS or not isinstance(jwk, dict):
                raise _ProofError("The DPoP proof JWT header is invalid.")
            if {"d", "p", "q", "dp", "dq", "qi"} & set(jwk):
                raise _ProofError("The DPoP proof JWT header must not contain a private key.")
            key = jwt.PyJWK(jwk, header["alg"]).key
            claims: dict[str, Any] = jwt.decode(
                proof, key, algorithms=_DPOP_ALGS, options={"require": ["jti", "htm", "htu", "iat"]}
            )
        except jwt.PyJWTError:
            raise _ProofError("DPoP proof JWT cannot be parsed.") from None
        if claims["htm"] != request.method:
            raise _ProofError("'htm' claim in the DPoP proof JWT is invalid.")
        htu = urlsplit(str(claims["htu"]))
        if (htu.scheme, htu.netloc, htu.path) != (request.scheme, request.host, request.path):
            raise _ProofError("'htu' claim in the DPoP proof JWT is invalid.")  # Okta compares the decoded path
        if abs(time.time() - float(claims["iat"])) > _DPOP_MAX_AGE:
            raise _ProofError("'iat' claim in the DPoP proof JWT is invalid.")
        if claims["jti"] in self._dpop_jtis:
            raise _ProofError("The DPoP proof JWT has already been used.")
        self._dpop_jtis.add(claims["jti"])
        return claims, _thumbprint(jwk)

    def error_response(self, status: int, message: str) -> Response:
        return self._okta_error(status, message.removeprefix("not found: "), [])

    def _okta_error(self, status: int, detail: str, causes: list[str], code: str | None = None) -> Response:
        if code is None:
            code, summary = _ERRORS.get(status) or (_SERVER_ERROR if status >= 500 else _ERRORS[400])
            if detail and status in (400, 404):
                summary = f"{summary}: {detail}"
        else:
            summary = detail
        body = {
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": "oae" + secrets.token_urlsafe(16)[:22],
            "errorCauses": [{"errorSummary": c} for c in causes],
        }
        return json_response(body, status)

    def rate_limited_response(self, reset: float) -> Response:
        resp = self.error_response(429, "")
        resp.headers.update(self._limit_headers(self.limiter.limit if self.limiter else _NOMINAL_LIMIT, 0, reset))
        return resp

    def rate_limit_headers(self, limiter: FixedWindowLimiter, remaining: int, reset: float) -> dict[str, str]:
        return self._limit_headers(limiter.limit, remaining, reset)

    @staticmethod
    def _limit_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(max(0, remaining)),
            "X-Rate-Limit-Reset": str(math.ceil(reset)),
        }

    def _handle(self, request: Request) -> Response:
        response = super()._handle(request)
        response.headers["X-Okta-Request-Id"] = secrets.token_urlsafe(18)
        # Okta sends the headers on every response; a 429 without them (an injected
        # `Fault(429)`) is left bare on purpose: clients must survive that too.
        if "X-Rate-Limit-Limit" not in response.headers and response.status_code != 429:
            reset = (int(time.time()) // 60 + 1) * 60
            response.headers.update(self._limit_headers(_NOMINAL_LIMIT, _NOMINAL_LIMIT, reset))
        return response

    # --- routes ------------------------------------------------------------------------
    def _routes(self) -> None:
        r = self.route
        r(TOKEN_PATH, ["POST"], self._h(self.oauth_token))
        r("/api/v1/users", ["GET"], self._h(self.list_users))
        r("/api/v1/users/<id>/groups", ["GET"], self._h(self.list_user_groups))
        r("/api/v1/users/<id>/lifecycle/<action>", ["POST"], self._h(self.lifecycle))
        r("/api/v1/users/<user_id>/sessions", ["DELETE"], self._h(self.revoke_sessions))
        r("/api/v1/users/<user_id>/roles", ["GET"], self._h(self.list_roles))
        r("/oauth2/v1/clients/<client_id>/roles", ["GET"], self._h(self.list_client_roles))
        r("/api/v1/users/<id>", ["GET"], self._h(self.get_user))
        r("/api/v1/groups", ["GET"], self._h(self.list_groups))
        r("/api/v1/groups/<group_id>", ["GET"], self._h(self.get_group))
        r("/api/v1/groups/<group_id>/users", ["GET"], self._h(self.list_group_users))
        r("/api/v1/groups/<group_id>/users/<user_id>", ["PUT", "DELETE"], self._h(self.membership))

    def _h(self, fn: Callable[..., Response]) -> Callable[..., Response]:
        def handler(request: Request, **args: str) -> Response:
            try:
                with self.lock:
                    return fn(request, **args)
            except OktaError as exc:
                return self._okta_error(exc.status, exc.detail, exc.causes, exc.code)

        handler.__name__ = fn.__name__
        return handler

    # --- lookups -------------------------------------------------------------------
    def _find_user(self, id_or_login: str) -> _User:
        """`{id}` paths: an id, a login, or an unambiguous login short name."""
        if id_or_login in self.users:
            return self.users[id_or_login]
        wanted = id_or_login.lower()
        matches = [u for u in self.users.values() if u.login.lower() == wanted]
        if not matches:
            matches = [u for u in self.users.values() if u.login.lower().split("@")[0] == wanted]
        if len(matches) != 1:
            raise OktaError(404, f"Resource not found: {id_or_login} (User)")
        return matches[0]

    def _user_by_id(self, user_id: str) -> _User:
        """`{userId}` paths take the id only."""
        if user_id not in self.users:
            raise OktaError(404, f"Resource not found: {user_id} (User)")
        return self.users[user_id]

    def _group(self, group_id: str) -> _Group:
        if group_id not in self.groups:
            raise OktaError(404, f"Resource not found: {group_id} (UserGroup)")
        return self.groups[group_id]

    # --- JSON shapes -----------------------------------------------------------------
    def _user_json(self, request: Request, u: _User) -> dict[str, Any]:
        base = request.host_url.rstrip("/")
        return {
            "id": u.id,
            "status": u.status,
            "created": _timestamp(u.created),
            "activated": _timestamp(u.created),
            "statusChanged": _timestamp(u.status_changed),
            "lastLogin": None,
            "lastUpdated": _timestamp(u.status_changed),
            "passwordChanged": _timestamp(u.created),
            "type": {"id": "oty00000000000000001"},
            "profile": u.profile(),
            "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"{base}/api/v1/users/{u.id}"}},
        }

    def _group_json(self, request: Request, g: _Group) -> dict[str, Any]:
        base = request.host_url.rstrip("/")
        return {
            "id": g.id,
            "created": _timestamp(g.created),
            "lastUpdated": _timestamp(g.created),
            "lastMembershipUpdated": _timestamp(g.last_membership_updated),
            "objectClass": ["okta:user_group"],
            "type": "OKTA_GROUP",
            "profile": {"name": g.name, "description": g.description},
            "_links": {
                "logo": [
                    {"name": "medium", "href": f"{base}/assets/img/logos/groups/okta-medium.png", "type": "image/png"}
                ],
                "users": {"href": f"{base}/api/v1/groups/{g.id}/users"},
                "apps": {"href": f"{base}/api/v1/groups/{g.id}/apps"},
            },
        }

    @staticmethod
    def _user_attr(u: _User) -> Callable[[str], str | None]:
        fields: dict[str, str | None] = {"id": u.id, "status": u.status}
        fields.update({f"profile.{k}": v for k, v in u.profile().items()})
        return fields.get

    @staticmethod
    def _group_attr(g: _Group) -> Callable[[str], str | None]:
        fields = {"id": g.id, "type": "OKTA_GROUP", "profile.name": g.name, "profile.description": g.description}
        return fields.get

    # --- pagination ----------------------------------------------------------------
    @staticmethod
    def _limit(request: Request, default: int, maximum: int) -> int:
        raw = request.args.get("limit")
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise OktaError(400, f"limit: '{raw}' is not a number") from None
        if value < 1:
            raise OktaError(400, "limit: must be greater than 0")
        return min(value, maximum)

    def _page(self, request: Request, items: list[Any], limit: int, paged: bool = True) -> Response:
        """Okta cursor pagination: items sorted by id, `after` = the last id of the previous page."""
        items = sorted(items, key=lambda item: item["id"])
        after = request.args.get("after")
        if after:
            items = [i for i in items if i["id"] > after]
        page = items[:limit]
        params = {k: v for k, v in request.args.items() if k != "after"}
        base = request.base_url
        links = [f'<{base}?{urlencode(params)}>; rel="self"' if params else f'<{base}>; rel="self"']
        if paged and len(items) > limit:
            nxt = urlencode({**params, "after": page[-1]["id"], "limit": str(limit)})
            links.append(f'<{base}?{nxt}>; rel="next"')
        self._links_sent += 1
        if self.link_order == "next-first" or (self.link_order == "alternate" and self._links_sent % 2 == 0):
            links.reverse()
        response = json_response(page, 200)
        for link in links:  # Okta sends each link as its own header
            response.headers.add("Link", link)
        return response

    # --- handlers ------------------------------------------------------------------
    def get_user(self, request: Request, id: str) -> Response:
        if id == "me":  # the user the API token belongs to; an OAuth service app has none
            me = request.environ.get("okta.token_user")
            return json_response(self._user_json(request, self._user_by_id(me or "me")))
        return json_response(self._user_json(request, self._find_user(id)))

    def list_roles(self, request: Request, user_id: str) -> Response:
        user = self._user_by_id(user_id)
        base = request.host_url.rstrip("/")
        assignee = {"assignee": {"href": f"{base}/api/v1/users/{user.id}"}}
        return json_response(_role_assignments(user.id, user.admin_roles, user.created, "USER", assignee))

    def list_client_roles(self, request: Request, client_id: str) -> Response:
        app = self.service_apps.get(client_id)
        if app is None:
            raise OktaError(404, f"Resource not found: {client_id} (Client)")
        base = request.host_url.rstrip("/")
        assignee = {"assignee": {"href": f"{base}/oauth2/v1/clients/{client_id}"}}
        return json_response(_role_assignments(client_id, app.admin_roles, time.time(), "CLIENT", assignee))

    def list_users(self, request: Request) -> Response:
        users = list(self.users.values())
        q, flt, search = request.args.get("q"), request.args.get("filter"), request.args.get("search")
        if search:
            test = parse_expression(search, _USER_SEARCH)
            users = [u for u in users if test(self._user_attr(u))]
        elif flt:
            test = parse_expression(flt, _USER_FILTER)
            users = [u for u in users if test(self._user_attr(u))]
        else:
            users = [u for u in users if u.status != "DEPROVISIONED"]
            if q:
                ql = q.lower()
                users = [
                    u for u in users if any(s.lower().startswith(ql) for s in (u.first_name, u.last_name, u.email))
                ]
        limit = self._limit(request, 10 if q else 200, 200)
        return self._page(request, [self._user_json(request, u) for u in users], limit, paged=not q)

    def list_user_groups(self, request: Request, id: str) -> Response:
        user = self._find_user(id)
        groups = sorted((g for g in self.groups.values() if user.id in g.members), key=lambda g: g.id)
        return json_response([self._group_json(request, g) for g in groups])

    def list_groups(self, request: Request) -> Response:
        groups = list(self.groups.values())
        q, flt, search = request.args.get("q"), request.args.get("filter"), request.args.get("search")
        if search:
            test = parse_expression(search, _GROUP_SEARCH)
            groups = [g for g in groups if test(self._group_attr(g))]
        if flt:
            test = parse_expression(flt, _GROUP_FILTER)
            groups = [g for g in groups if test(self._group_attr(g))]
        if q:
            groups = [g for g in groups if g.name.lower().startswith(q.lower())]
        limit = self._limit(request, 300 if q else 10000, 10000)
        return self._page(request, [self._group_json(request, g) for g in groups], limit, paged=not q)

    def get_group(self, request: Request, group_id: str) -> Response:
        return json_response(self._group_json(request, self._group(group_id)))

    def list_group_users(self, request: Request, group_id: str) -> Response:
        group = self._group(group_id)
        limit = self._limit(request, 1000, 10000)
        return self._page(request, [self._user_json(request, self.users[uid]) for uid in group.members], limit)

    def membership(self, request: Request, group_id: str, user_id: str) -> Response:
        group, user = self._group(group_id), self._user_by_id(user_id)
        if request.method == "PUT":
            group.members.add(user.id)
        else:
            group.members.discard(user.id)
        group.last_membership_updated = time.time()
        return self._no_content()

    def lifecycle(self, request: Request, id: str, action: str) -> Response:
        user = self._find_user(id)
        transitions = {
            "suspend": ({"ACTIVE"}, "SUSPENDED", "Cannot suspend a user that is not active"),
            "unsuspend": ({"SUSPENDED"}, "ACTIVE", "Cannot unsuspend a user that is not suspended"),
        }
        if action == "deactivate":
            # The spec has no 400 for deactivate: a DEPROVISIONED user stays as is.
            if user.status != "DEPROVISIONED":
                self._change_status(user, "DEPROVISIONED")
            return json_response({})
        if action not in transitions:
            raise OktaError(404, f"Resource not found: {request.path} (Path)")
        allowed, target, why = transitions[action]
        if user.status not in allowed:
            raise OktaError(400, f"{action}User", causes=[why])
        self._change_status(user, target)
        return json_response({})

    def _change_status(self, user: _User, status: str) -> None:
        user.status = status
        user.status_changed = time.time()

    def revoke_sessions(self, request: Request, user_id: str) -> Response:
        user = self._user_by_id(user_id)
        self.sessions_cleared[user.login] += 1
        if request.args.get("oauthTokens", "false").lower() == "true":
            self.oauth_tokens_revoked[user.login] += 1
        return self._no_content()

    def oauth_token(self, request: Request) -> Response:
        """Client-credentials grant with a `private_key_jwt` client assertion, as Okta service apps use."""
        import jwt  # PyJWT, installed with the okta SDK; only needed for OAuth

        form = request.form
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        assertion = form.get("client_assertion", "")
        try:
            if form.get("client_assertion_type") != _JWT_BEARER:
                raise jwt.InvalidTokenError("client_assertion_type")
            client_id = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
            app = self.service_apps.get(client_id)
            if app is None:
                raise jwt.InvalidTokenError("unknown client")
            if app.key_id is not None and jwt.get_unverified_header(assertion).get("kid") != app.key_id:
                return _oauth_error(401, "invalid_client", "The client_assertion JWT kid is invalid.")
            claims = jwt.decode(
                assertion,
                app.public_key_pem,
                algorithms=["RS256"],
                audience=request.host_url.rstrip("/") + TOKEN_PATH,
                issuer=client_id,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            )
            if claims["sub"] != client_id:
                raise jwt.InvalidTokenError("sub")
        except jwt.PyJWTError:
            return _oauth_error(401, "invalid_client", "The client_assertion token is invalid.")
        requested = frozenset(form.get("scope", "").split())
        if not requested or not requested <= OKTA_SCOPES:
            return _oauth_error(
                400, "invalid_scope", "One or more scopes are not configured for the authorization server resource."
            )
        if not requested <= app.scopes:
            missing = " ".join(sorted(requested - app.scopes))
            return _oauth_error(400, "invalid_scope", f"The following scopes were not granted to the client: {missing}")
        jkt = None
        if app.dpop:
            try:
                claims, jkt = self._verify_proof(request)
            except _ProofError as exc:
                return _oauth_error(400, "invalid_dpop_proof", str(exc))
            if claims.get("nonce") not in self._fresh_nonces():
                nonce = secrets.token_urlsafe(24)
                self._dpop_nonces[nonce] = time.time()
                response = _oauth_error(400, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")
                response.headers["DPoP-Nonce"] = nonce
                return response
        token = secrets.token_urlsafe(32)
        self.access_tokens[token] = _AccessToken(requested, client_id, jkt)
        scope = " ".join(sorted(requested))
        token_type = "DPoP" if jkt else "Bearer"
        return json_response({"token_type": token_type, "expires_in": 3600, "access_token": token, "scope": scope})

    def _fresh_nonces(self) -> set[str]:
        for nonce in [n for n, at in self._dpop_nonces.items() if time.time() - at > _DPOP_MAX_AGE]:
            del self._dpop_nonces[nonce]
        return set(self._dpop_nonces)

    @staticmethod
    def _no_content() -> Response:
        # Okta labels its empty 204 responses `application/json`; clients must not parse them.
        return Response(b"", status=204, content_type="application/json")


class _ProofError(Exception):
    """A DPoP proof Okta would refuse; the text is Okta's `error_description`."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (what a DPoP-bound token's `cnf.jkt` holds)."""
    members = ("e", "kty", "n") if jwk.get("kty") == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk.get(m) for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _role_assignments(
    owner_id: str, roles: Iterable[str], created: float, kind: str, links: dict[str, Any]
) -> list[dict[str, Any]]:
    stamp = _timestamp(created)
    return [
        {
            "id": f"ra1{owner_id[3:]}{n}",
            "label": role.replace("_", " ").title(),
            "type": role,
            "status": "ACTIVE",
            "created": stamp,
            "lastUpdated": stamp,
            "assignmentType": kind,
            "_links": links,
        }
        for n, role in enumerate(roles)
    ]


def _operation(request: Request) -> str:
    """The kind of operation, for the admin-role check."""
    if request.path.endswith("/roles"):
        return "read_roles"
    if request.method == "GET":
        return "read"
    if "/lifecycle/" in request.path:
        return "lifecycle"
    if request.path.endswith("/sessions"):
        return "sessions"
    return "membership"


def _required_scope(request: Request) -> str:
    """The OAuth scope the spec's `security` section names for this operation."""
    resource = "groups" if request.path.startswith("/api/v1/groups") else "users"
    if request.path.endswith("/roles"):
        resource = "roles"
    if request.method == "GET":
        return f"okta.{resource}.read"
    return f"okta.{resource}.manage"


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status)
