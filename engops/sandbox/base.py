"""Shared machinery for the local stand-ins of Slack, Okta, Google and GitLab.

Each stand-in is a WSGI application built on werkzeug routing. The base adds what every
vendor stand-in needs for honest tests and benchmarks: a request log, configurable latency,
a fixed-window rate limiter (the vendor formats its own 429), fault injection, and a way
to run the app on a free loopback port in a background thread.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass
class RecordedCall:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Fault:
    """Fail matching calls: `remaining` times (None: forever) or with `rate` probability."""

    status: int
    path_prefix: str = ""
    method: str | None = None
    remaining: int | None = 1
    rate: float = 1.0
    kind: str = "error"  # "error" (vendor error body) | "timeout" (sleep, then drop) | "ratelimit"
    after: bool = False  # fail after the call took effect (the change is made, the client sees the error)
    body_contains: str = ""  # only calls whose body holds this text (e.g. one DM channel's id)


def take_fault(faults: list[Fault], method: str, path: str, body: bytes = b"") -> Fault | None:
    """The first fault that applies to this call (counting down its `remaining`); the caller holds the lock."""
    for fault in list(faults):
        if fault.method and fault.method != method:
            continue
        if not path.startswith(fault.path_prefix):
            continue
        if fault.body_contains and fault.body_contains.encode() not in body:
            continue
        if fault.rate < 1.0 and random.random() >= fault.rate:
            continue
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
        return fault
    return None


class FixedWindowLimiter:
    """`limit` requests per `period` seconds; thread-safe; tells remaining and reset time."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._lock = threading.Lock()
        self._window_start = time.time()
        self._count = 0
        self.rejected = 0
        self.accepted = 0

    def take(self) -> tuple[bool, int, float]:
        """Returns (allowed, remaining, reset_epoch_seconds)."""
        with self._lock:
            now = time.time()
            if now - self._window_start >= self.period:
                self._window_start = now
                self._count = 0
            reset = self._window_start + self.period
            if self._count >= self.limit:
                self.rejected += 1
                return False, 0, reset
            self._count += 1
            self.accepted += 1
            return True, self.limit - self._count, reset


class Faults:
    """The faults a test has injected (`inject(Fault(...))`), taken in order by the calls they match."""

    lock: threading.RLock

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()


class StandIn(Faults):
    """Base WSGI app. Subclasses add rules with `self.route(...)` and implement vendor errors."""

    name = "stand-in"

    def __init__(self) -> None:
        super().__init__()
        self.url_map = Map(strict_slashes=False)
        self._endpoints: dict[str, Callable[..., Response]] = {}
        self.calls: list[RecordedCall] = []
        self.counters: Counter[str] = Counter()
        self.latency = 0.0
        self.limiter: FixedWindowLimiter | None = None
        self.write_limiter: FixedWindowLimiter | None = None
        self.lock = threading.RLock()
        self._in_flight = 0
        self.max_in_flight = 0
        self.seen_rate_limited = 0

    # --- configuration -------------------------------------------------------------
    def route(self, path: str, methods: Iterable[str], handler: Callable[..., Response]) -> None:
        endpoint = f"{handler.__name__}:{path}:{','.join(methods)}"
        self.url_map.add(Rule(path, methods=list(methods), endpoint=endpoint))
        self._endpoints[endpoint] = handler

    def set_rate_limit(self, limit: int, period: float = 60.0, writes_only: bool = False) -> None:
        lim = FixedWindowLimiter(limit, period)
        if writes_only:
            self.write_limiter = lim
        else:
            self.limiter = lim

    def reset_log(self) -> None:
        with self.lock:
            self.calls.clear()
            self.counters.clear()

    # --- vendor hooks ----------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        """Return an error response when the request's credentials are wrong."""
        return None

    def error_response(self, status: int, message: str) -> Response:
        return json_response({"error": message}, status)

    def rate_limited_response(self, reset: float) -> Response:
        retry = max(1, int(reset - time.time() + 0.999))
        return json_response({"error": "rate limited"}, 429, {"Retry-After": str(retry)})

    def rate_limit_headers(self, limiter: FixedWindowLimiter, remaining: int, reset: float) -> dict[str, str]:
        return {}

    def is_write(self, request: Request) -> bool:
        return request.method in ("POST", "PUT", "PATCH", "DELETE")

    def counts_against_rate_limit(self, request: Request) -> bool:
        """False for requests outside the vendor's API quota (e.g. an OAuth token endpoint)."""
        return True

    def state(self) -> dict[str, Any]:
        """A JSON-able picture of the stand-in's state, for the console and tests."""
        return {}

    # --- WSGI ------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        body = request.get_data(cache=True)
        call = RecordedCall(
            method=request.method,
            path=request.path,
            query=dict(request.args.items()),
            headers={k: v for k, v in request.headers.items()},
            body=body,
        )
        if request.path == "/_state" and request.method == "GET":
            return json_response(self.state())
        with self.lock:
            self.calls.append(call)
            self.counters[f"{request.method} {request.path}"] += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            response = self._handle(request)
        finally:
            with self.lock:
                self._in_flight -= 1
        call.status = response.status_code
        if response.status_code == 429:
            with self.lock:
                self.seen_rate_limited += 1
        return response

    def _handle(self, request: Request) -> Response:
        if self.latency:
            time.sleep(self.latency)
        denied = self.authorize(request)
        if denied is not None:
            return denied
        extra_headers: dict[str, str] = {}
        limited = self.counts_against_rate_limit(request)
        for limiter in (self.limiter, self.write_limiter if self.is_write(request) else None):
            if limiter is None or not limited:
                continue
            allowed, remaining, reset = limiter.take()
            if not allowed:
                resp = self.rate_limited_response(reset)
                resp.headers.update(self.rate_limit_headers(limiter, 0, reset))
                return resp
            extra_headers.update(self.rate_limit_headers(limiter, remaining, reset))
        fault = self._matching_fault(request)
        if fault is not None and not fault.after:
            return self._fault_response(fault)
        try:
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, args = adapter.match()
            response = self._endpoints[str(endpoint)](request, **args)
        except NotFound:
            response = self.error_response(404, f"not found: {request.method} {request.path}")
        except HTTPException as exc:
            response = self.error_response(exc.code or 500, exc.description or "error")
        if fault is not None:
            return self._fault_response(fault)
        response.headers.update(extra_headers)
        return response

    def _fault_response(self, fault: Fault) -> Response:
        if fault.kind == "timeout":
            time.sleep(fault.status / 1000.0)
            return self.error_response(504, "timeout")
        if fault.kind == "ratelimit":
            return self.rate_limited_response(time.time() + 1)
        return self.error_response(fault.status, "injected fault")

    def _matching_fault(self, request: Request) -> Fault | None:
        with self.lock:
            return take_fault(self.faults, request.method, request.path, request.get_data(cache=True))

    # --- queries for tests ---------------------------------------------------------------
    def calls_to(self, method: str, path_prefix: str) -> list[RecordedCall]:
        with self.lock:
            return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data),
        status=status,
        headers=headers or {},
        content_type="application/json",
    )


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class RunningServer:
    """A WSGI app served on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=f"serve-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
