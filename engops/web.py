"""The HTTP surface: one small WSGI router in front of Bolt.

POST /slack/events (Bolt), POST /gitlab/webhook, GET /healthz, GET /readyz, GET /metrics, and App Engine's
GET /_ah/warmup. A body Bolt cannot parse gets 400, never a 500 with a stack trace.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from werkzeug.wrappers import Request, Response

from bot.db import write_gate
from bot.db.engine import Database
from bot.metrics import Metrics
from bot.replay import ReplayGuard

log = logging.getLogger(__name__)

WebhookHandler = Callable[[Request], Response]

MAX_BODY = 1_000_000  # a Slack request
# A GitLab Note Hook carries the note and its issue's description, each up to about a million characters.
MAX_WEBHOOK_BODY = 4 * 1024 * 1024
MAX_REQUEST_BODY = max(MAX_BODY, MAX_WEBHOOK_BODY)  # the server refuses anything larger before reading it
WARMUP = "/_ah/warmup"  # App Engine's `inbound_services: warmup` asks this before sending traffic
MAX_TIMESTAMP_DIGITS = 12  # seconds since 1970 have 10 digits until the year 2286


def _request_kind(body: str, content_type: str) -> str:
    if "payload=" in body[:16]:
        return "interactive"
    if "command=" in body:
        return "command"
    if content_type.startswith("application/json"):
        return "event"
    return "other"


def _well_formed(timestamp: str, signature: str) -> bool:
    """Headers the signature check can take without raising: `int()` fails on digits like "²" and on
    more than 4,300 of them, and `hmac.compare_digest` raises on a non-ASCII str."""
    return (
        timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS and signature.isascii()
    )


class WebApp:
    def __init__(
        self, bolt: App, db: Database, metrics: Metrics, gitlab_webhook: WebhookHandler, signing_secret: str
    ) -> None:
        self.bolt = bolt
        self.verifier = SignatureVerifier(signing_secret)
        self.db = db
        self.metrics = metrics
        self.gitlab_webhook = gitlab_webhook
        self.replays = ReplayGuard()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            with write_gate.urgent():  # Slack and GitLab wait for this answer; the worker's writes can wait
                response = self.route(request)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = Response("internal error", status=500)
        return response(environ, start_response)

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/slack/events" and method == "POST":
            return self.slack_events(request)
        if path == "/gitlab/webhook" and method == "POST":
            return self.gitlab_webhook(request)
        if path == "/healthz" and method == "GET":
            return Response("ok", content_type="text/plain")
        if path in ("/readyz", WARMUP) and method == "GET":
            return self.readyz()
        if path == "/metrics" and method == "GET":
            return Response(self.metrics.render(), content_type=CONTENT_TYPE_LATEST)
        if path in ("/slack/events", "/gitlab/webhook", "/healthz", "/readyz", "/metrics", WARMUP):
            return Response("method not allowed", status=405)
        return Response("not found", status=404)

    def readyz(self) -> Response:
        """Ready when the database answers; as the warm-up request, this also opens the first pooled connection."""
        try:
            self.db.ping()
        except Exception as exc:
            return Response(
                json.dumps({"ready": False, "database": type(exc).__name__}),
                status=503,
                content_type="application/json",
            )
        return Response(json.dumps({"ready": True}), content_type="application/json")

    def slack_events(self, request: Request) -> Response:
        started = time.perf_counter()
        if (request.content_length or 0) > MAX_BODY:
            return Response("payload too large", status=413)
        try:
            body = request.get_data(as_text=False).decode("utf-8")
        except UnicodeDecodeError:
            return Response("body is not UTF-8", status=400)
        kind = _request_kind(body, request.content_type or "")
        headers: dict[str, str | Sequence[str]] = {k.lower(): [v] for k, v in request.headers.items()}
        try:
            bolt_request = BoltRequest(body=body, query=request.query_string.decode(), headers=headers)
        except Exception:
            self.metrics.slack_requests.labels(kind, "400").inc()
            return Response("malformed request body", status=400)
        signature = request.headers.get("X-Slack-Signature", "")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        genuine = _well_formed(timestamp, signature) and self.verifier.is_valid(body, timestamp, signature)
        if not genuine:
            # Refused here, before Bolt: a malformed timestamp makes Bolt's own check raise, and its error
            # handler would then answer 200 (and act on the payload's response_url) for an unsigned request.
            self.metrics.slack_requests.labels(kind, "401").inc()
            return Response("invalid signature", status=401)
        if not self.replays.first_time(signature):
            self.metrics.slack_requests.labels(kind, "replay").inc()
            return Response("replayed request", status=401)
        bolt_response = self.bolt.dispatch(bolt_request)
        status = bolt_response.status
        if status == 404 and bolt_request.body == {}:
            status = 400  # signed but unparseable: not a Slack payload at all
        self.metrics.slack_requests.labels(kind, str(status)).inc()
        self.metrics.ack_seconds.labels(kind).observe(time.perf_counter() - started)
        response = Response(bolt_response.body, status=status)
        for name, values in bolt_response.headers.items():
            for value in values:
                response.headers.add(name, value)
        return response
