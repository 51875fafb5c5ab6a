"""Okta: the small directory interface the workflows use, and its adapter on the official SDK.

The `okta` SDK (3.4.6) is async-only and returns `(data, resp, err)` tuples (two-tuples on
errors of operations that return no body). `OktaSdkDirectory` gives workflows a synchronous
interface: the SDK's coroutines run on one event-loop thread owned by the adapter, with bounded
concurrency and pacing on Okta's `X-Rate-Limit-*` headers, and every failure becomes one of the
typed errors in `bot.providers.errors`, retried by `retrying`.

Measured SDK 3.4.6 defects worked around here (see DESIGN.md):
- with an API token the generated layer sends `Authorization: SSWS<token>` (no space), which
  Okta rejects; the request executor builds the correct header, so the generated one is removed;
- a refused connection, or a 429 without `X-Rate-Limit-Reset`, ends in `AttributeError` on
  `None.status`; transport errors are raised from the HTTP client instead, and the SDK's own
  429 retry (the source of the second case) is switched off in favour of `retrying`;
- a 204 (or 200) with a JSON content type and an empty body raises `JSONDecodeError`;
- an error response with an empty body is returned as success; statuses are checked here;
- `ApiResponse.headers` is a plain dict, so of the two `Link` headers Okta sends (`self` and `next`)
  only the last survives; the raw response headers are kept per call (`_RESPONSE_HEADERS`) and
  every `Link` value is read;
- with DPoP, the proof's `htu` carries the percent-encoded path (`/users/alice%40example.com`)
  while Okta compares it with the decoded one: 400 `invalid_dpop_proof` for every login in a path
  (okta-sdk-python issue #541); proofs are made for the decoded path here.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from bot.providers.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
    retrying,
)

PROVIDER = "okta"
T = TypeVar("T")

# The OAuth scopes the adapter's operations need (Okta's spec, `security` of each operation); a
# `.manage` scope also allows its `.read` operations.
REQUIRED_SCOPES: dict[str, str] = {
    "okta.users.read": "look people up",
    "okta.users.manage": "suspend, unsuspend and deactivate people and end their sessions",
    "okta.groups.read": "find groups and list their members",
    "okta.groups.manage": "add and remove group members",
    "okta.roles.read": "see who is an Okta admin (protected from offboarding)",
}


@dataclass(frozen=True)
class OktaUser:
    id: str
    login: str
    email: str
    status: str  # ACTIVE, SUSPENDED, DEPROVISIONED, ...
    first_name: str
    last_name: str
    profile: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class OktaGroup:
    id: str
    name: str
    description: str


class OktaDirectory(Protocol):
    """What the workflows need from Okta. Writes are idempotent."""

    def get_user(self, id_or_login: str) -> OktaUser | None: ...
    def get_user_by_login(self, id_or_login: str) -> OktaUser | None: ...
    def find_users_by_email(self, email: str) -> list[OktaUser]: ...
    def admin_roles(self, user_id: str) -> list[str]: ...
    def api_user(self) -> OktaUser | None: ...
    def service_app_roles(self) -> list[str] | None: ...
    def missing_scopes(self) -> list[str]: ...
    def list_user_groups(self, user_id: str) -> list[OktaGroup]: ...
    def search_groups(self, query: str, limit: int = 20) -> list[OktaGroup]: ...
    def get_group_by_name(self, name: str) -> OktaGroup | None: ...
    def list_group_members(self, group_id: str) -> list[OktaUser]: ...
    def add_member(self, group_id: str, user_id: str) -> None: ...
    def remove_member(self, group_id: str, user_id: str) -> None: ...
    def suspend(self, user_id: str) -> None: ...
    def unsuspend(self, user_id: str) -> None: ...
    def deactivate(self, user_id: str) -> None: ...
    def clear_sessions(self, user_id: str) -> None: ...
    def ping(self) -> str: ...


class OktaTransportError(Exception):
    """The request never got an HTTP response (refused, reset, timed out)."""


# --- the SDK adapter ----------------------------------------------------------------------


class OktaSdkDirectory:
    """`OktaDirectory` on the official `okta` SDK, with a synchronous façade.

    Nothing is imported, no thread is started and no connection is made until the first call.
    """

    def __init__(
        self,
        org_url: str,
        *,
        api_token: str | None = None,
        client_id: str | None = None,
        private_key: str | None = None,
        scopes: Sequence[str] = (),
        key_id: str | None = None,
        dpop: bool = False,
        max_concurrency: int = 10,
        page_size: int = 200,
        request_timeout: float = 30.0,
        retry_attempts: int = 6,
        retry_base_delay: float = 0.2,
    ) -> None:
        if not api_token and not (client_id and private_key and scopes):
            raise ValueError("Okta needs an API token, or client_id + private_key + scopes for OAuth")
        self.org_url = org_url.rstrip("/")
        self._auth: dict[str, Any] = (
            {"authorizationMode": "SSWS", "token": api_token}
            if api_token
            else {
                "authorizationMode": "PrivateKey",
                "clientId": client_id,
                "privateKey": private_key,
                "scopes": list(scopes),
                **({"kid": key_id} if key_id else {}),
                "dpopEnabled": bool(dpop),  # the SDK reads a string "false" from its env as true
            }
        )
        self._max_concurrency = max_concurrency
        self._page_size = page_size
        self._request_timeout = request_timeout
        self._retry_attempts = retry_attempts
        self._retry_base_delay = retry_base_delay
        self._loop_thread: _LoopThread | None = None
        self._sdk: _SdkSession | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"OktaSdkDirectory({self.org_url!r}, auth={self._auth['authorizationMode']})"

    # --- OktaDirectory ---------------------------------------------------------------
    def get_user(self, id_or_login: str) -> OktaUser | None:
        """By id or login, else (an address whose login differs) the one user whose `profile.email` it is.

        `GET /users/{login}` matches a login only; two users with that email are refused, not guessed."""
        found = self.get_user_by_login(id_or_login)
        if found is not None or "@" not in id_or_login:
            return found
        by_email = self.find_users_by_email(id_or_login)
        if len(by_email) > 1:
            logins = " and ".join(sorted(u.login for u in by_email))
            raise ProviderError(PROVIDER, f"{id_or_login} is the email of more than one Okta user ({logins})")
        return by_email[0] if by_email else None

    def get_user_by_login(self, id_or_login: str) -> OktaUser | None:
        """`GET /users/{id}`: an id, a login or a login's short name; never an email that is not a login."""
        try:
            user, _ = self._call("get_user", id_or_login)
        except NotFoundError:
            return None
        return _user(user)

    def find_users_by_email(self, email: str) -> list[OktaUser]:
        """Users whose `profile.email` is `email` (any status); a login may differ from the email."""
        users, _ = self._call("list_users", search=f'profile.email eq "{_quoted(email)}"', limit=10)
        return [_user(u) for u in users or []]

    def admin_roles(self, user_id: str) -> list[str]:
        """The types of the admin roles assigned to the user (SUPER_ADMIN, ORG_ADMIN, ...)."""
        roles, _ = self._call("list_assigned_roles_for_user", user_id)
        return [_role_type(r) for r in roles or []]

    def api_user(self) -> OktaUser | None:
        """The user an API token belongs to (`/users/me`); None for an OAuth service app, which has none."""
        if self._auth["authorizationMode"] != "SSWS":
            return None
        return self.get_user_by_login("me")

    def service_app_roles(self) -> list[str] | None:
        """The admin roles assigned to the OAuth service app; None with an API token (its user's roles count)."""
        if self._auth["authorizationMode"] == "SSWS":
            return None
        # SDK 3.4.6 cannot read this list: every standard role matches both of its oneOf models
        # ("Multiple matches found ... CustomRole, StandardRole"), so the JSON is read as it is.
        path = f"/oauth2/v1/clients/{quote(self._auth['clientId'], safe='')}/roles"
        loop_thread, sdk = self._started()
        roles, _ = retrying(
            lambda: loop_thread.run(sdk.get_json("list_roles_for_client", path)),
            attempts=self._retry_attempts,
            base_delay=self._retry_base_delay,
        )
        return [str(r.get("type", "")) for r in roles or []]

    def missing_scopes(self) -> list[str]:
        """`REQUIRED_SCOPES` the OAuth token lacks ([] with an API token, which has no scopes).

        Okta refuses a whole token request if one scope is not granted to the app (`invalid_scope`), so
        then each configured scope is asked for alone, to name the ones missing."""
        if self._auth["authorizationMode"] == "SSWS":
            return []
        loop_thread, sdk = self._started()
        configured: list[str] = self._auth["scopes"]
        try:
            loop_thread.run(sdk.token_for(configured))
            granted = set(configured)
        except AuthError as exc:
            if "invalid_scope" not in exc.message:
                raise
            granted = set()
            for scope in configured:
                try:
                    loop_thread.run(sdk.token_for([scope]))
                    granted.add(scope)
                except AuthError as refused:
                    if "invalid_scope" not in refused.message:
                        raise
        missing = [s for s in REQUIRED_SCOPES if s not in granted and _manage(s) not in granted]
        # a missing `.manage` scope brings its `.read` operations too: one line, not two
        return [s for s in missing if _manage(s) == s or _manage(s) not in missing]

    def list_user_groups(self, user_id: str) -> list[OktaGroup]:
        groups, _ = self._call("list_user_groups", user_id)
        return [_group(g) for g in groups or []]

    def search_groups(self, query: str, limit: int = 20) -> list[OktaGroup]:
        # `q` is Okta's type-ahead search (name prefix); it is never paged.
        groups, _ = self._call("list_groups", q=query, limit=limit)
        return [_group(g) for g in groups or []]

    def get_group_by_name(self, name: str) -> OktaGroup | None:
        groups, _ = self._call("list_groups", search=f'profile.name eq "{_quoted(name)}"', limit=10)
        found = [g for g in map(_group, groups or []) if g.name == name]
        return found[0] if found else None

    def list_group_members(self, group_id: str) -> list[OktaUser]:
        members: list[OktaUser] = []
        after: str | None = None
        seen: set[str] = set()
        while True:
            page, headers = self._call("list_group_users", group_id, after=after, limit=self._page_size)
            members.extend(_user(u) for u in page or [])
            after = _next_cursor(headers)
            if after is None:
                return members
            if after in seen:  # a server bug; a partial member list must not pass for the whole
                raise ProviderError(PROVIDER, f"list_group_users: pagination cursor {after!r} repeated")
            seen.add(after)

    def add_member(self, group_id: str, user_id: str) -> None:
        self._call("assign_user_to_group", group_id, user_id)  # Okta: already a member is a 204 too

    def remove_member(self, group_id: str, user_id: str) -> None:
        self._call("unassign_user_from_group", group_id, user_id)  # not a member: 204 too

    def suspend(self, user_id: str) -> None:
        self._transition("suspend_user", user_id, "SUSPENDED")

    def unsuspend(self, user_id: str) -> None:
        self._transition("unsuspend_user", user_id, "ACTIVE")

    def deactivate(self, user_id: str) -> None:
        self._transition("deactivate_user", user_id, "DEPROVISIONED")

    def clear_sessions(self, user_id: str) -> None:
        # Offboarding: the OAuth tokens Okta issued to the user go with the sessions.
        self._call("revoke_user_sessions", user_id, oauth_tokens=True)

    def ping(self) -> str:
        users, _ = self._call("list_users", limit=1)
        return f"{self.org_url}: ok, credentials accepted ({len(users or [])} user(s) on the first page)"

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            loop_thread, sdk = self._loop_thread, self._sdk
            self._loop_thread = self._sdk = None
        if loop_thread is None:
            return
        loop_thread.run(_cancel_other_tasks())  # callers still waiting get CancelledError, not a hang
        if sdk is not None:
            loop_thread.run(sdk.aclose())
        loop_thread.stop()

    # --- plumbing --------------------------------------------------------------------
    def _transition(self, method: str, user_id: str, target: str) -> None:
        """Okta refuses (400) a transition from the wrong state; already there counts as done."""
        try:
            self._call(method, user_id)
        except ProviderError as exc:
            if exc.status != 400:
                raise
            user = self.get_user(user_id)
            if user is None or user.status != target:
                raise

    def _call(self, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Mapping[str, str]]:
        loop_thread, sdk = self._started()
        return retrying(
            lambda: loop_thread.run(sdk.call(method, *args, **kwargs)),
            attempts=self._retry_attempts,
            base_delay=self._retry_base_delay,
        )

    def _started(self) -> tuple[_LoopThread, _SdkSession]:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("OktaSdkDirectory is closed")
            if self._loop_thread is None or self._sdk is None:
                loop_thread = _LoopThread()
                config = {
                    "orgUrl": self.org_url,
                    **self._auth,
                    "requestTimeout": self._request_timeout,
                    "rateLimit": {"maxRetries": 0},  # `retrying` owns retries
                }
                try:
                    self._sdk = loop_thread.run(_SdkSession.open(config, self._max_concurrency))
                except BaseException:
                    loop_thread.stop()
                    raise
                self._loop_thread = loop_thread
            return self._loop_thread, self._sdk


