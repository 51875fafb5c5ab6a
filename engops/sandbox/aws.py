"""AWS for tests and the sandbox: moto's server (IAM, STS, Secrets Manager) on a loopback port, and demo seeding.

moto has no API to back-date an access key: CreateAccessKey stamps "now", and LastUsedDate is
set only when a request is signed with that key. Because `ThreadedMotoServer` runs inside this
process and shares moto's in-memory backends, `backdate_access_key` edits the key there directly
(create date and last use). Against a moto server in another process this is not possible.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engops.sandbox.base import Fault, Faults, take_fault
from engops.sandbox.directory import Directory

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# moto accepts any credentials; these are the placeholders boto3 clients of the sandbox use.
SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class MotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1:<free port>."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._server: ThreadedMotoServer | None = None
        self._port = 0

    def start(self) -> MotoServer:
        server = _quiet_moto_server(self.host)
        server.start()
        self._port = server.get_host_and_port()[1]
        self._server = server
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("moto server is not running")
        return f"http://{self.host}:{self._port}"

    def reset(self) -> None:
        """Forget every resource in every moto backend (POST /moto-api/reset)."""
        import requests

        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AwsFaults(Faults):
    """Fault injection for AWS the way the other stand-ins have it (`inject(Fault(...))`), for boto3 clients
    made from `session()`.

    moto's server has no fault hook, so faults are applied in botocore's `before-send` event, just before
    a request would leave the client: a matching call gets the answer AWS would give instead of reaching
    moto — an error in the service's own protocol (`kind="error"`, `fault.status`), throttling
    (`"ratelimit"`) or a read timeout after `fault.status` milliseconds (`"timeout"`). With `after=True`
    the request reaches moto first (the change is made) and its answer is lost. A fault's `path_prefix`
    matches `<service>.<Operation>` (e.g. `iam.CreateAccessKey`, `secrets-manager.`; "" matches all).
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()  # `<service>.<Operation>` -> calls the clients made
        self.failed: Counter[str] = Counter()  # ... -> calls answered with an injected fault

    def session(self) -> Any:
        """A boto3 session whose clients go through the faults (register before clients are made)."""
        import boto3

        session = boto3.session.Session()
        session.events.register("before-send", self._before_send)
        return session

    def _before_send(self, request: Any, event_name: str, **_: Any) -> Any:
        service, operation = event_name.split(".", 2)[1:]
        name = f"{service}.{operation}"
        with self.lock:
            self.calls[name] += 1
            fault = take_fault(self.faults, "POST", name)
            if fault is not None:
                self.failed[name] += 1
        if fault is None:
            return None  # botocore sends the request
        if fault.after:
            from botocore.httpsession import URLLib3Session

            URLLib3Session().send(request)
        if fault.kind == "timeout":
            from botocore.exceptions import ReadTimeoutError

            time.sleep(fault.status / 1000.0)
            raise ReadTimeoutError(endpoint_url=request.url)
        return _aws_error(request.url, service, fault)


def _aws_error(url: str, service: str, fault: Fault) -> Any:
    """An error answer in the service's protocol: JSON for Secrets Manager, XML (query) for IAM and STS."""
    from botocore.awsrequest import AWSResponse

    throttled = fault.kind == "ratelimit"
    status = 400 if throttled else fault.status
    request_id = str(uuid.uuid4())
    if service == "secrets-manager":
        code = "ThrottlingException" if throttled else "InternalServiceError"
        body = f'{{"__type": "{code}", "message": "injected fault"}}'.encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
    else:
        code = "Throttling" if throttled else ("ServiceUnavailable" if status == 503 else "ServiceFailure")
        body = (
            f"<ErrorResponse><Error><Type>{'Sender' if throttled else 'Receiver'}</Type><Code>{code}</Code>"
            f"<Message>injected fault</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}
    return AWSResponse(url, status, headers, _Body(body))


class _Body:
    """The raw body botocore reads an AWSResponse from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def _quiet_moto_server(host: str) -> ThreadedMotoServer:
    """ThreadedMotoServer on a free port whose request handler does not log every request to stderr."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    class QuietMotoServer(ThreadedMotoServer):
        # same as moto's _server_entry, with the quiet handler
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=QuietHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return QuietMotoServer(ip_address=host, port=0, verbose=False)


def sandbox_client(service: str, endpoint_url: str, region: str = DEFAULT_REGION) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, region_name=region, **SANDBOX_CREDENTIALS)


def backdate_access_key(
    access_key_id: str, created: datetime, last_used: datetime | None = None, service: str = "iam"
) -> None:
    """Set a key's CreateDate (and LastUsedDate) inside moto's in-process backend."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    key = iam_backends[ACCOUNT_ID]["aws"].access_keys[access_key_id]
    # moto keeps naive UTC datetimes
    key.create_date = created.astimezone(UTC).replace(tzinfo=None)
    if last_used is not None:
        key.last_used = AccessKeyLastUsed(
            timestamp=last_used.astimezone(UTC).replace(tzinfo=None), service=service, region=DEFAULT_REGION
        )


@dataclass(frozen=True)
class SeededKey:
    user: str
    access_key_id: str
    age_days: int
    last_used_days_ago: int | None


# (age in days, last used days ago) cycled over the people with IAM users: fresh, due, overdue, never used.
_KEY_AGES: tuple[tuple[int, int | None], ...] = ((12, 1), (45, 3), (95, 20), (130, None), (200, 150), (60, 0))


def seed_aws(endpoint_url: str, directory: Directory, now: datetime | None = None) -> list[SeededKey]:
    """IAM users of the demo directory (tagged email=<email> where the person is tagged), one access key each
    with varied ages, then the service users and the directory's other IAM users. Returns the keys made."""
    iam = sandbox_client("iam", endpoint_url)
    moment = now or datetime.now(UTC)
    seeded: list[SeededKey] = []
    users: list[tuple[str, list[dict[str, str]]]] = [
        (p.iam_user, [{"Key": "email", "Value": p.email}] if p.iam_tagged else [])
        for p in directory.people
        if p.iam_user
    ]
    service_tags = dict(directory.service_user_tags)
    users += [(name, _email_tags(service_tags.get(name))) for name in directory.service_users]
    users += [(extra.name, _email_tags(extra.tagged)) for extra in directory.extra_iam_users]
    for n, (name, tags) in enumerate(users):
        iam.create_user(UserName=name, **({"Tags": tags} if tags else {}))
        key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        age, used = _KEY_AGES[n % len(_KEY_AGES)]
        backdate_access_key(
            key_id, moment - timedelta(days=age), None if used is None else moment - timedelta(days=used, hours=2)
        )
        seeded.append(SeededKey(name, key_id, age, used))
    return seeded


def _email_tags(email: str | None) -> list[dict[str, str]]:
    return [{"Key": "email", "Value": email}] if email else []
