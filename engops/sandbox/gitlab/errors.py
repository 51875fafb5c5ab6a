"""GitLab's refusals, raised where they are found and answered by the routes as they are.

GitLab answers with `{"message": ...}` (not found, forbidden, model validation), Grape's
`{"error": "... is missing"}` 400s for parameters, and OAuth's `insufficient_scope` 403 for a token
whose scopes do not allow the call.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from engops.sandbox.base import json_response


class ApiError(Exception):
    """An answer GitLab gives instead of doing what was asked; `response` is that answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def message_error(status: int, message: Any) -> ApiError:
    return ApiError(json_response({"message": message}, status))


def bad_request(error: str) -> ApiError:
    return ApiError(json_response({"error": error}, 400))


def insufficient_scope(allowed: tuple[str, ...]) -> ApiError:
    """What API::APIGuard answers (Rack::OAuth2 Bearer::Forbidden) when no scope of the token allows the call."""
    body = {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
        "scope": " ".join(allowed),
    }
    return ApiError(json_response(body, 403))