class _LoopThread:
    """One event loop on a daemon thread; `run` submits a coroutine and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="okta-sdk-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("the Okta adapter's sync methods cannot be called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


async def _cancel_other_tasks() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _SdkSession:
    """Lives on the adapter's loop: the SDK client, its HTTP session, the semaphore and pacing."""

    def __init__(self, client: Any, session: Any, max_concurrency: int) -> None:
        self._client = client
        self._session = session
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._paused_until = 0.0  # monotonic; set when Okta says no calls are left in the window
        self._budget = RateBudget()

    @classmethod
    async def open(cls, config: dict[str, Any], max_concurrency: int) -> _SdkSession:
        import aiohttp  # the SDK's own HTTP library

        # Not `okta.client.Client`: importing it loads ~1,000 SDK models (+78 MB resident); the slim
        # client has only the API classes used here. Still 0.7 s to import: only ever on first use.
        from bot.providers.okta_sdk_client import SlimOktaClient

        with _https_check_disabled(config["orgUrl"].startswith("http://")):
            client = SlimOktaClient({**config, "httpClient": _http_client_class()})
        # Defect 1: drop the generated `SSWS<token>` header; the executor's `SSWS <token>` stays.
        client.configuration.access_token = None
        executor = client.get_request_executor()
        oauth = executor._oauth  # the SDK's own OAuth (None with an API token)
        if oauth is not None and oauth.get_dpop_generator() is not None:
            # The SDK exposes no hook for the proof generator; `OAuth` and the executor both read it from here.
            oauth._dpop_generator = _DecodedPathProofs(oauth.get_dpop_generator())
        session = aiohttp.ClientSession()
        executor.set_session(session)
        return cls(client, session, max_concurrency)

    async def token_for(self, scopes: list[str]) -> None:
        """Ask Okta for a token with these scopes as the SDK does (assertion, kid, DPoP); AuthError if refused."""
        from okta.oauth import OAuth

        executor = self._client.get_request_executor()
        client = executor._config["client"]
        # DPoP off while building: the SDK would make a new 3,072-bit key; this session's generator is shared.
        oauth = OAuth(executor, {**executor._config, "client": {**client, "scopes": scopes, "dpopEnabled": False}})
        if executor._oauth.get_dpop_generator() is not None:
            oauth._dpop_enabled = True
            oauth._dpop_generator = executor._oauth.get_dpop_generator()
        _, _, err = await oauth.get_oauth_token()
        if err is not None:
            raise _token_error("token", err)

    async def aclose(self) -> None:
        await self._session.close()

    async def call(self, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Mapping[str, str]]:
        return await self._send(method, lambda: getattr(self._client, method)(*args, **kwargs))

    async def get_json(self, name: str, path: str) -> tuple[Any, Mapping[str, str]]:
        """GET `path` through the SDK's request executor (its auth, DPoP, headers) without its models."""

        async def get() -> tuple[Any, Any, Any]:
            executor = self._client.get_request_executor()
            request, err = await executor.create_request("GET", self._client._base_url + path)
            if err is not None:
                return None, None, err
            response, body, err = await executor.execute(request)
            return (json.loads(body) if body and err is None else None), response, err

        return await self._send(name, get)

    async def _send(self, method: str, operation: Callable[[], Awaitable[Any]]) -> tuple[Any, Mapping[str, str]]:
        async with self._semaphore:
            await self._wait_for_window()
            while (delay := self._budget.delay(method, time.monotonic())) > 0:
                await asyncio.sleep(delay)
            sent = self._budget.sent(method, time.monotonic())
            raw_headers = _RESPONSE_HEADERS.set(None)
            try:
                result = await operation()
            except OktaTransportError as exc:
                self._budget.abandoned(sent)
                raise TransientError(PROVIDER, f"{method}: cannot reach Okta ({exc})") from None
            except BaseException:
                self._budget.abandoned(sent)
                raise
            finally:
                answered = _RESPONSE_HEADERS.get()
                _RESPONSE_HEADERS.reset(raw_headers)
        data, resp, err = result if len(result) == 3 else (None, *result)
        if resp is None:  # the call was never sent: getting the OAuth access token failed
            self._budget.abandoned(sent)
            raise _token_error(method, err)
        headers = _headers_of(resp) if answered is None else answered
        status = _status_of(resp)
        self._budget.answered(method, sent, headers, time.monotonic())
        self._note_rate_limit(headers)
        if err is not None or status >= 400:
            raise _typed_error(method, status, headers, err)
        return data, headers

    async def _wait_for_window(self) -> None:
        while (delay := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def _note_rate_limit(self, headers: Mapping[str, str]) -> None:
        if headers.get("X-Rate-Limit-Remaining") == "0":
            wait = _seconds_until_reset(headers)
            if wait is not None:
                self._paused_until = max(self._paused_until, time.monotonic() + wait)


@dataclass
class _Window:
    ends: float  # monotonic time of the window's reset
    remaining: int  # the lowest X-Rate-Limit-Remaining answered so far


class RateBudget:
    """Okta's budget per rate-limit window (`X-Rate-Limit-Limit` / `-Remaining` / `-Reset`), counting the
    calls already on their way.

    Okta counts a call when it arrives, so the lowest Remaining answered so far may not include the
    calls still unanswered. A call may go while Remaining minus those is positive, else it waits for
    the reset; at worst a few calls wait that had room. (Waiting only once Remaining reached 0 let the
    calls in flight run into a 429 at the end of every window.) Answers with the same limit and reset
    are one window (Okta's buckets are per endpoint); a method belongs to the bucket its last answer
    named. A call sent while its bucket's window is unknown may land in any window: all count it."""

    def __init__(self) -> None:
        self._count = 0
        self._windows: dict[tuple[str, str], _Window] = {}
        self._limit_of: dict[str, str] = {}  # method -> X-Rate-Limit-Limit of its bucket
        self._in_flight: dict[int, tuple[str, str] | None] = {}  # call number -> its window when sent

    def delay(self, method: str, now: float) -> float:
        """Seconds the next call of `method` must wait (0: it may go now)."""
        key = self._key(method, now)
        if key is None:
            return 0.0
        window = self._windows[key]
        on_the_way = sum(1 for k in self._in_flight.values() if k in (key, None))
        return 0.0 if window.remaining - on_the_way > 0 else window.ends - now

    def sent(self, method: str, now: float) -> int:
        self._count += 1
        self._in_flight[self._count] = self._key(method, now)
        return self._count

    def answered(self, method: str, number: int, headers: Mapping[str, str], now: float) -> None:
        self._in_flight.pop(number, None)
        limit, remaining, reset = (headers.get(f"X-Rate-Limit-{h}") for h in ("Limit", "Remaining", "Reset"))
        wait = _seconds_until_reset(headers)
        if limit is None or reset is None or wait is None or remaining is None or not remaining.isdigit():
            return
        key = (limit, reset)
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now + wait, int(remaining))
        else:  # answers can overtake each other: the lowest Remaining is the latest count
            window.remaining = min(window.remaining, int(remaining))
        self._limit_of[method] = limit
        for old in [k for k, w in self._windows.items() if w.ends < now - 1]:
            del self._windows[old]

    def abandoned(self, number: int) -> None:
        """The call got no answer (never sent, or the connection failed)."""
        self._in_flight.pop(number, None)

    def _key(self, method: str, now: float) -> tuple[str, str] | None:
        """The method's current window: the one with its bucket's limit that has not reset yet (another
        method of the bucket may have seen it first); the tighter one if two buckets share a limit."""
        limit = self._limit_of.get(method)
        current = [(w.remaining, k) for k, w in self._windows.items() if k[0] == limit and w.ends > now]
        return min(current)[1] if current else None


