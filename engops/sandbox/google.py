"""Stand-in for the Google Admin SDK Directory API v1 (users subset) and Google's OAuth 2.0 token endpoint.

Paths, HTTP methods, query parameters and per-method OAuth scopes are read from the discovery
document that ships inside google-api-python-client, so the stand-in refuses what Google would.
The token endpoint implements the service-account JWT-bearer grant used by domain-wide
delegation: the assertion must be RS256-signed by a key the stand-in was told to trust, issued by
a trusted client, for Google's token audience, short-lived, and ask only for scopes the client is
authorised for. API calls need `Authorization: Bearer <token>` from that endpoint, and the admin the token acts
as must be a super admin or hold the method's privilege in its admin role (a delegated admin).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.wrappers import Request, Response

from engops.sandbox.base import StandIn, json_response
from engops.sandbox.directory import DOMAIN, Directory

SCOPE_USER = "https://www.googleapis.com/auth/admin.directory.user"
SCOPE_USER_READONLY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SCOPE_USER_SECURITY = "https://www.googleapis.com/auth/admin.directory.user.security"
# What an admin grants the bot's client id in Admin console > Security > API controls > Domain-wide delegation.
SCOPE_DATATRANSFER = "https://www.googleapis.com/auth/admin.datatransfer"
DEFAULT_DELEGATED_SCOPES = (SCOPE_USER, SCOPE_USER_SECURITY, SCOPE_DATATRANSFER)
# The Data Transfer API's applications (Google's own ids) and the transfer params each accepts.
TRANSFER_APPLICATIONS = (
    ("55656082996", "Drive and Docs", (("PRIVACY_LEVEL", ("PRIVATE", "SHARED")),)),
    ("435070579839", "Calendar", (("RELEASE_RESOURCES", ("TRUE",)),)),
    ("810260081642", "Google Data Studio", ()),
)
DEFAULT_ADMIN_SUBJECT = f"engops-admin@{DOMAIN}"
DEFAULT_CUSTOMER_ID = "C03az79cb"
# The admin privilege (Admin console > Account > Admin roles) each method needs; a super admin holds them all.
USERS_READ, USERS_UPDATE = "Users > Read", "Users > Update"
USER_SECURITY, DATA_TRANSFER = "User Security Management", "Data Transfer"
_PRIVILEGE_OF = {
    "users.get": USERS_READ,
    "users.list": USERS_READ,
    "users.update": USERS_UPDATE,
    "users.patch": USERS_UPDATE,
    "users.signOut": USER_SECURITY,
    "tokens": USER_SECURITY,
    "asps": USER_SECURITY,
    "applications": DATA_TRANSFER,
    "transfers": DATA_TRANSFER,
}

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always signs for this audience, whatever the key file's token_uri says.
TOKEN_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://accounts.google.com/o/oauth2/token",
        "https://www.googleapis.com/oauth2/v4/token",
    }
)
TOKEN_PATH = "/token"
TOKEN_LIFETIME = 3599
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300
NEVER_LOGGED_IN = "1970-01-01T00:00:00.000Z"  # what Google returns for a user who never signed in

USERS_PATH = "/admin/directory/v1/users"
TRANSFER_PATH = "/admin/datatransfer/v1"
_NOT_IMPLEMENTED_PARAMS = frozenset({"query", "event", "customFieldMask", "fields", "callback"})

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@cache
def directory_discovery() -> dict[str, Any]:
    """The Admin SDK Directory v1 discovery document shipped with google-api-python-client."""
    return _discovery("admin.directory_v1.json")


@cache
def datatransfer_discovery() -> dict[str, Any]:
    """The Admin SDK Data Transfer v1 discovery document shipped with google-api-python-client."""
    return _discovery("admin.datatransfer_v1.json")


def _discovery(name: str) -> dict[str, Any]:
    doc = resources.files("googleapiclient") / "discovery_cache" / "documents" / name
    loaded: dict[str, Any] = json.loads(doc.read_text(encoding="utf-8"))
    return loaded


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --- service-account keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceAccountKey:
    """A generated service-account key file and the public half the stand-in verifies with."""

    path: Path
    client_email: str
    client_id: str
    private_key_id: str
    public_key_pem: bytes


def make_service_account_key(
    path: Path | str,
    token_uri: str,
    *,
    project_id: str = "engops-sandbox",
    account: str = "engops-bot",
) -> ServiceAccountKey:
    """Write a throwaway service-account key JSON (fresh RSA key) whose token_uri is the stand-in's."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    client_email = f"{account}@{project_id}.iam.gserviceaccount.com"
    client_id = str(100000000000000000000 + secrets.randbelow(10**20))
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": private_pem.decode(),
        "client_email": client_email,
        "client_id": client_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{client_email}",
        "universe_domain": "googleapis.com",
    }
    target = Path(path)
    target.write_text(json.dumps(info, indent=2), encoding="utf-8")
    target.chmod(0o600)
    return ServiceAccountKey(target, client_email, client_id, key_id, public_pem)


