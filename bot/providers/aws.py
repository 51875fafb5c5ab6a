"""AWS provider (IAM access keys, Secrets Manager): the interface the workflows use and its boto3 adapter.

botocore's own retries are switched off so that `retrying` is the one retry loop; ClientErrors
become the typed errors of `bot.providers.errors`. CreateAccessKey is the one call that is never retried after its
answer was lost (a read timeout, a 5xx): it is not idempotent and the secret comes back only in that answer, so the
caller must look at the user's keys and settle (`KeyCreationUnknown`). A new secret access key only ever travels
inside `NewKeySecret` (a SecretStr) and is never put in a log line or an exception message;
botocore's DEBUG wire logs (request params, response bodies) are filtered for the same reason.

Region: AWS_REGION (the variable the AWS CLI and every other AWS SDK read first; boto3 does not read it), else
AWS_DEFAULT_REGION (the `region` given), else boto3's own chain (the profile's `region`). IAM and STS are global
and work without one; Secrets Manager is regional and is not called without one.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

from pydantic import SecretStr

from bot.providers.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
    retrying,
)

PROVIDER = "aws"
EMAIL_TAG = "email"

# Every IAM and Secrets Manager action this adapter calls (sts:GetCallerIdentity needs no permission), by the
# resource it acts on; `engops check --live` proves them by policy simulation and the README's policy grants them.
IAM_ACCOUNT_ACTIONS = ("iam:ListUsers",)  # lists the account: granted and simulated on Resource "*"
IAM_USER_ACTIONS = (
    "iam:ListUserTags",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:CreateAccessKey",
    "iam:UpdateAccessKey",
    "iam:DeleteAccessKey",
)
SECRET_ACTIONS = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
)
_GLOBAL_SERVICES = frozenset({"iam", "sts"})

_THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)
_LIMIT_EXCEEDED = frozenset({"LimitExceeded", "LimitExceededException"})
_NOT_FOUND = frozenset({"NoSuchEntity", "ResourceNotFoundException"})
_AUTH = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
    }
)
_TRANSIENT = frozenset({"ServiceFailure", "ServiceUnavailable", "InternalFailure", "InternalServiceError"})
# botocore logs request params (SecretString) and response bodies (SecretAccessKey) at DEBUG here.
_WIRE_LOGGERS = ("botocore.endpoint", "botocore.parsers")

T = TypeVar("T")


class KeyLimitError(ProviderError):
    """The IAM user already has the maximum number of access keys (2)."""


class KeyCreationUnknown(ProviderError):
    """CreateAccessKey's answer was lost (read timeout, 5xx, dropped connection): a key may have been made whose
    secret nobody will ever see. Not retryable as such: list the user's keys and settle first."""


@dataclass(frozen=True)
class AccessKey:
    id: str
    status: Literal["Active", "Inactive"]
    created: datetime
    last_used: datetime | None


@dataclass(frozen=True)
class IamUser:
    name: str
    email: str | None  # the `email` tag, lower case