# The headers of the last HTTP answer within one `_SdkSession.call` (each call is its own task), all
# values of a repeated header kept: the SDK's `ApiResponse.headers` keeps one value per name.
_RESPONSE_HEADERS: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "okta_response_headers", default=None
)


class _DecodedPathProofs:
    """The SDK's DPoP proof generator, making proofs for the decoded request path (Okta compares `htu`
    with it; the SDK passes the percent-encoded URL). Everything else is the SDK generator's own."""

    def __init__(self, generator: Any) -> None:
        self._generator = generator

    def generate_proof_jwt(
        self, http_method: str, http_url: str, access_token: str | None = None, nonce: str | None = None
    ) -> str:
        parts = urlsplit(http_url)
        decoded = urlunsplit((parts.scheme, parts.netloc, unquote(parts.path), parts.query, ""))
        proof: str = self._generator.generate_proof_jwt(http_method, decoded, access_token=access_token, nonce=nonce)
        return proof

    def __getattr__(self, name: str) -> Any:
        return getattr(self._generator, name)


def _http_client_class() -> type:
    """The SDK's HTTPClient with defects 2 and 3 fixed (the SDK's documented extension point)."""
    from multidict import CIMultiDict
    from okta.errors.http_error import HTTPError
    from okta.http_client import HTTPClient

    class _FixedHTTPClient(HTTPClient):
        async def send_request(self, request: Any) -> Any:
            request_info, response, body, error = await super().send_request(request)  # type: ignore[no-untyped-call]
            if response is None and error is not None:
                raise OktaTransportError(type(error).__name__)
            _RESPONSE_HEADERS.set(CIMultiDict(response.headers))  # the last answer of this call (after any retry)
            return request_info, response, body, error

        @staticmethod
        def check_response_for_error(url: str, response_details: Any, response_body: str) -> Any:
            if not response_body:
                if 200 <= response_details.status <= 299:
                    return None, None
                return None, HTTPError(url, response_details, "")  # type: ignore[no-untyped-call]
            return HTTPClient.check_response_for_error(url, response_details, response_body)  # type: ignore[no-untyped-call]

    return _FixedHTTPClient


