"""How a failed Slack call reaches the engine: as `SlackCallError` with Slack's error code and HTTP status, and
`passing` (worth trying again: a 5xx, a 429, Slack's "try again later" codes) or final (a channel that is not there)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.slack_response import SlackResponse

from bot.slack.messenger import Messenger, ServerErrorRetry, SlackCallError


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("internal_error", 500),
        ("unknown_error", 502),
        ("unknown_error", 503),
        ("unknown_error", 504),
        ("ratelimited", 429),
        ("internal_error", 200),  # Slack's own words for "try again later", with a 200
        ("fatal_error", 200),
        ("service_unavailable", 200),
        ("request_timeout", 200),
        ("ratelimited", 200),
    ],
)
def test_passing_failures(error: str, status: int) -> None:
    assert SlackCallError("chat.postMessage", error, status).passing


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("channel_not_found", 200),
        ("channel_not_found", 404),
        ("not_in_channel", 200),
        ("user_not_found", 200),
        ("account_inactive", 200),
        ("invalid_auth", 401),
        ("missing_scope", 403),
        ("invalid_blocks", 400),
    ],
)
def test_final_failures(error: str, status: int) -> None:
    assert not SlackCallError("chat.postMessage", error, status).passing


def test_the_message_names_the_method_the_code_and_the_status() -> None:
    assert str(SlackCallError("chat.update", "message_not_found", 200)) == (
        "Slack chat.update failed: message_not_found (HTTP 200)"
    )


class FailingClient:
    """A Slack client whose every call fails as slack_sdk reports it: a `SlackApiError` around Slack's answer."""

    def __init__(self, status: int, data: dict[str, Any]) -> None:
        self.status, self.data = status, data

    def __getattr__(self, method: str) -> Any:
        def call(**kwargs: Any) -> None:
            response = SlackResponse(
                client=None,
                http_verb="POST",
                api_url=f"https://slack.com/api/{method}",
                req_args=kwargs,
                data=self.data,
                headers={},
                status_code=self.status,
            )
            raise SlackApiError(f"The request to the Slack API failed. ({method})", response)

        return call


def messenger(status: int, data: dict[str, Any]) -> Messenger:
    return Messenger(cast(WebClient, FailingClient(status, data)))


def test_a_slack_sdk_error_becomes_a_slack_call_error_with_the_code_and_status() -> None:
    with pytest.raises(SlackCallError) as raised:
        messenger(200, {"ok": False, "error": "user_not_found"}).user("U404")
    assert (raised.value.method, raised.value.error, raised.value.status) == ("users.info", "user_not_found", 200)
    assert not raised.value.passing


def test_a_5xx_without_a_slack_error_code_is_passing() -> None:
    with pytest.raises(SlackCallError) as raised:
        messenger(503, {"ok": False}).user("U1")
    assert (raised.value.error, raised.value.status, raised.value.passing) == ("unknown_error", 503, True)


def test_an_unknown_email_is_nobody_but_other_failures_are_raised() -> None:
    assert messenger(200, {"ok": False, "error": "users_not_found"}).user_by_email("gone@example.com") is None
    with pytest.raises(SlackCallError) as raised:
        messenger(429, {"ok": False, "error": "ratelimited"}).user_by_email("alice@example.com")
    assert raised.value.passing


def retried_in_the_call(response: HttpResponse | None, error: Exception | None = None) -> bool:
    handler = ServerErrorRetry(max_retry_count=2)
    request = HttpRequest(method="POST", url="https://slack.com/api/chat.postMessage", headers={})
    return handler.can_retry(state=RetryState(), request=request, response=response, error=error)


@pytest.mark.parametrize(("status", "retried"), [(500, True), (502, True), (503, True), (504, True), (429, False)])
def test_5xx_are_retried_in_the_call_and_429_left_to_the_rate_limit_handler(status: int, retried: bool) -> None:
    assert retried_in_the_call(HttpResponse(status_code=status, headers={})) is retried


def test_a_final_answer_or_a_lost_connection_is_not_retried_as_a_5xx() -> None:
    assert not retried_in_the_call(HttpResponse(status_code=400, headers={}))
    assert not retried_in_the_call(None, ConnectionResetError())  # ConnectionErrorRetryHandler's business
