"""Google Workspace (Admin SDK Directory API) provider: the interface the workflows use and its adapter.

The adapter acts as an admin through a service account with domain-wide delegation. Calls are
paced by a token bucket (Google allows 2,400 queries/min per user per project) and wrapped in
`retrying`; SDK errors become the typed errors of `bot.providers.errors`.

Thread safety: googleapiclient's httplib2 transport must not be shared between threads. Measured
against the stand-in (20 ms latency, 8 threads): one shared http without a lock cross-wired
responses (get_user(a) returned user b) and raised IncompleteRead; a lock around every call gave
42 req/s; one http per thread gave 214 req/s with no errors. So the adapter builds the service
once and gives every thread its own authorised http object; the credentials are shared, so one
token serves all threads.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.providers.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
    retrying,
)

if TYPE_CHECKING:
    from google.oauth2.service_account import Credentials

PROVIDER = "google"
DEFAULT_API_URL = "https://admin.googleapis.com/"
# users.get/list/update/patch need admin.directory.user; users.signOut, tokens.* and asps.* need
# admin.directory.user.security.
SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.user.security",
)
# The Data Transfer API has its own token (its own scope), so a Workspace that has not delegated it only loses
# `google_transfer_data`, not the Directory calls.
SCOPE_DATATRANSFER = "https://www.googleapis.com/auth/admin.datatransfer"
_APIS = {"directory": ("directory_v1", SCOPES), "datatransfer": ("datatransfer_v1", (SCOPE_DATATRANSFER,))}
# What an admin delegates to the service account's client id (Admin console > Security > Access and data control >
# API controls > Domain-wide delegation).
DELEGATED_SCOPES = (*SCOPES, SCOPE_DATATRANSFER)
QUERIES_PER_MINUTE = 2400
_RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GoogleUser:
    id: str
    primary_email: str
    full_name: str
    suspended: bool
    last_login: datetime | None  # None: never signed in
    is_admin: bool = False  # a super admin
    aliases: tuple[str, ...] = ()  # lower case
    delegated_admin: bool = False  # holds an admin role other than super admin


@dataclass(frozen=True)
class OAuthToken:
    """An OAuth token a user granted to a third-party app (Directory `tokens`)."""

    client_id: str
    display_text: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppPassword:
    """An application-specific password (Directory `asps`)."""

    code_id: int
    name: str


@dataclass(frozen=True)
class Transfer:
    """A Data Transfer API transfer of an old owner's data (by Google user id) to a new owner."""

    id: str
    old_owner_id: str
    new_owner_id: str
    status: str  # overallTransferStatusCode: new | inProgress | completed | failed
    application_ids: tuple[str, ...] = ()


class GoogleProvider(Protocol):
    subject: str  # the admin the service account acts as (GOOGLE_ADMIN_SUBJECT)

    # users.get takes an alias too and answers with the account behind it: compare primary_email.
    def get_user(self, email: str) -> GoogleUser | None: ...

    def set_suspended(self, email: str, suspended: bool) -> None: ...

    def sign_out(self, email: str) -> None: ...

    def list_users(self, domain: str, page_size: int = 500) -> list[GoogleUser]: ...

    def list_tokens(self, user_key: str) -> list[OAuthToken]: ...

    def delete_token(self, user_key: str, client_id: str) -> None: ...

    def list_app_passwords(self, user_key: str) -> list[AppPassword]: ...

    def delete_app_password(self, user_key: str, code_id: int) -> None: ...

    def transfer_applications(self) -> dict[str, str]: ...

    def start_transfer(
        self, old_owner_id: str, new_owner_id: str, applications: dict[str, list[dict[str, Any]]]
    ) -> Transfer: ...

    def get_transfer(self, transfer_id: str) -> Transfer: ...

    def find_transfers(self, old_owner_id: str, new_owner_id: str) -> list[Transfer]: ...

    def ping(self) -> str: ...

    # --- for `engops check --live` ---
    def client_id(self) -> str: ...

    def scope_refusal(self, scope: str) -> str | None: ...