_ENV_LOCK = threading.Lock()
_HTTPS_CHECK_ENV = "OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"


@contextmanager
def _https_check_disabled(needed: bool) -> Iterator[None]:
    """The SDK refuses http:// org URLs unless this env var is set: the `Client` constructor
    only merges our dict into its `client` section, so `testing.testingDisableHttpsCheck`
    cannot be passed in. Set it only while the client is built."""
    if not needed:
        yield
        return
    with _ENV_LOCK:
        previous = os.environ.get(_HTTPS_CHECK_ENV)
        os.environ[_HTTPS_CHECK_ENV] = "true"
        try:
            yield
        finally:
            if previous is None:
                del os.environ[_HTTPS_CHECK_ENV]
            else:
                os.environ[_HTTPS_CHECK_ENV] = previous


# --- mapping SDK results ----------------------------------------------------------------------


def _headers_of(resp: Any) -> Mapping[str, str]:
    """Case-insensitive headers of an `ApiResponse` (dict) or an aiohttp response."""
    from multidict import CIMultiDict

    raw = getattr(resp, "headers", None) or getattr(resp, "response_headers", None) or {}
    return CIMultiDict(raw)


def _status_of(resp: Any) -> int:
    status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
    return int(status) if status else 0


def _seconds_until_reset(headers: Mapping[str, str]) -> float | None:
    """`X-Rate-Limit-Reset` is epoch seconds on Okta's clock. Our clock is used while it agrees
    with the response's `Date` (1 s resolution); when skewed, Okta's `Date` is, so that a wrong
    local clock can never make us call again before the reset."""
    reset = headers.get("X-Rate-Limit-Reset")
    if not reset:
        return None
    try:
        now = time.time()
        if "Date" in headers:
            server_now = parsedate_to_datetime(headers["Date"]).timestamp()
            if not server_now <= now < server_now + 1:
                now = server_now
        return max(0.0, float(reset) - now)
    except (ValueError, TypeError):
        return None


