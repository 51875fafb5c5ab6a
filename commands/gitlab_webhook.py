"""`POST /gitlab/webhook`: authenticated in constant time, parsed strictly, handed to a workflow."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

EventSink = Callable[[str, dict[str, Any]], None]
KNOWN_EVENTS = ("Issue Hook", "Note Hook", "Confidential Issue Hook", "Confidential Note Hook")


def make_handler(secret: str | None, sink: EventSink) -> Callable[[Request], Response]:
    expected = (secret or "").encode()

    def handle(request: Request) -> Response:
        # The header's own bytes (WSGI gives them as latin-1), compared as bytes: compare_digest runs in
        # time independent of where they differ, and raises on a non-ASCII str.
        given = request.headers.get("X-Gitlab-Token", "").encode("latin-1", "replace")
        if not expected or not hmac.compare_digest(given, expected):
            return Response("unauthorized", status=401)
        event = request.headers.get("X-Gitlab-Event", "")
        try:
            body = json.loads(request.get_data(as_text=True))
        except (ValueError, UnicodeDecodeError):
            return Response("body is not JSON", status=400)
        if not isinstance(body, dict) or "object_kind" not in body:
            return Response("not a GitLab event", status=400)
        if event not in KNOWN_EVENTS:
            return Response("ignored", status=200)
        try:
            sink(event, body)
        except ValueError as exc:
            return Response(f"malformed {event}: {exc}", status=400)
        return Response("ok", status=200)

    return handle
