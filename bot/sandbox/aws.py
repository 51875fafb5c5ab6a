"""AWS for tests and the sandbox: moto's server (IAM, STS, Secrets Manager) on a loopback port, and demo seeding.

moto has no API to back-date an access key: CreateAccessKey stamps "now", and LastUsedDate is
set only when a request is signed with that key. Because `ThreadedMotoServer` runs inside this
process and shares moto's in-memory backends, `backdate_access_key` edits the key there directly
(create date and last use). Against a moto server in another process this is not possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.sandbox.directory import Directory

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
    with varied ages, and the service users with one old key. Returns the keys made."""
    iam = sandbox_client("iam", endpoint_url)
    moment = now or datetime.now(UTC)
    seeded: list[SeededKey] = []
    users: list[tuple[str, list[dict[str, str]]]] = [
        (p.iam_user, [{"Key": "email", "Value": p.email}] if p.iam_tagged else [])
        for p in directory.people
        if p.iam_user
    ]
    users += [(name, []) for name in directory.service_users]
    for n, (name, tags) in enumerate(users):
        iam.create_user(UserName=name, **({"Tags": tags} if tags else {}))
        key_id = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        age, used = _KEY_AGES[n % len(_KEY_AGES)]
        backdate_access_key(
            key_id, moment - timedelta(days=age), None if used is None else moment - timedelta(days=used, hours=2)
        )
        seeded.append(SeededKey(name, key_id, age, used))
    return seeded