# --- state --------------------------------------------------------------------------------------


@dataclass
class _User:
    id: str
    primary_email: str
    given_name: str
    family_name: str
    suspended: bool = False
    is_admin: bool = False
    org_unit_path: str = "/"
    last_login_time: str = NEVER_LOGGED_IN
    creation_time: str = field(default_factory=lambda: _rfc3339(datetime.now(UTC)))
    extra: dict[str, Any] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)  # lower case
    admin_privileges: frozenset[str] = frozenset()  # a delegated admin's role
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # OAuth tokens by clientId (Token resources)
    asps: dict[int, dict[str, Any]] = field(default_factory=dict)  # app passwords by codeId (Asp resources)

    def resource(self, customer_id: str) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra)
        body.update(
            {
                "kind": "admin#directory#user",
                "id": self.id,
                "primaryEmail": self.primary_email,
                "name": {
                    "givenName": self.given_name,
                    "familyName": self.family_name,
                    "fullName": f"{self.given_name} {self.family_name}".strip(),
                },
                "isAdmin": self.is_admin,
                "isDelegatedAdmin": bool(self.admin_privileges) and not self.is_admin,
                "lastLoginTime": self.last_login_time,
                "creationTime": self.creation_time,
                "agreedToTerms": True,
                "suspended": self.suspended,
                "archived": False,
                "changePasswordAtNextLogin": False,
                "ipWhitelisted": False,
                "emails": [{"address": self.primary_email, "primary": True}]
                + [{"address": alias} for alias in self.aliases],
                "customerId": customer_id,
                "orgUnitPath": self.org_unit_path,
                "isMailboxSetup": True,
                "includeInGlobalAddressList": True,
            }
        )
        if self.aliases:  # Google leaves the key out when there are none
            body["aliases"] = list(self.aliases)
        if self.suspended:
            body["suspensionReason"] = "ADMIN"
        digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
        body["etag"] = f'"{digest}"'
        return body


@dataclass(frozen=True)
class _TrustedClient:
    client_id: str
    client_email: str
    public_keys: dict[str, rsa.RSAPublicKey]
    delegated_scopes: frozenset[str]


@dataclass(frozen=True)
class _Grant:
    client_id: str
    subject: str | None
    scopes: frozenset[str]
    expires_at: float


class _ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str, domain: str = "global") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain


class _TokenError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


# --- the stand-in ---------------------------------------------------------------------------------