@dataclass(frozen=True)
class NewKeySecret:
    """A freshly created key's secret half; its repr shows only the key id."""

    access_key_id: str
    secret_access_key: SecretStr

    def as_secret_value(self) -> dict[str, str]:
        """The JSON fields stored in Secrets Manager (the only place the secret may go)."""
        return {"AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret_access_key.get_secret_value()}


class AwsProvider(Protocol):
    # Raw lookups; which IAM user is a person's is decided in workflows/engine/identity.py (SPEC §5).
    def users_tagged(self, email: str) -> list[str]: ...

    def get_iam_user(self, name: str) -> IamUser | None: ...

    def list_users(self) -> list[IamUser]: ...

    def list_keys(self, user: str, *, with_last_use: bool = True) -> list[AccessKey]: ...

    def create_key(self, user: str) -> tuple[AccessKey, NewKeySecret]: ...

    def set_key_status(self, user: str, key_id: str, active: bool) -> None: ...

    def delete_key(self, user: str, key_id: str) -> None: ...

    def put_secret(self, name: str, value: dict[str, str], client_request_token: str) -> str: ...

    def secret_version_arn(self, name: str, version_id: str) -> str | None: ...

    def ping(self) -> str: ...

    # --- for `engops check --live` ---
    def region_in_use(self) -> tuple[str | None, str]: ...

    def simulate(
        self, principal_arn: str, actions: Sequence[str], resource_arn: str, context: Mapping[str, str]
    ) -> dict[str, str]: ...


class AwsAdapter:
    """AwsProvider on boto3. Clients are created lazily, once, and shared (boto3 clients are thread-safe)."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        session: Any = None,
        attempts: int = 6,
        throttle_backoff: float = 0.5,
        tag_index_ttl: float = 60.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = session
        self._attempts = attempts
        self._throttle_backoff = throttle_backoff
        self._tag_index_ttl = tag_index_ttl
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._tag_index: dict[str, list[str]] | None = None
        self._tag_index_at = 0.0
        _silence_wire_logs()

    # --- AwsProvider -------------------------------------------------------------------------------------
    def users_tagged(self, email: str) -> list[str]:
        """The IAM users tagged email=<email> (case-insensitive), from a scan cached for `tag_index_ttl`."""
        return list(self._email_index().get(email.strip().lower(), []))

    def get_iam_user(self, name: str) -> IamUser | None:
        """The IAM user `name` with its `email` tag (read now, not from the cached scan), or None."""
        iam = self._client("iam")
        try:
            tags = self._call(partial(self._user_tags, iam, name))
        except NotFoundError:
            return None
        return IamUser(name, _email_tag(tags))

    def list_users(self) -> list[IamUser]:
        """Every IAM user with its `email` tag. ListUsers returns no tags, so one ListUserTags each."""
        iam = self._client("iam")
        names: list[str] = self._call(
            lambda: [u["UserName"] for page in iam.get_paginator("list_users").paginate() for u in page["Users"]]
        )
        users = []
        for name in names:
            try:
                tags = self._call(partial(self._user_tags, iam, name))
            except NotFoundError:
                continue  # deleted since the listing
            users.append(IamUser(name, _email_tag(tags)))
        return users

    def list_keys(self, user: str, *, with_last_use: bool = True) -> list[AccessKey]:
        """The user's keys, oldest first; `with_last_use=False` leaves `last_used` None and saves a call per key."""
        iam = self._client("iam")
        metadata: list[dict[str, Any]] = self._call(
            lambda: [
                item
                for page in iam.get_paginator("list_access_keys").paginate(UserName=user)
                for item in page["AccessKeyMetadata"]
            ]
        )
        keys = []
        for item in metadata:
            key_id = str(item["AccessKeyId"])
            last = self._call(partial(iam.get_access_key_last_used, AccessKeyId=key_id)) if with_last_use else {}
            keys.append(
                AccessKey(
                    id=key_id,
                    status=_status(item["Status"]),
                    created=item["CreateDate"],
                    last_used=last.get("AccessKeyLastUsed", {}).get("LastUsedDate"),
                )
            )
        return sorted(keys, key=lambda k: k.created)

    def create_key(self, user: str) -> tuple[AccessKey, NewKeySecret]:
        """One CreateAccessKey. Retried only when it surely did not happen (throttled, no connection); when its
        answer is lost it raises KeyCreationUnknown, since a blind retry leaves an untracked active key behind (or
        hits the two-key limit because of it)."""
        iam = self._client("iam")
        created = self._call(lambda: iam.create_access_key(UserName=user), limit_error=KeyLimitError, idempotent=False)[
            "AccessKey"
        ]
        key = AccessKey(
            id=str(created["AccessKeyId"]),
            status=_status(created["Status"]),
            created=created["CreateDate"],
            last_used=None,
        )
        return key, NewKeySecret(key.id, SecretStr(str(created["SecretAccessKey"])))

    def set_key_status(self, user: str, key_id: str, active: bool) -> None:
        iam = self._client("iam")
        status = "Active" if active else "Inactive"
        self._call(lambda: iam.update_access_key(UserName=user, AccessKeyId=key_id, Status=status))

    def delete_key(self, user: str, key_id: str) -> None:
        iam = self._client("iam")
        with suppress(NotFoundError):  # already gone: the goal is reached
            self._call(lambda: iam.delete_access_key(UserName=user, AccessKeyId=key_id))

    def put_secret(self, name: str, value: dict[str, str], client_request_token: str) -> str:
        """Store `value` as JSON under `name`; the same token never makes a second version (safe to retry).

        AWS requires the token to be 32-64 characters; use e.g. a UUID derived from the workflow id.
        """
        if not 32 <= len(client_request_token) <= 64:
            raise ValueError("client_request_token must be 32-64 characters")
        secrets = self._client("secretsmanager")
        secret_string = json.dumps(value, sort_keys=True)
        try:
            created = self._call(
                lambda: secrets.create_secret(
                    Name=name, SecretString=secret_string, ClientRequestToken=client_request_token
                ),
                exists_ok=True,
            )
        except _AlreadyExists:
            created = self._call(
                lambda: secrets.put_secret_value(
                    SecretId=name, SecretString=secret_string, ClientRequestToken=client_request_token
                )
            )
        return str(created["ARN"])

    def secret_version_arn(self, name: str, version_id: str) -> str | None:
        """The secret's ARN when it has a version `version_id` (the ClientRequestToken of a `put_secret`), else None.

        Tells whether an interrupted attempt already stored a value, without reading the value."""
        secrets = self._client("secretsmanager")

        # DescribeSecret first: it answers NotFound for a missing secret (moto's ListSecretVersionIds gives a 500).
        try:
            arn = str(self._call(lambda: secrets.describe_secret(SecretId=name))["ARN"])
        except NotFoundError:
            return None

        def version_ids() -> set[str]:
            found: set[str] = set()
            token = None
            while True:  # ListSecretVersionIds has no boto3 paginator
                page = secrets.list_secret_version_ids(
                    SecretId=arn, IncludeDeprecated=True, **({"NextToken": token} if token else {})
                )
                found |= {str(v["VersionId"]) for v in page["Versions"]}
                token = page.get("NextToken")
                if not token:
                    return found

        return arn if version_id in self._call(version_ids) else None

    def ping(self) -> str:
        sts = self._client("sts")
        identity = self._call(lambda: sts.get_caller_identity())
        return str(identity["Arn"])

    def region_in_use(self) -> tuple[str | None, str]:
        """(the region Secrets Manager is called in, where that came from); (None, why) when there is none."""
        if os.environ.get("AWS_REGION"):  # over AWS_DEFAULT_REGION, as the AWS CLI and the other SDKs have it
            return os.environ["AWS_REGION"], "AWS_REGION"
        if self.region:
            return self.region, "AWS_DEFAULT_REGION"
        session = self._boto_session()
        if session.region_name:
            return str(session.region_name), f"profile {session.profile_name}"
        return None, "no AWS_REGION, AWS_DEFAULT_REGION or profile region"

    def simulate(
        self, principal_arn: str, actions: Sequence[str], resource_arn: str, context: Mapping[str, str]
    ) -> dict[str, str]:
        """IAM's policy simulator (SimulatePrincipalPolicy): each action -> `allowed`, `explicitDeny` or
        `implicitDeny` for `principal_arn` on `resource_arn`, with `context` as string context keys."""
        iam = self._client("iam")
        entries = [
            {"ContextKeyName": key, "ContextKeyValues": [value], "ContextKeyType": "string"}
            for key, value in context.items()
        ]

        def decisions() -> dict[str, str]:
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=principal_arn,
                ActionNames=list(actions),
                ResourceArns=[resource_arn],
                **({"ContextEntries": entries} if entries else {}),
            )
            return {
                str(r["EvalActionName"]).lower(): str(r["EvalDecision"]) for p in pages for r in p["EvaluationResults"]
            }

        found = self._call(decisions)
        return {action: found.get(action.lower(), "implicitDeny") for action in actions}

    # --- plumbing --------------------------------------------------------------------------------------------
    def _email_index(self) -> dict[str, list[str]]:
        """email (lower case) -> IAM users tagged with it; cached for `tag_index_ttl` seconds so a bulk
        offboarding scans IAM once, not once per person."""
        with self._lock:
            if self._tag_index is not None and self._clock() - self._tag_index_at < self._tag_index_ttl:
                return self._tag_index
        # One scan at a time: when the cache expires mid-run, a bulk run's threads wait for one scan
        # instead of each scanning IAM (measured: 16 concurrent scans of 600 users stalled a run for 90 s).
        with self._index_lock:
            with self._lock:
                if self._tag_index is not None and self._clock() - self._tag_index_at < self._tag_index_ttl:
                    return self._tag_index
            index: dict[str, list[str]] = {}
            for user in self.list_users():
                if user.email:
                    index.setdefault(user.email, []).append(user.name)
            with self._lock:
                self._tag_index, self._tag_index_at = index, self._clock()
            return index

    @staticmethod
    def _user_tags(iam: Any, name: str) -> list[dict[str, str]]:
        return [tag for page in iam.get_paginator("list_user_tags").paginate(UserName=name) for tag in page["Tags"]]

    def _boto_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import boto3

                self._session = boto3.session.Session()
            return self._session

    def _client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
        if client is not None:
            return client
        region, _ = self.region_in_use()
        if region is None and service in _GLOBAL_SERVICES:
            region = "aws-global"  # what botocore itself picks for IAM and STS; needed with an endpoint_url
        if region is None:
            raise ProviderError(
                PROVIDER, f"{service} is regional and no region is set: set AWS_REGION or a region in the profile"
            )
        from botocore.config import Config

        session = self._boto_session()
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
        )
        with self._lock:
            if service not in self._clients:
                self._clients[service] = session.client(
                    service, endpoint_url=self.endpoint_url, region_name=region, config=config
                )
            return self._clients[service]

    def _call(
        self,
        fn: Callable[[], T],
        *,
        limit_error: type[ProviderError] = ProviderError,
        exists_ok: bool = False,
        idempotent: bool = True,
    ) -> T:
        """`fn` with AWS errors mapped and retried. `idempotent=False`: retried only when the request surely did
        not take effect (throttled, or no connection made); a lost answer raises KeyCreationUnknown."""
        from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

        throttled = 0

        def once() -> T:
            nonlocal throttled
            answer_lost = False  # the request reached AWS and may have taken effect, but we cannot tell
            try:
                return fn()
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if exists_ok and code == "ResourceExistsException":
                    raise _AlreadyExists() from None
                error = _map_client_error(exc, code, limit_error, self._backoff(throttled))
                answer_lost = isinstance(error, TransientError) and not isinstance(error, RateLimitedError)  # a 5xx
            except ConnectionError as exc:  # connect timeout, endpoint unreachable: nothing was sent
                error = TransientError(PROVIDER, f"connection failed: {type(exc).__name__}")
            except HTTPClientError as exc:  # read timeout, connection dropped: sent, answer lost
                error, answer_lost = TransientError(PROVIDER, f"no answer: {type(exc).__name__}"), True
            except BotoCoreError as exc:
                # e.g. ParamValidationError, whose text can quote a parameter value: name the class only.
                error = ProviderError(PROVIDER, f"request not sent: {type(exc).__name__}")
            if answer_lost and not idempotent:
                raise KeyCreationUnknown(PROVIDER, f"{error.message}; it may have taken effect", error.status)
            if isinstance(error, RateLimitedError):
                throttled += 1
            raise error from None  # the botocore exception may carry request parameters

        return retrying(once, attempts=self._attempts, sleep=self._sleep)

    def _backoff(self, throttled_so_far: int) -> float:
        # AWS throttling carries no Retry-After; back off exponentially with jitter, as botocore would.
        return min(20.0, self._throttle_backoff * 2.0**throttled_so_far) * (0.5 + random.random() / 2)


