"""AwsAdapter (boto3) against moto's server: IAM user lookup, access keys, Secrets Manager."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from bot.providers.aws import AwsAdapter, IamUser, KeyLimitError
from bot.providers.errors import NotFoundError, ProviderError, RateLimitedError
from engops.sandbox.aws import SANDBOX_CREDENTIALS, MotoServer, sandbox_client, seed_aws
from engops.sandbox.directory import demo_directory

TOKEN_A = "0f5e6c1e-2b1a-4c1e-9f00-000000000001"
TOKEN_B = "0f5e6c1e-2b1a-4c1e-9f00-000000000002"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(autouse=True)
def clean(moto: MotoServer) -> None:
    moto.reset()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def adapter(moto: MotoServer, sleeps: Sleeps) -> AwsAdapter:
    session = boto3.session.Session(**SANDBOX_CREDENTIALS)
    return AwsAdapter(moto.url, session=session, tag_index_ttl=0, sleep=sleeps)


@pytest.fixture
def iam(moto: MotoServer) -> Any:
    return sandbox_client("iam", moto.url)


def make_user(iam: Any, name: str, email: str | None = None) -> None:
    iam.create_user(UserName=name, **({"Tags": [{"Key": "email", "Value": email}]} if email else {}))


# --- finding the IAM user ----------------------------------------------------------------------------------


# Which of these is a person's is decided in workflows/engine/identity.py (tests/integration/test_identity_aws.py).
def test_users_tagged_with_an_email_case_insensitively(adapter: AwsAdapter, iam: Any) -> None:
    make_user(iam, "alice")
    make_user(iam, "a.archer", email="Alice@Example.com")
    make_user(iam, "alice-2", email="alice@example.com")
    assert sorted(adapter.users_tagged("ALICE@example.com")) == ["a.archer", "alice-2"]
    assert adapter.users_tagged("carol@example.com") == []


def test_get_iam_user_reads_its_email_tag_now(adapter: AwsAdapter, iam: Any) -> None:
    make_user(iam, "erin")
    make_user(iam, "someone-else", email="Frank@example.com")
    assert adapter.get_iam_user("erin") == IamUser("erin", None)
    assert adapter.get_iam_user("someone-else") == IamUser("someone-else", "frank@example.com")
    assert adapter.get_iam_user("carol") is None


def test_demo_seed_follows_the_directory(adapter: AwsAdapter, moto: MotoServer) -> None:
    seeded = {k.user: k for k in seed_aws(moto.url, demo_directory())}
    assert adapter.users_tagged("alice@example.com") == ["alice"]
    assert adapter.get_iam_user("bob.brown") == IamUser("bob.brown", None)  # bob's, untagged
    assert adapter.get_iam_user("sam") == IamUser("sam", "rosa@example.com")  # named like sam, tagged to rosa
    assert sorted(adapter.users_tagged("erin@example.com")) == ["erin", "svc-deploy"]  # a service user too
    assert "svc-deploy" in seeded and "uma" in seeded and "uma@example.com" in seeded

    now = datetime.now(UTC)
    for user in ("victor", "alice", "svc-deploy"):
        (key,) = adapter.list_keys(user)
        expected = seeded[user]
        assert key.id == expected.access_key_id and key.status == "Active"
        assert abs(key.created - (now - timedelta(days=expected.age_days))) < timedelta(minutes=5)
        if expected.last_used_days_ago is None:
            assert key.last_used is None
        else:
            assert key.last_used is not None and key.last_used < now - timedelta(days=expected.last_used_days_ago)
    assert len({k.age_days for k in seeded.values()}) > 3


def test_tag_index_is_cached_for_its_ttl(moto: MotoServer, iam: Any) -> None:
    now = [0.0]
    adapter = AwsAdapter(
        moto.url, session=boto3.session.Session(**SANDBOX_CREDENTIALS), tag_index_ttl=60, clock=lambda: now[0]
    )
    assert adapter.users_tagged("kim@example.com") == []
    make_user(iam, "k.lee", email="kim@example.com")
    assert adapter.users_tagged("kim@example.com") == []  # still the cached scan
    now[0] = 61
    assert adapter.users_tagged("kim@example.com") == ["k.lee"]


# --- access keys ---------------------------------------------------------------------------------------------


def test_keys_list_deactivate_reactivate_delete(adapter: AwsAdapter, iam: Any) -> None:
    make_user(iam, "leo")
    first, _ = adapter.create_key("leo")
    second, _ = adapter.create_key("leo")
    assert [k.id for k in adapter.list_keys("leo")] == [first.id, second.id]
    assert all(k.last_used is None for k in adapter.list_keys("leo"))

    adapter.set_key_status("leo", first.id, active=False)
    assert {k.id: k.status for k in adapter.list_keys("leo")} == {first.id: "Inactive", second.id: "Active"}
    adapter.set_key_status("leo", first.id, active=True)
    assert adapter.list_keys("leo")[0].status == "Active"

    adapter.delete_key("leo", first.id)
    adapter.delete_key("leo", first.id)  # already gone is fine
    assert [k.id for k in adapter.list_keys("leo")] == [second.id]


def test_third_key_is_a_key_limit_error_and_not_retried(adapter: AwsAdapter, iam: Any, sleeps: Sleeps) -> None:
    make_user(iam, "irene")
    adapter.create_key("irene")
    adapter.create_key("irene")
    with pytest.raises(KeyLimitError) as raised:
        adapter.create_key("irene")
    assert raised.value.status == 409 and not raised.value.retryable
    assert sleeps == []
    assert len(adapter.list_keys("irene")) == 2


def test_new_secret_never_shows_in_repr_errors_or_logs(
    adapter: AwsAdapter, iam: Any, caplog: pytest.LogCaptureFixture
) -> None:
    make_user(iam, "mona")
    with caplog.at_level(logging.DEBUG):
        key, secret = adapter.create_key("mona")
        adapter.put_secret("engops/iam/mona", secret.as_secret_value(), TOKEN_A)
    raw = secret.secret_access_key.get_secret_value()
    assert len(raw) == 40
    assert raw not in repr(secret) and raw not in str(secret) and raw not in repr((key, secret))
    assert not [r for r in caplog.records if raw in r.getMessage()]
    assert secret.access_key_id == key.id and key.status == "Active"


def test_unknown_user_or_key_is_not_found(adapter: AwsAdapter, iam: Any) -> None:
    with pytest.raises(NotFoundError):
        adapter.list_keys("ghost")
    make_user(iam, "nina")
    with pytest.raises(NotFoundError):
        adapter.set_key_status("nina", "AKIAIOSFODNN7EXAMPLE", active=False)


# --- Secrets Manager -----------------------------------------------------------------------------------------------


def test_put_secret_with_the_same_token_makes_one_version(adapter: AwsAdapter, moto: MotoServer) -> None:
    secrets = sandbox_client("secretsmanager", moto.url)
    value = {"AccessKeyId": "AKIA0001", "SecretAccessKey": "s1"}
    arn = adapter.put_secret("engops/iam/alice", value, TOKEN_A)
    assert adapter.put_secret("engops/iam/alice", value, TOKEN_A) == arn  # a retried step
    assert len(secrets.list_secret_version_ids(SecretId=arn)["Versions"]) == 1

    rotated = {"AccessKeyId": "AKIA0002", "SecretAccessKey": "s2"}
    assert adapter.put_secret("engops/iam/alice", rotated, TOKEN_B) == arn
    assert adapter.put_secret("engops/iam/alice", rotated, TOKEN_B) == arn
    assert len(secrets.list_secret_version_ids(SecretId=arn)["Versions"]) == 2
    assert json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) == rotated


def test_token_reused_for_another_value_is_refused(adapter: AwsAdapter) -> None:
    adapter.put_secret("engops/iam/bob", {"k": "1"}, TOKEN_A)
    adapter.put_secret("engops/iam/bob", {"k": "2"}, TOKEN_B)
    with pytest.raises(ProviderError) as raised:
        adapter.put_secret("engops/iam/bob", {"k": "3"}, TOKEN_B)
    assert "ResourceExistsException" in str(raised.value) and '"3"' not in str(raised.value)


def test_short_request_token_is_refused_before_sending(adapter: AwsAdapter) -> None:
    with pytest.raises(ValueError, match="32-64"):
        adapter.put_secret("engops/iam/bob", {"k": "1"}, "short")


# --- throttling and reachability --------------------------------------------------------------------------------------

_THROTTLED = (
    b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
)


class _Body:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield _THROTTLED


def _throttle(adapter: AwsAdapter, operation: str, times: int | None) -> list[int]:
    """Make IAM answer `operation` with AWS's Throttling error (HTTP 400) `times` times (None: always)."""
    answered: list[int] = []

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        if times is None or len(answered) < times:
            answered.append(400)
            return AWSResponse(request.url, 400, {}, _Body())
        return None

    adapter._client("iam").meta.events.register(f"before-send.iam.{operation}", before_send)
    return answered