class GoogleStandIn(StandIn):
    name = "google"

    def __init__(self, domain: str = DOMAIN, customer_id: str = DEFAULT_CUSTOMER_ID) -> None:
        super().__init__()
        self.domain = domain
        self.customer_id = customer_id
        self.users: dict[str, _User] = {}  # by id
        self.clients: dict[str, _TrustedClient] = {}  # by client_email
        self.grants: dict[str, _Grant] = {}  # by access token
        self.signouts: Counter[str] = Counter()
        self.data_transfers: dict[str, dict[str, Any]] = {}  # DataTransfer resources by id
        self._transfer_checks: Counter[str] = Counter()
        # A transfer reports inProgress to this many transfers.get, then completed (or failed, when set):
        # "takes a while" without a clock, so tests decide how long.
        self.transfer_checks_to_finish = 1
        self.transfers_fail = False
        self.tokens_issued = 0
        # 403 userRateLimitExceeded (per-user QPM, the usual one) or 429 rateLimitExceeded (per account).
        self.rate_limit_status = 403
        self.route(TOKEN_PATH, ["POST"], self._token)
        self._api("users.get", f"{USERS_PATH}/<user_key>", self._get_user)
        self._api("users.list", USERS_PATH, self._list_users)
        self._api("users.update", f"{USERS_PATH}/<user_key>", self._update_user)
        self._api("users.patch", f"{USERS_PATH}/<user_key>", self._update_user)
        self._api("users.signOut", f"{USERS_PATH}/<user_key>/signOut", self._sign_out)
        self._api("tokens.list", f"{USERS_PATH}/<user_key>/tokens", self._list_tokens)
        self._api("tokens.delete", f"{USERS_PATH}/<user_key>/tokens/<client_id>", self._delete_token)
        self._api("asps.list", f"{USERS_PATH}/<user_key>/asps", self._list_asps)
        self._api("asps.delete", f"{USERS_PATH}/<user_key>/asps/<code_id>", self._delete_asp)
        transfer = datatransfer_discovery
        self._api("applications.list", f"{TRANSFER_PATH}/applications", self._list_applications, transfer)
        self._api("transfers.insert", f"{TRANSFER_PATH}/transfers", self._insert_transfer, transfer)
        self._api("transfers.list", f"{TRANSFER_PATH}/transfers", self._list_transfers, transfer)
        self._api("transfers.get", f"{TRANSFER_PATH}/transfers/<data_transfer_id>", self._get_transfer, transfer)

    # --- seeding and test helpers ---------------------------------------------------------------
    @classmethod
    def from_directory(cls, directory: Directory, admin_subject: str = DEFAULT_ADMIN_SUBJECT) -> GoogleStandIn:
        """Every person is a Google user (varied last logins; the last one never signed in), plus the admin."""
        stand_in = cls()
        now = datetime.now(UTC)
        days_ago = (0, 1, 2, 5, 9, 14, 30, 45, 60, 95, 130, 200)
        for n, person in enumerate(directory.people):
            given, _, family = person.name.partition(" ")
            never = n == len(directory.people) - 1
            last_login = None if never else now - timedelta(days=days_ago[n % len(days_ago)], hours=n, minutes=7 * n)
            org_unit = "/IT" if "it-helpdesk" in person.okta_groups else "/Employees"
            stand_in.add_user(
                person.email,
                given,
                family,
                last_login=last_login,
                org_unit_path=org_unit,
                is_admin=person.google_admin,
                aliases=person.google_aliases,
            )
            for app in person.google_tokens:
                stand_in.add_token(person.email, app)
            for name in person.google_app_passwords:
                stand_in.add_app_password(person.email, name)
        stand_in.add_user(admin_subject, "EngOps", "Automation", is_admin=True, last_login=now, org_unit_path="/IT")
        return stand_in

    def add_user(
        self,
        email: str,
        given_name: str,
        family_name: str,
        *,
        suspended: bool = False,
        is_admin: bool = False,
        last_login: datetime | None = None,
        org_unit_path: str = "/",
        aliases: Iterable[str] = (),
        admin_privileges: Iterable[str] = (),
    ) -> str:
        with self.lock:
            user_id = str(100000000000000000000 + len(self.users) * 7919 + 1)
            self.users[user_id] = _User(
                id=user_id,
                primary_email=email.lower(),
                given_name=given_name,
                family_name=family_name,
                suspended=suspended,
                is_admin=is_admin,
                org_unit_path=org_unit_path,
                last_login_time=_rfc3339(last_login) if last_login else NEVER_LOGGED_IN,
                aliases=[a.lower() for a in aliases],
                admin_privileges=frozenset(admin_privileges),
            )
            return user_id

    def add_token(self, email: str, display_text: str, scopes: Iterable[str] = ("openid", "email")) -> str:
        """A third-party app's OAuth token for the user; returns its clientId."""
        with self.lock:
            user = self._target(email)
            seed = hashlib.sha1(f"{user.id}/{display_text}".encode(), usedforsecurity=False).hexdigest()
            client_id = f"{int(seed[:12], 16) % 10**12:012d}.apps.googleusercontent.com"
            body: dict[str, Any] = {
                "kind": "admin#directory#token",
                "clientId": client_id,
                "displayText": display_text,
                "anonymous": False,
                "nativeApp": False,
                "scopes": list(scopes),
                "userKey": user.id,
            }
            body["etag"] = _etag(body)
            user.tokens[client_id] = body
            return client_id

    def add_app_password(self, email: str, name: str) -> int:
        """An application-specific password of the user; returns its codeId."""
        with self.lock:
            user = self._target(email)
            code_id = max(user.asps, default=0) + 1
            created = str(int(time.time() * 1000))
            body: dict[str, Any] = {
                "kind": "admin#directory#asp",
                "codeId": code_id,
                "name": name,
                "creationTime": created,
                "lastTimeUsed": created,
                "userKey": user.id,
            }
            body["etag"] = _etag(body)
            user.asps[code_id] = body
            return code_id

    def tokens(self, email: str) -> list[dict[str, Any]]:
        """The user's OAuth tokens (Token resources), for tests."""
        with self.lock:
            return list(self._target(email).tokens.values())

    def app_passwords(self, email: str) -> list[dict[str, Any]]:
        """The user's application-specific passwords (Asp resources), for tests."""
        with self.lock:
            return list(self._target(email).asps.values())

    def transfers(self, old_owner_email: str | None = None) -> list[dict[str, Any]]:
        """The Data Transfer API's transfers (DataTransfer resources), optionally of one old owner, for tests."""
        with self.lock:
            owner = self._find(old_owner_email) if old_owner_email else None
            return [dict(t) for t in self.data_transfers.values() if owner is None or t["oldOwnerUserId"] == owner.id]

    def trust(self, key: ServiceAccountKey, scopes: Iterable[str] = DEFAULT_DELEGATED_SCOPES) -> None:
        """Register a service account's public key and the scopes delegated to its client id."""
        public_key = serialization.load_pem_public_key(key.public_key_pem)
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise TypeError("service-account keys are RSA")
        with self.lock:
            known = self.clients.get(key.client_email)
            keys = dict(known.public_keys) if known else {}
            keys[key.private_key_id] = public_key
            self.clients[key.client_email] = _TrustedClient(key.client_id, key.client_email, keys, frozenset(scopes))

    def issue_key(
        self, path: Path | str, base_url: str, scopes: Iterable[str] = DEFAULT_DELEGATED_SCOPES
    ) -> ServiceAccountKey:
        """Generate a key file whose token_uri points at this stand-in (served at base_url) and trust it."""
        key = make_service_account_key(path, base_url.rstrip("/") + TOKEN_PATH)
        self.trust(key, scopes)
        return key

    def expire_tokens(self) -> None:
        with self.lock:
            self.grants.clear()

    def user(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._find(email)
            return found.resource(self.customer_id) if found else None

    def is_suspended(self, email: str) -> bool:
        with self.lock:
            found = self._find(email)
            if found is None:
                raise KeyError(email)
            return found.suspended

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "users": [
                    {
                        "primaryEmail": u.primary_email,
                        "suspended": u.suspended,
                        "isAdmin": u.is_admin,
                        "aliases": list(u.aliases),
                        "lastLoginTime": u.last_login_time,
                        "orgUnitPath": u.org_unit_path,
                    }
                    for u in sorted(self.users.values(), key=lambda u: u.primary_email)
                ],
                "signouts": dict(self.signouts),
                "tokens_issued": self.tokens_issued,
            }

    # --- vendor hooks -----------------------------------------------------------------------------
    def counts_against_rate_limit(self, request: Request) -> bool:
        return request.path != TOKEN_PATH

    def authorize(self, request: Request) -> Response | None:
        if request.path == TOKEN_PATH:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return self._unauthenticated(
                "Request is missing required authentication credential. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "required",
                "Login Required.",
            )
        with self.lock:
            grant = self.grants.get(token)
        if grant is None or grant.expires_at <= time.time():
            return self._unauthenticated(
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "authError",
                "Invalid Credentials",
            )
        request.environ["google.grant"] = grant
        return None

    def error_response(self, status: int, message: str) -> Response:
        reason = {404: "notFound", 400: "badRequest", 503: "backendError", 500: "backendError"}.get(status, "error")
        return _google_error(status, message, [{"message": message, "domain": "global", "reason": reason}])

    def rate_limited_response(self, reset: float) -> Response:
        if self.rate_limit_status == 429:
            message = "Quota exceeded for quota metric 'Queries' of service 'admin.googleapis.com'."
            return _google_error(
                429, message, [{"message": message, "domain": "usageLimits", "reason": "rateLimitExceeded"}]
            )
        message = "Quota exceeded for quota metric 'Queries per minute per user' of service 'admin.googleapis.com'."
        return _google_error(
            403, message, [{"message": message, "domain": "usageLimits", "reason": "userRateLimitExceeded"}]
        )

    # --- token endpoint -----------------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        try:
            grant = self._grant_for(request)
        except _TokenError as exc:
            return json_response({"error": exc.error, "error_description": exc.description}, exc.status)
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        with self.lock:
            self.grants[token] = grant
            self.tokens_issued += 1
        return json_response({"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})

    def _grant_for(self, request: Request) -> _Grant:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise _TokenError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        grant_type = request.form.get("grant_type")
        if grant_type != JWT_BEARER:
            raise _TokenError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
        assertion = request.form.get("assertion")
        if not assertion:
            raise _TokenError(400, "invalid_request", "Missing required parameter: assertion")
        claims = self._verified_claims(assertion)
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (
            not isinstance(iat, int)
            or not isinstance(exp, int)
            or iat > now + CLOCK_SKEW
            or exp <= now - CLOCK_SKEW
            or exp - iat > MAX_ASSERTION_LIFETIME
        ):
            raise _TokenError(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
                "Check your iat and exp values in the JWT claim.",
            )
        if claims.get("aud") not in TOKEN_AUDIENCES:
            raise _TokenError(400, "invalid_grant", "Invalid JWT: Failed audience check.")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not scope.split():
            raise _TokenError(400, "invalid_scope", "Empty or missing scope not allowed.")
        scopes = frozenset(scope.split())
        client = self.clients[claims["iss"]]
        subject = claims.get("sub")
        if subject is not None:
            with self.lock:
                if not isinstance(subject, str) or self._find(subject) is None:
                    raise _TokenError(400, "invalid_grant", "Invalid email or User ID")
            if not scopes <= client.delegated_scopes:
                raise _TokenError(
                    401,
                    "unauthorized_client",
                    "Client is unauthorized to retrieve access tokens using this method, "
                    "or client not authorized for any of the scopes requested.",
                )
        return _Grant(client.client_id, subject.lower() if subject else None, scopes, now + TOKEN_LIFETIME)

    def _verified_claims(self, assertion: str) -> dict[str, Any]:
        """The claims of an RS256 JWT signed by a trusted key of its issuer; invalid_grant otherwise."""
        bad_signature = _TokenError(400, "invalid_grant", "Invalid JWT Signature.")
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except (ValueError, binascii.Error):
            raise _TokenError(400, "invalid_grant", "Invalid JWT: not a signed JWT.") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _TokenError(400, "invalid_grant", "Invalid JWT: not a signed JWT.")
        with self.lock:
            client = self.clients.get(str(claims.get("iss")))
        if client is None:
            raise _TokenError(400, "invalid_grant", "Invalid grant: account not found")
        public_key = client.public_keys.get(str(header.get("kid")))
        if header.get("alg") != "RS256" or public_key is None or not signature:
            raise bad_signature
        try:
            public_key.verify(
                signature, f"{header_b64}.{claims_b64}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise bad_signature from None
        return claims

    # --- Directory API ------------------------------------------------------------------------------
    def _api(
        self,
        method_id: str,
        path: str,
        handler: Callable[..., Response],
        discovery: Callable[[], dict[str, Any]] = directory_discovery,
    ) -> None:
        resource, _, method_name = method_id.partition(".")
        method = discovery()["resources"][resource]["methods"][method_name]
        # {userKey} -> <user_key>, {clientId} -> <client_id>: Werkzeug's placeholders for the discovery path's
        expected = "/" + re.sub(
            r"\{(\w+)\}", lambda m: "<" + re.sub("([A-Z])", r"_\1", m.group(1)).lower() + ">", str(method["path"])
        )
        assert expected == path, f"{method_id}: {path} is not the discovery path {expected}"

        def endpoint(request: Request, **args: str) -> Response:
            try:
                self._check_query(method, request, discovery())
                grant: _Grant = request.environ["google.grant"]
                if not grant.scopes & set(method.get("scopes", ())):
                    raise _ApiError(403, "Request had insufficient authentication scopes.", "insufficientPermissions")
                self._check_admin(grant, method_id)
                return handler(request, **args)
            except _ApiError as exc:
                errors = [{"message": exc.message, "domain": exc.domain, "reason": exc.reason}]
                return _google_error(exc.status, exc.message, errors)

        endpoint.__name__ = method_id.replace(".", "_")
        self.route(path, [str(method["httpMethod"])], endpoint)

    def _check_query(self, method: dict[str, Any], request: Request, doc: dict[str, Any]) -> None:
        known = {**doc["parameters"], **method.get("parameters", {})}
        for name in request.args:
            spec = known.get(name)
            if spec is None or spec.get("location") != "query":
                raise _ApiError(
                    400,
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                    f"Field '{name}' could not be found in request message.",
                    "invalid",
                )
            if name in _NOT_IMPLEMENTED_PARAMS:
                raise _ApiError(400, f"The stand-in does not implement the '{name}' parameter.", "invalid")
            value = request.args[name]
            if "enum" in spec and value not in spec["enum"]:
                raise _ApiError(400, f"Invalid value at '{name}', \"{value}\"", "invalid")
            if spec.get("type") == "integer":
                self._check_int(name, value, spec)
        if request.args.get("alt", "json") != "json":
            raise _ApiError(400, "The stand-in only answers alt=json.", "invalid")

    @staticmethod
    def _check_int(name: str, value: str, spec: dict[str, Any]) -> None:
        try:
            number = int(value)
        except ValueError:
            raise _ApiError(400, f"Invalid value '{value}'. Values must be integers.", "invalid") from None
        low, high = int(spec.get("minimum", number)), int(spec.get("maximum", number))
        if not low <= number <= high:
            raise _ApiError(
                400, f"Invalid value '{value}'. Values must be within the range: [{low}, {high}]", "invalid"
            )

    def _check_admin(self, grant: _Grant, method_id: str) -> None:
        """The acting admin must be a super admin or hold the method's privilege in its admin role."""
        needed = _PRIVILEGE_OF.get(method_id) or _PRIVILEGE_OF[method_id.partition(".")[0]]
        with self.lock:
            actor = self._find(grant.subject) if grant.subject else None
            allowed = actor is not None and (actor.is_admin or needed in actor.admin_privileges)
            if not allowed or actor is None or actor.suspended:
                raise _ApiError(403, "Not Authorized to access this resource/api", "forbidden")

    def _find(self, user_key: str) -> _User | None:
        """A user by id, primary email or alias: Google answers for an alias with the account behind it."""
        if user_key in self.users:
            return self.users[user_key]
        wanted = user_key.lower()
        for user in self.users.values():
            if user.primary_email == wanted or wanted in user.aliases:
                return user
        return None

    def _target(self, user_key: str) -> _User:
        found = self._find(user_key)
        if found is None:
            if "@" in user_key and not user_key.lower().endswith("@" + self.domain):
                raise _ApiError(403, "Not Authorized to access this resource/api", "forbidden")
            raise _ApiError(404, "Resource Not Found: userKey", "notFound")
        return found

    def _get_user(self, request: Request, user_key: str) -> Response:
        with self.lock:
            return json_response(self._target(user_key).resource(self.customer_id))

    def _list_users(self, request: Request) -> Response:
        domain, customer = request.args.get("domain"), request.args.get("customer")
        if not domain and not customer:
            raise _ApiError(400, "Bad Request", "badRequest")
        if customer and customer not in ("my_customer", self.customer_id):
            raise _ApiError(403, "Not Authorized to access this resource/api", "forbidden")
        if domain and domain.lower() != self.domain:
            raise _ApiError(403, "Not Authorized to access this resource/api", "forbidden")
        page_size = int(request.args.get("maxResults", "100"))
        order_by = request.args.get("orderBy", "email")
        descending = request.args.get("sortOrder") == "DESCENDING"
        query_id = hashlib.sha256(
            json.dumps([domain, customer, order_by, descending, request.args.get("showDeleted")]).encode()
        ).hexdigest()[:16]
        offset = self._page_offset(request.args.get("pageToken"), query_id)
        sort_key: Callable[[_User], str] = {
            "email": lambda u: u.primary_email,
            "givenName": lambda u: u.given_name.lower(),
            "familyName": lambda u: u.family_name.lower(),
        }[order_by]
        with self.lock:
            chosen = [] if request.args.get("showDeleted") == "true" else list(self.users.values())
            chosen.sort(key=sort_key, reverse=descending)
            page = [u.resource(self.customer_id) for u in chosen[offset : offset + page_size]]
            has_more = offset + page_size < len(chosen)
        body: dict[str, Any] = {"kind": "admin#directory#users", "etag": f'"{query_id}"'}
        if page:
            body["users"] = page  # Google leaves the key out when there are no users
        if has_more:
            token = json.dumps({"o": offset + page_size, "q": query_id}).encode()
            body["nextPageToken"] = base64.urlsafe_b64encode(token).decode().rstrip("=")
        return json_response(body)

    @staticmethod
    def _page_offset(token: str | None, query_id: str) -> int:
        if not token:
            return 0
        try:
            decoded = json.loads(_b64url_decode(token))
            if decoded["q"] == query_id and isinstance(decoded["o"], int) and decoded["o"] >= 0:
                return int(decoded["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            pass
        raise _ApiError(400, "Invalid Input: pageToken", "invalid")

    def _update_user(self, request: Request, user_key: str) -> Response:
        # Directory users.update also merges: fields left out are kept (documented by Google).
        body = _json_body(request)
        properties: dict[str, Any] = directory_discovery()["schemas"]["User"]["properties"]
        for name in body:
            if name not in properties:
                raise _ApiError(
                    400, f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.', "invalid"
                )
        with self.lock:
            user = self._target(user_key)
            self._apply(user, body, properties)
            return json_response(user.resource(self.customer_id))

    def _apply(self, user: _User, body: dict[str, Any], properties: dict[str, Any]) -> None:
        changes = {k: v for k, v in body.items() if not properties[k].get("readOnly")}
        changes.pop("kind", None)
        changes.pop("etag", None)
        if "primaryEmail" in changes and str(changes["primaryEmail"]).lower() != user.primary_email:
            raise _ApiError(400, "The stand-in does not implement renaming a user.", "invalid")
        changes.pop("primaryEmail", None)
        changes.pop("id", None)
        if "suspended" in changes:
            if not isinstance(changes["suspended"], bool):
                raise _ApiError(
                    400, f"Invalid value at 'resource.suspended' (TYPE_BOOL), {changes['suspended']!r}", "invalid"
                )
            user.suspended = changes.pop("suspended")
        if "name" in changes:
            name = changes.pop("name")
            if not isinstance(name, dict) or not all(isinstance(v, str) for v in name.values()):
                raise _ApiError(400, "Invalid value at 'resource.name'", "invalid")
            user.given_name = name.get("givenName", user.given_name)
            user.family_name = name.get("familyName", user.family_name)
        if "orgUnitPath" in changes:
            org_unit = changes.pop("orgUnitPath")
            if not isinstance(org_unit, str) or not org_unit.startswith("/"):
                raise _ApiError(400, "Invalid Input: orgUnitPath", "invalid")
            user.org_unit_path = org_unit
        user.extra.update(changes)

    def _sign_out(self, request: Request, user_key: str) -> Response:
        with self.lock:
            user = self._target(user_key)
            self.signouts[user.primary_email] += 1
        return Response(status=204)

    def _list_tokens(self, request: Request, user_key: str) -> Response:
        with self.lock:
            return json_response(_list_body("admin#directory#tokenList", self._target(user_key).tokens.values()))

    def _delete_token(self, request: Request, user_key: str, client_id: str) -> Response:
        with self.lock:
            if self._target(user_key).tokens.pop(client_id, None) is None:
                raise _ApiError(404, "Resource Not Found: clientId", "notFound")
        return Response(status=204)

    def _list_asps(self, request: Request, user_key: str) -> Response:
        with self.lock:
            return json_response(_list_body("admin#directory#aspList", self._target(user_key).asps.values()))

    def _delete_asp(self, request: Request, user_key: str, code_id: str) -> Response:
        with self.lock:
            user = self._target(user_key)
            if not code_id.isdigit() or user.asps.pop(int(code_id), None) is None:
                raise _ApiError(404, "Resource Not Found: codeId", "notFound")
        return Response(status=204)

    # --- Data Transfer API ----------------------------------------------------------------------------------
    def _list_applications(self, request: Request) -> Response:
        applications = []
        for app_id, name, params in TRANSFER_APPLICATIONS:
            body: dict[str, Any] = {"kind": "admin#datatransfer#ApplicationResource", "id": app_id, "name": name}
            if params:
                body["transferParams"] = [{"key": key, "value": list(values)} for key, values in params]
            body["etag"] = _etag(body)
            applications.append(body)
        listed = {"kind": "admin#datatransfer#applicationsList", "applications": applications}
        return json_response({**listed, "etag": _etag(listed)})

    def _insert_transfer(self, request: Request) -> Response:
        body = _json_body(request)
        properties = datatransfer_discovery()["schemas"]["DataTransfer"]["properties"]
        unknown = set(body) - set(properties)
        if unknown:
            raise _ApiError(400, f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r}", "invalid")
        known_apps = {app_id: {k for k, _ in params} for app_id, _, params in TRANSFER_APPLICATIONS}
        with self.lock:
            old, new = str(body.get("oldOwnerUserId", "")), str(body.get("newOwnerUserId", ""))
            if old not in self.users or new not in self.users or old == new:
                raise _ApiError(400, "Invalid Input: oldOwnerUserId / newOwnerUserId", "invalid")
            apps = body.get("applicationDataTransfers") or []
            if not apps:
                raise _ApiError(400, "Invalid Input: applicationDataTransfers", "invalid")
            for app in apps:
                params = {str(p.get("key")) for p in app.get("applicationTransferParams", [])}
                if str(app.get("applicationId")) not in known_apps or not params <= known_apps[app["applicationId"]]:
                    raise _ApiError(400, f"Invalid Input: applicationId {app.get('applicationId')}", "invalid")
            transfer_id = f"AKrEtIb{len(self.data_transfers) + 1:05d}"
            resource: dict[str, Any] = {
                "kind": "admin#datatransfer#DataTransfer",
                "id": transfer_id,
                "oldOwnerUserId": old,
                "newOwnerUserId": new,
                "applicationDataTransfers": [
                    {**app, "applicationId": str(app["applicationId"]), "applicationTransferStatus": "pending"}
                    for app in apps
                ],
                "overallTransferStatusCode": "inProgress",
                "requestTime": _rfc3339(datetime.now(UTC)),
            }
            self.data_transfers[transfer_id] = resource
            return json_response({**resource, "etag": _etag(resource)})

    def _get_transfer(self, request: Request, data_transfer_id: str) -> Response:
        with self.lock:
            transfer = self.data_transfers.get(data_transfer_id)
            if transfer is None:
                raise _ApiError(404, "Resource Not Found: dataTransferId", "notFound")
            self._transfer_checks[data_transfer_id] += 1
            if transfer["overallTransferStatusCode"] == "inProgress" and (
                self._transfer_checks[data_transfer_id] >= self.transfer_checks_to_finish
            ):
                final = "failed" if self.transfers_fail else "completed"
                transfer["overallTransferStatusCode"] = final
                for app in transfer["applicationDataTransfers"]:
                    app["applicationTransferStatus"] = final
            return json_response({**transfer, "etag": _etag(transfer)})

    def _list_transfers(self, request: Request) -> Response:
        wanted = {k: request.args[k] for k in ("oldOwnerUserId", "newOwnerUserId") if k in request.args}
        status = request.args.get("status")
        with self.lock:
            found = [
                {**t, "etag": _etag(t)}
                for t in self.data_transfers.values()
                if all(t[k] == v for k, v in wanted.items())
                and (status is None or t["overallTransferStatusCode"] == status)
            ]
        listed: dict[str, Any] = {"kind": "admin#datatransfer#dataTransfersList", "dataTransfers": found}
        return json_response({**listed, "etag": _etag(listed)})

    # --- responses ------------------------------------------------------------------------------------
    def _unauthenticated(self, message: str, reason: str, detail: str) -> Response:
        response = _google_error(
            401,
            message,
            [
                {
                    "message": detail,
                    "domain": "global",
                    "reason": reason,
                    "location": "Authorization",
                    "locationType": "header",
                }
            ],
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        return response


def _json_body(request: Request) -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise _ApiError(400, "Invalid JSON payload received. Expected application/json.", "parseError")
    try:
        body = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        raise _ApiError(400, "Invalid JSON payload received.", "parseError") from None
    if not isinstance(body, dict):
        raise _ApiError(400, "Invalid JSON payload received. Expected an object.", "parseError")
    return body


def _etag(body: dict[str, Any]) -> str:
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    return f'"{digest}"'


def _list_body(kind: str, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A Directory list (tokenList, aspList): Google leaves out `items` when there are none."""
    body: dict[str, Any] = {"kind": kind}
    listed = [dict(item) for item in items]
    if listed:
        body["items"] = listed
    body["etag"] = _etag(body)
    return body


def _google_error(status: int, message: str, errors: list[dict[str, str]]) -> Response:
    body = {
        "error": {"code": status, "message": message, "errors": errors, "status": _STATUS_NAMES.get(status, "UNKNOWN")}
    }
    return json_response(body, status)