class _AlreadyExists(Exception):
    pass


def _email_tag(tags: list[dict[str, str]]) -> str | None:
    return next((str(t["Value"]).strip().lower() for t in tags if t["Key"] == EMAIL_TAG), None)


def _status(value: object) -> Literal["Active", "Inactive"]:
    return "Active" if value == "Active" else "Inactive"


def _map_client_error(exc: Any, code: str, limit_error: type[ProviderError], throttle_wait: float) -> ProviderError:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) or None
    operation = str(getattr(exc, "operation_name", "request"))
    # AWS error messages name resources and limits, never secret values; keep them for the operator.
    detail = f"{operation}: {code}: {exc.response.get('Error', {}).get('Message', '')}".rstrip(": ")
    if code in _THROTTLING or status == 429:
        return RateLimitedError(PROVIDER, throttle_wait, detail)
    if code in _LIMIT_EXCEEDED:
        return limit_error(PROVIDER, detail, status)
    if code in _NOT_FOUND:
        return NotFoundError(PROVIDER, detail, status)
    if code in _AUTH:
        return AuthError(PROVIDER, detail, status)
    if code in _TRANSIENT or (status is not None and status >= 500):
        return TransientError(PROVIDER, detail, status)
    return ProviderError(PROVIDER, detail, status)


class _DropDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_DROP_DEBUG = _DropDebug()


def _silence_wire_logs() -> None:
    for name in _WIRE_LOGGERS:
        logger = logging.getLogger(name)
        if _DROP_DEBUG not in logger.filters:
            logger.addFilter(_DROP_DEBUG)
