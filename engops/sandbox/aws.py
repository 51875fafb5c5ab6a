"""AWS for tests and the sandbox: moto's server (IAM, STS, Secrets Manager) on a loopback port, and demo seeding.

moto has no IAM policy simulator, so `SimulatePrincipalPolicy` is answered here, in front of moto, from the
principal's policies in moto's in-process backend (see `PolicySimulation`).

moto has no API to back-date an access key: CreateAccessKey stamps "now", and LastUsedDate is
set only when a request is signed with that key. Because `ThreadedMotoServer` runs inside this
process and shares moto's in-memory backends, `backdate_access_key` edits the key there directly
(create date and last use). Against a moto server in another process this is not possible.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from engops.sandbox.base import Fault, Faults, take_fault
from engops.sandbox.directory import Directory

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
# moto accepts any credentials; these are the placeholders boto3 sessions of the sandbox use, with the region a
# profile would give.
SANDBOX_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": DEFAULT_REGION,
}
# Who moto says a caller is when it does not know the caller's key; moto lets that caller do anything.
MOTO_DEFAULT_CALLER = f"arn:aws:sts::{ACCOUNT_ID}:user/moto"


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
        # same as moto's _server_entry, with the quiet handler and the policy simulator in front
        def _server_entry(self) -> None:
            app = PolicySimulation(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=QuietHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return QuietMotoServer(ip_address=host, port=0, verbose=False)


# --- IAM policy simulation (SimulatePrincipalPolicy) --------------------------------------------------------------


class _IamError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class PolicySimulation:
    """WSGI middleware: answers IAM's `SimulatePrincipalPolicy` the way IAM does, passes everything else to moto.

    The principal (a user with its groups, a role or a group of moto's backend; NoSuchEntity otherwise) is judged
    by its inline and attached policies: an explicit Deny wins, then an Allow, else an implicit deny. `Action` /
    `NotAction` match case-insensitively with `*` and `?`; `Resource` / `NotResource` case-sensitively. Conditions
    are read against the request's ContextEntries with the String operators; a condition this simulator cannot
    evaluate (other operators, set qualifiers, policy variables are not expanded) is an InvalidInput error rather
    than a guess. Not modelled: permissions boundaries, SCPs, resource policies. As at AWS, the caller must itself
    be allowed iam:SimulatePrincipalPolicy on the principal (AccessDenied otherwise). moto's default caller (a key
    moto does not know) is simulated as moto treats it: every action allowed.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "/iam/aws4_request" not in environ.get("HTTP_AUTHORIZATION", "") or environ["REQUEST_METHOD"] != "POST":
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if form.get("Action") != "SimulatePrincipalPolicy":
            return self.app(environ, start_response)
        try:
            status, xml = 200, self._simulate(form, _caller(environ["HTTP_AUTHORIZATION"]))
        except _IamError as exc:
            status, xml = exc.status, _iam_error_xml(exc)
        start_response(f"{status} {'OK' if status == 200 else 'Error'}", [("Content-Type", "text/xml")])
        return [xml.encode()]

    def _simulate(self, form: dict[str, str], caller: str | None) -> str:
        principal = form.get("PolicySourceArn", "")
        actions = list(_members(form, "ActionNames"))
        if not principal or not actions:
            raise _IamError(400, "InvalidInput", "PolicySourceArn and ActionNames are required.")
        if caller is not None and _decide(_policies_of(caller), _SIMULATE, principal, {}) != "allowed":
            raise _IamError(
                403,
                "AccessDenied",
                f"User: {caller} is not authorized to perform: {_SIMULATE} on resource: {principal}",
            )
        resources = list(_members(form, "ResourceArns")) or ["*"]
        context = _context(form)
        documents = None if principal == MOTO_DEFAULT_CALLER else _policies_of(principal)
        results = []
        for action in actions:
            for resource in resources:
                decision = "allowed" if documents is None else _decide(documents, action, resource, context)
                results.append(
                    f"<member><EvalActionName>{escape(action)}</EvalActionName><EvalResourceName>{escape(resource)}"
                    f"</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements/>"
                    "<MissingContextValues/></member>"
                )
        return (
            '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            "<SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated>"
            f"<EvaluationResults>{''.join(results)}</EvaluationResults></SimulatePrincipalPolicyResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</SimulatePrincipalPolicyResponse>"
        )


_SIMULATE = "iam:SimulatePrincipalPolicy"