def test_throttling_is_retried_with_backoff(adapter: AwsAdapter, iam: Any, sleeps: Sleeps) -> None:
    make_user(iam, "victor")
    throttled = _throttle(adapter, "ListAccessKeys", times=3)
    adapter.create_key("victor")
    assert len(adapter.list_keys("victor")) == 1
    assert len(throttled) == 3 and len(sleeps) == 3


def test_persistent_throttling_surfaces_as_rate_limited(adapter: AwsAdapter, iam: Any) -> None:
    make_user(iam, "victor")
    _throttle(adapter, "ListAccessKeys", times=None)
    with pytest.raises(RateLimitedError):
        adapter.list_keys("victor")


def test_ping_names_the_caller(adapter: AwsAdapter) -> None:
    assert adapter.ping().startswith("arn:aws:sts::123456789012:")


def test_secret_version_arn_tells_whether_a_token_was_stored(adapter: AwsAdapter) -> None:
    assert adapter.secret_version_arn("engops/iam/carl", TOKEN_A) is None  # no such secret
    arn = adapter.put_secret("engops/iam/carl", {"k": "1"}, TOKEN_A)
    assert adapter.secret_version_arn("engops/iam/carl", TOKEN_A) == arn
    assert adapter.secret_version_arn("engops/iam/carl", TOKEN_B) is None
    adapter.put_secret("engops/iam/carl", {"k": "2"}, TOKEN_B)
    assert adapter.secret_version_arn("engops/iam/carl", TOKEN_A) == arn  # older versions still count


def test_list_users_with_their_email_tag(adapter: AwsAdapter, iam: Any) -> None:
    make_user(iam, "svc-x")
    make_user(iam, "a.archer", email="Alice@Example.com")
    assert sorted((u.name, u.email) for u in adapter.list_users()) == [
        ("a.archer", "alice@example.com"),
        ("svc-x", None),
    ]