def _describe(method: str, status: int, err: object) -> str:
    code = getattr(err, "error_code", None)
    summary = getattr(err, "error_summary", None) or (f"HTTP {status}" if status else str(err))
    causes = [c.get("errorSummary", "") for c in getattr(err, "error_causes", None) or [] if isinstance(c, dict)]
    return f"{method}: {code + ' ' if code else ''}{summary}" + "".join(f"; {c}" for c in causes if c)


def _token_error(method: str, err: object) -> ProviderError:
    status = _status_of(err)
    if status == 429 or status >= 500 or not status:
        return _typed_error(method, status, _headers_of(err), err)
    return AuthError(PROVIDER, "OAuth access token refused: " + _describe(method, status, err), status)


def _typed_error(method: str, status: int, headers: Mapping[str, str], err: object) -> ProviderError:
    message = _describe(method, status, err)
    if status == 404:
        return NotFoundError(PROVIDER, message, status)
    if status in (401, 403):
        return AuthError(PROVIDER, message, status)
    if status == 429:
        wait = _seconds_until_reset(headers)
        return RateLimitedError(PROVIDER, 1.0 if wait is None else wait, message)
    if status >= 500 or status in (0, 408):
        return TransientError(PROVIDER, message, status or None)
    return ProviderError(PROVIDER, message, status)