class TokenBucket:
    """`rate_per_minute` tokens a minute, bursts up to `capacity`; `acquire` blocks until one is free."""

    def __init__(
        self,
        rate_per_minute: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self.rate = rate_per_minute / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, self.rate)  # about one second of burst
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)


class GoogleAdapter:
    """GoogleProvider on google-api-python-client with a delegated service account."""

    def __init__(
        self,
        credentials_file: Path | str,
        subject: str,
        api_url: str = DEFAULT_API_URL,
        *,
        queries_per_minute: float = QUERIES_PER_MINUTE,
        timeout: float = 30.0,
        attempts: int = 6,
        rate_limit_backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._credentials_file = Path(credentials_file)
        self.subject = subject
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._timeout = timeout
        self._attempts = attempts
        self._rate_limit_backoff = rate_limit_backoff
        self._sleep = sleep
        self.bucket = TokenBucket(queries_per_minute, sleep=sleep)
        self._build_lock = threading.RLock()
        self._services: dict[str, Any] = {}  # by API: directory, datatransfer
        self._credentials: dict[str, Credentials] = {}
        self._local = threading.local()

    # --- GoogleProvider -------------------------------------------------------------------------------
    def get_user(self, email: str) -> GoogleUser | None:
        try:
            data = self._execute(lambda users: users.get(userKey=email))
        except NotFoundError:
            return None
        return _to_user(data)

    def set_suspended(self, email: str, suspended: bool) -> None:
        self._execute(lambda users: users.patch(userKey=email, body={"suspended": suspended}))

    def sign_out(self, email: str) -> None:
        self._execute(lambda users: users.signOut(userKey=email))

    def list_users(self, domain: str, page_size: int = 500) -> list[GoogleUser]:
        found: list[GoogleUser] = []
        page_token: str | None = None
        while True:
            token = page_token

            def page(users: Any, token: str | None = token) -> Any:
                params: dict[str, Any] = {"domain": domain, "maxResults": page_size}
                if token:
                    params["pageToken"] = token
                return users.list(**params)

            data = self._execute(page)
            found.extend(_to_user(item) for item in data.get("users", []))
            page_token = data.get("nextPageToken")
            if not page_token:
                return found

    def list_tokens(self, user_key: str) -> list[OAuthToken]:
        data = self._execute(lambda tokens: tokens.list(userKey=user_key), resource="tokens")
        return [
            OAuthToken(str(t["clientId"]), str(t.get("displayText", "")), tuple(str(s) for s in t.get("scopes", [])))
            for t in data.get("items", [])
        ]

    def delete_token(self, user_key: str, client_id: str) -> None:
        self._execute(lambda tokens: tokens.delete(userKey=user_key, clientId=client_id), resource="tokens")

    def list_app_passwords(self, user_key: str) -> list[AppPassword]:
        data = self._execute(lambda asps: asps.list(userKey=user_key), resource="asps")
        return [AppPassword(int(a["codeId"]), str(a.get("name", ""))) for a in data.get("items", [])]

    def delete_app_password(self, user_key: str, code_id: int) -> None:
        self._execute(lambda asps: asps.delete(userKey=user_key, codeId=code_id), resource="asps")

    # --- Data Transfer API (user ids, not emails) ---------------------------------------------------------------
    def transfer_applications(self) -> dict[str, str]:
        """Application name -> id (e.g. "Drive and Docs", "Calendar"), from applications.list."""
        found: dict[str, str] = {}
        page_token: str | None = None
        while True:
            token = page_token

            def page(applications: Any, token: str | None = token) -> Any:
                return applications.list(**({"pageToken": token} if token else {}))

            data = self._execute(page, resource="applications", api="datatransfer")
            found.update({str(a["name"]): str(a["id"]) for a in data.get("applications", [])})
            page_token = data.get("nextPageToken")
            if not page_token:
                return found

    def start_transfer(
        self, old_owner_id: str, new_owner_id: str, applications: dict[str, list[dict[str, Any]]]
    ) -> Transfer:
        """transfers.insert: `applications` maps an application id to its transfer params ([{key, value}])."""
        body = {
            "oldOwnerUserId": old_owner_id,
            "newOwnerUserId": new_owner_id,
            "applicationDataTransfers": [
                {"applicationId": app_id, **({"applicationTransferParams": params} if params else {})}
                for app_id, params in applications.items()
            ],
        }
        data = self._execute(lambda transfers: transfers.insert(body=body), resource="transfers", api="datatransfer")
        return _to_transfer(data)

    def get_transfer(self, transfer_id: str) -> Transfer:
        data = self._execute(
            lambda transfers: transfers.get(dataTransferId=transfer_id), resource="transfers", api="datatransfer"
        )
        return _to_transfer(data)

    def find_transfers(self, old_owner_id: str, new_owner_id: str) -> list[Transfer]:
        data = self._execute(
            lambda transfers: transfers.list(oldOwnerUserId=old_owner_id, newOwnerUserId=new_owner_id),
            resource="transfers",
            api="datatransfer",
        )
        return [_to_transfer(item) for item in data.get("dataTransfers", [])]

    def ping(self) -> str:
        admin = self.get_user(self.subject)
        if admin is None:
            raise AuthError(PROVIDER, "the admin subject is not a user of this Workspace")
        return f"acting as {admin.primary_email}"

    def client_id(self) -> str:
        """The service account's OAuth client id, the one domain-wide delegation is granted to ("" if unreadable)."""
        try:
            return str(json.loads(self._credentials_file.read_text(encoding="utf-8")).get("client_id", ""))
        except (OSError, ValueError, AttributeError):
            return ""

    def scope_refusal(self, scope: str) -> str | None:
        """Google's answer when the service account asks for a token for `scope` alone, acting as the subject:
        None when it gets one, else the OAuth error (`unauthorized_client: ...` when the scope is not delegated to
        the client id; Google names no scope, hence one request a scope)."""
        import google_auth_httplib2
        import httplib2
        from google.auth.exceptions import RefreshError
        from google.auth.exceptions import TransportError as AuthTransportError

        credentials = self._load_credentials((scope,))
        try:
            credentials.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=self._timeout)))  # type: ignore[no-untyped-call]
        except RefreshError as exc:
            return str(exc.args[0]) if exc.args else "token refresh refused"
        except (AuthTransportError, OSError) as exc:
            raise TransientError(PROVIDER, f"token endpoint unreachable: {type(exc).__name__}") from None
        return None

    # --- plumbing -------------------------------------------------------------------------------------------
    def _execute(self, make_request: Callable[[Any], Any], resource: str = "users", api: str = "directory") -> Any:
        """Build the request from a resource of the API (Directory `users()`, `tokens()`, `asps()`; Data Transfer
        `applications()`, `transfers()`), run it on this thread's http, map errors, retry."""
        from google.auth.exceptions import RefreshError
        from google.auth.exceptions import TransportError as AuthTransportError
        from googleapiclient.errors import HttpError
        from httplib2 import HttpLib2Error

        rate_limited = 0

        def once() -> Any:
            nonlocal rate_limited
            collection = getattr(self._service_of(api), resource)()
            transport = self._http(api)
            self.bucket.acquire()
            try:
                return make_request(collection).execute(http=transport)
            except HttpError as exc:
                error = _map_http_error(exc, self._backoff(rate_limited))
            except RefreshError as exc:
                error = _map_refresh_error(exc)
            except (AuthTransportError, HttpLib2Error, http.client.HTTPException, OSError) as exc:
                error = TransientError(PROVIDER, f"connection failed: {type(exc).__name__}")
            if isinstance(error, RateLimitedError):
                rate_limited += 1
            raise error

        return retrying(once, attempts=self._attempts, sleep=self._sleep)

    def _backoff(self, rate_limited_so_far: int) -> float:
        # Google sends no Retry-After with its quota errors and asks for exponential backoff with jitter.
        return min(64.0, self._rate_limit_backoff * 2.0**rate_limited_so_far) * (1 + random.random() / 4)

    def _service_of(self, api: str) -> Any:
        if api not in self._services:
            with self._build_lock:
                if api not in self._services:
                    from googleapiclient.discovery import build

                    self._services[api] = build(
                        "admin",
                        _APIS[api][0],
                        static_discovery=True,
                        cache_discovery=False,
                        client_options={"api_endpoint": self.api_url},
                        http=self._new_http(api),
                    )
        return self._services[api]

    def _http(self, api: str = "directory") -> Any:
        http = getattr(self._local, api, None)
        if http is None:
            http = self._new_http(api)
            setattr(self._local, api, http)
        return http

    def _new_http(self, api: str) -> Any:
        import google_auth_httplib2
        import httplib2

        return google_auth_httplib2.AuthorizedHttp(
            self._shared_credentials(api), http=httplib2.Http(timeout=self._timeout)
        )

    def _shared_credentials(self, api: str) -> Credentials:
        if api not in self._credentials:
            with self._build_lock:
                if api not in self._credentials:
                    self._credentials[api] = self._load_credentials(_APIS[api][1])
        return self._credentials[api]

    def _load_credentials(self, scopes: tuple[str, ...]) -> Credentials:
        from google.oauth2 import service_account

        try:
            base = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(self._credentials_file), scopes=scopes
            )
        except (OSError, ValueError, KeyError) as exc:
            # The message names the file and the problem, never the key material.
            raise AuthError(
                PROVIDER, f"cannot load service-account key {self._credentials_file}: {type(exc).__name__}"
            ) from None
        credentials: Credentials = base.with_subject(self.subject)
        return credentials


