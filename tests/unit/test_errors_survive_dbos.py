"""DBOS pickles a failed step's error and unpickles it when it replays the workflow after a restart; an error that
cannot be rebuilt turns a handled failure (`except DBOSMaxStepRetriesExceeded`) into a workflow that ends in ERROR."""

from __future__ import annotations

import pytest
from dbos._error import DBOSMaxStepRetriesExceeded
from dbos._serialization import DefaultSerializer, deserialize_exception, serialize_exception

from bot.providers.errors import AuthError, NotFoundError, ProviderError, RateLimitedError, TransientError
from bot.slack.messenger import SlackCallError

ERRORS = [
    SlackCallError("chat.postMessage", "internal_error", 503),
    ProviderError("okta", "bad request", 400),
    NotFoundError("google", "no such user", 404),
    AuthError("gitlab", "token refused", 401),
    TransientError("aws", "timed out", None),
    RateLimitedError("okta", 12.5, "too many requests"),
]


def round_trip(error: Exception) -> Exception:
    serializer = DefaultSerializer()
    text, how = serialize_exception(error, None, serializer)
    return deserialize_exception(text, how, serializer)


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_each_error_a_step_can_raise_comes_back_whole(error: Exception) -> None:
    back = round_trip(error)
    assert type(back) is type(error) and str(back) == str(error) and vars(back) == vars(error)


def test_a_step_out_of_retries_comes_back_with_its_errors() -> None:
    exhausted = DBOSMaxStepRetriesExceeded("workflows.approvals._live_approvers", 3, ERRORS[:2])
    back = round_trip(exhausted)
    assert isinstance(back, DBOSMaxStepRetriesExceeded)
    assert [vars(e) for e in back.errors] == [vars(e) for e in ERRORS[:2]]