def _caller(authorization: str) -> str | None:
    """The ARN of the IAM user whose key signed the request; None for a key moto does not know (moto's default
    caller, which moto lets do anything)."""
    from moto.iam.models import iam_backends

    match = re.search(r"Credential=([^/]+)/", authorization)
    user = iam_backends[ACCOUNT_ID]["aws"].get_user_from_access_key_id(match.group(1)) if match else None
    return str(user.arn) if user is not None else None


def _members(form: dict[str, str], name: str) -> Iterator[str]:
    n = 1
    while f"{name}.member.{n}" in form:
        yield form[f"{name}.member.{n}"]
        n += 1


def _context(form: dict[str, str]) -> dict[str, list[str]]:
    context: dict[str, list[str]] = {}
    n = 1
    while f"ContextEntries.member.{n}.ContextKeyName" in form:
        prefix = f"ContextEntries.member.{n}."
        context[form[prefix + "ContextKeyName"].lower()] = list(_members(form, prefix + "ContextKeyValues"))
        n += 1
    return context


def _policies_of(principal_arn: str) -> list[dict[str, Any]]:
    """The policy documents in force for a user (its own and its groups'), a role or a group of moto's backend."""
    from moto.iam.models import iam_backends

    match = re.fullmatch(r"arn:aws:iam::(\d{12}):(user|role|group)/(?:[^/]+/)*([^/]+)", principal_arn)
    if match is None:
        raise _IamError(400, "InvalidInput", f"Invalid ARN: {principal_arn} is not an IAM user, role or group.")
    account, kind, name = match.groups()
    backend = iam_backends[account]["aws"]
    holders: list[Any]
    if kind == "user":
        user = backend.users.get(name)
        holders = [user] + [g for g in backend.groups.values() if user in g.users] if user else []
    elif kind == "role":
        holders = [backend.roles[r] for r in backend.roles if backend.roles[r].name == name]
    else:
        holders = [backend.groups[name]] if name in backend.groups else []
    if not holders or holders[0].arn != principal_arn:
        raise _IamError(404, "NoSuchEntity", f"The {kind} with name {name} cannot be found.")
    texts = [text for holder in holders for text in holder.policies.values()]
    texts += [
        version.document
        for holder in holders
        for policy in holder.managed_policies.values()
        for version in policy.versions
        if version.is_default
    ]
    return [json.loads(text) if isinstance(text, str) else text for text in texts]


def _decide(documents: list[dict[str, Any]], action: str, resource: str, context: dict[str, list[str]]) -> str:
    allowed = False
    for document in documents:
        statements = document.get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if not _applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return "explicitDeny"
            allowed = allowed or statement.get("Effect") == "Allow"
    return "allowed" if allowed else "implicitDeny"


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, list[str]]) -> bool:
    if "NotAction" in statement:
        hit = not _any_match(statement["NotAction"], action, ignore_case=True)
    else:
        hit = _any_match(statement.get("Action", []), action, ignore_case=True)
    if "NotResource" in statement:
        hit = hit and not _any_match(statement["NotResource"], resource, ignore_case=False)
    else:
        hit = hit and _any_match(statement.get("Resource", []), resource, ignore_case=False)
    return hit and _conditions_hold(statement.get("Condition", {}), context)


def _any_match(patterns: str | list[str], value: str, *, ignore_case: bool) -> bool:
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        if "${" in pattern:
            raise _IamError(400, "InvalidInput", f"The stand-in does not expand policy variables ({pattern}).")
        if re.fullmatch(_glob(pattern), value, re.IGNORECASE if ignore_case else 0):
            return True
    return False


def _glob(pattern: str) -> str:
    """An IAM wildcard pattern (`*`, `?`) as a regular expression."""
    return re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")


_STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: re.fullmatch(_glob(want), got) is not None,
}


def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, list[str]]) -> bool:
    """Every operator and key must hold; a key holds when any of its policy values matches the request's."""
    for operator, keys in conditions.items():
        negated = operator.startswith("StringNot")
        test = _STRING_OPERATORS.get(operator.replace("StringNot", "String", 1))
        if test is None:
            raise _IamError(400, "InvalidInput", f"The stand-in does not evaluate the {operator} condition operator.")
        for key, wanted in keys.items():
            got = context.get(key.lower())
            wanted_values = [wanted] if isinstance(wanted, str) else list(wanted)
            matched = got is not None and any(test(w, g) for w in wanted_values for g in got)
            # a negated operator holds when the key is absent from the request
            if not (got is None or not matched if negated else matched):
                return False
    return True


def _iam_error_xml(error: _IamError) -> str:
    return (
        f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        f"<Code>{error.code}</Code><Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def sandbox_client(service: str, endpoint_url: str, region: str = DEFAULT_REGION) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint_url, **{**SANDBOX_CREDENTIALS, "region_name": region})


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