def _to_user(data: dict[str, Any]) -> GoogleUser:
    return GoogleUser(
        id=str(data["id"]),
        primary_email=str(data["primaryEmail"]),
        full_name=str(data.get("name", {}).get("fullName", "")),
        suspended=bool(data.get("suspended", False)),
        last_login=_parse_login(data.get("lastLoginTime")),
        is_admin=bool(data.get("isAdmin", False)),
        aliases=tuple(str(a).lower() for a in data.get("aliases", [])),
        delegated_admin=bool(data.get("isDelegatedAdmin", False)),
    )


def _to_transfer(data: dict[str, Any]) -> Transfer:
    return Transfer(
        id=str(data["id"]),
        old_owner_id=str(data.get("oldOwnerUserId", "")),
        new_owner_id=str(data.get("newOwnerUserId", "")),
        status=str(data.get("overallTransferStatusCode", "")),
        application_ids=tuple(str(a.get("applicationId", "")) for a in data.get("applicationDataTransfers", [])),
    )


def _parse_login(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None if moment <= _EPOCH else moment


def _error_reason(content: bytes) -> tuple[str, str]:
    """(reason, message) from Google's error body, empty when the body is not Google's shape."""
    try:
        error = json.loads(content.decode("utf-8"))["error"]
        first = (error.get("errors") or [{}])[0]
        return str(first.get("reason", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", ""


def _map_http_error(exc: Any, rate_limit_wait: float) -> ProviderError:
    status = int(exc.resp.status)
    reason, message = _error_reason(exc.content)
    detail = f"{reason}: {message}" if reason else (message or "request failed")
    if status == 429 or (status == 403 and reason in _RATE_LIMIT_REASONS):
        retry_after = exc.resp.get("retry-after")
        wait = float(retry_after) if retry_after and retry_after.isdigit() else rate_limit_wait
        return RateLimitedError(PROVIDER, wait, detail)
    if status == 404:
        return NotFoundError(PROVIDER, detail, status)
    if status in (401, 403):
        return AuthError(PROVIDER, detail, status)
    if status >= 500:
        return TransientError(PROVIDER, detail, status)
    return ProviderError(PROVIDER, detail, status)


def _map_refresh_error(exc: Any) -> ProviderError:
    # e.g. "invalid_grant: Invalid email or User ID"; the signed assertion is never part of it.
    text = str(exc.args[0]) if exc.args else "token refresh failed"
    if exc.retryable:
        return TransientError(PROVIDER, f"token refresh failed: {text}")
    return AuthError(PROVIDER, f"token refresh refused: {text}")