def _manage(scope: str) -> str:
    """The `.manage` scope that also allows a `.read` scope's operations (itself for any other scope)."""
    return scope.removesuffix(".read") + ".manage" if scope.endswith(".read") else scope


def _next_cursor(headers: Mapping[str, str]) -> str | None:
    """The `after` cursor of the `rel="next"` link, in whichever `Link` header (Okta sends `self` and
    `next` as two headers, in no fixed order) or comma-joined value it comes."""
    from okta.pagination import PaginationHelper

    getall = getattr(headers, "getall", None)
    values = getall("Link", []) if getall is not None else [headers.get("Link")]
    for value in values:
        cursor: str | None = PaginationHelper.extract_next_cursor({"Link": value})
        if cursor is not None:
            return cursor
    return None


def _user(u: Any) -> OktaUser:
    profile = {k: v for k, v in u.profile.to_dict().items() if v is not None}
    status = u.status.value if hasattr(u.status, "value") else str(u.status)
    return OktaUser(
        id=u.id,
        login=profile.get("login", ""),
        email=profile.get("email", ""),
        status=status,
        first_name=profile.get("firstName") or "",
        last_name=profile.get("lastName") or "",
        profile=profile,
    )


def _quoted(value: str) -> str:
    """A string literal's inside in an Okta search expression."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _role_type(role: Any) -> str:
    inner = getattr(role, "actual_instance", None) or role  # the SDK wraps the oneOf (standard | custom role)
    value = getattr(inner, "type", None)
    return str(getattr(value, "value", value) or "")


def _group(g: Any) -> OktaGroup:
    profile = g.profile.to_dict() if g.profile is not None else {}
    return OktaGroup(id=g.id, name=profile.get("name") or "", description=profile.get("description") or "")
