"""Security: forged, stale and replayed Slack requests; the GitLab webhook token; untrusted text on every text
input (an injection corpus, 10,000 characters, and hypothesis-generated text) that must never run a GitLab
quick action, ping anyone in Slack, forge a link or get a 500; secrets that never leave their place; and
audit tampering found by `engops audit verify`. The authorisation matrix is in test_security_authorisation.py.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, insert, select, text

from bot import audit
from bot.db.engine import sqlalchemy_url
from bot.db.models import AuditEntry
from bot.slack import triage_views
from engops.sandbox.base import Fault, StandIn
from engops.sandbox.gitlab import DEFAULT_TOKEN as GITLAB_TOKEN
from engops.sandbox.okta import DEFAULT_TOKEN as OKTA_TOKEN
from engops.sandbox.slack_driver import DriverResponse, SlackDriverError, sign
from engops.sandbox.stack import BOT_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, Stack
from tests.support.authorisation import snapshot
from tests.support.aws_secrets import capture_new_secrets
from tests.support.cli import run as engops
from tests.support.gitlab import INFRA, post_webhook
from tests.support.secret_search import database_dump, found_in
from tests.support.slack_actions import preview, request_access, rotate, submit
from tests.support.slack_output import Answers, find_card, forged_sequences, raw_errors, rendered, shown
from tests.support.stacks import started_stack

CORPUS_FILE = Path(__file__).with_name("injection_corpus.txt")
BOT = "engops-bot"  # the bot's GitLab user
LOG_FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")  # with tracebacks, as they are logged
LIMITS = {"summary": 150, "details": 3000, "justification": 2000, "reason": 1000, "rotation reason": 500}


def corpus() -> list[str]:
    lines = [line.rstrip("\n") for line in CORPUS_FILE.read_text(encoding="ascii").splitlines()]
    return [line.encode("ascii").decode("unicode_escape") for line in lines if line and not line.startswith("#")]


def long_payload() -> str:
    """10,000 characters of the worst of the corpus, on many lines."""
    unit = "<!channel> /close @all <https://evil.example|ok> <@U00000009>\n/label ~x\n\u202e<b>x</b> "
    return (unit * (10_000 // len(unit) + 1))[:10_000]


# --- signatures ----------------------------------------------------------------------------------------------------
def captured(stack: Stack, act: Callable[[], Any]) -> tuple[bytes, dict[str, str]]:
    """The signed request `act()` would send to the app, not sent."""
    assert stack.driver is not None
    driver = stack.driver
    sent: list[tuple[bytes, dict[str, str]]] = []
    send = driver.raw
    driver.raw = lambda body, headers: sent.append((body, headers)) or DriverResponse(200, {}, b"")  # type: ignore[method-assign]
    try:
        act()
    finally:
        driver.raw = send  # type: ignore[method-assign]
    return sent[0]


def resigned(
    body: bytes, headers: dict[str, str], *, secret: str = SIGNING_SECRET, at: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    return {**headers, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": sign(secret, timestamp, body)}


def test_forged_stale_and_replayed_slack_requests_are_refused(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close", channel="#it-engops")
    card = find_card(stack, "oscar", 1, "Approve")
    assert card is not None
    body, headers = captured(stack, lambda: driver.click("oscar", "Approve", message=card))
    carol_body, carol_headers = captured(stack, lambda: driver.click("carol", "Approve", message=card))
    now = time.time()
    unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Slack")}
    attempts = {
        "no signature": (body, unsigned),
        "signed with another secret": (body, resigned(body, headers, secret="not-the-signing-secret")),
        "signature of another body": (body, {**headers, "X-Slack-Signature": carol_headers["X-Slack-Signature"]}),
        "carol's click claiming to be oscar's": (carol_body.replace(b"carol", b"oscar"), carol_headers),
        "stale (6 minutes old)": (body, resigned(body, headers, at=now - 360)),
        "from the future (6 minutes ahead)": (body, resigned(body, headers, at=now + 360)),
        "malformed signature": (body, {**headers, "X-Slack-Signature": "v0=not-hex"}),
        "other scheme": (body, {**headers, "X-Slack-Signature": "v1=" + headers["X-Slack-Signature"][3:]}),
        "timestamp not a number": (body, {**headers, "X-Slack-Request-Timestamp": "soon"}),
    }
    before = snapshot(stack)
    for name, (sent_body, sent_headers) in attempts.items():
        assert driver.raw(sent_body, sent_headers).status == 401, name
    stack.wait_idle()
    assert snapshot(stack) == before and driver.ephemerals("oscar") == []

    genuine = driver.raw(body, headers)  # the real click, once
    assert genuine.status == 200
    replayed = driver.raw(body, headers)  # the same bytes again, within the signature's 5 minutes
    assert replayed.status == 401
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("netsuite-finance")
    assert len([c for c in stack.okta.calls if c.method == "PUT" and "/users/" in c.path]) == 1

    help_body, help_headers = captured(stack, lambda: driver.command("bob", "/engops", "help"))
    assert driver.raw(help_body, help_headers).status == 200
    assert driver.raw(help_body, help_headers).status == 401  # a slash command replayed
    assert driver.raw(help_body, resigned(help_body, help_headers, at=time.time() + 1)).status == 200  # re-signed


def test_malformed_signature_headers_get_401_not_500(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """Issue #13: a malformed timestamp or a non-ASCII signature made the signature check raise (HTTP 500)."""
    driver = stack.driver
    assert driver is not None
    body, headers = captured(stack, lambda: driver.command("bob", "/engops", "help"))
    huge = "9" * 5000  # more digits than int() takes from a string
    attempts: dict[str, dict[str, Any]] = {
        "empty timestamp": {**headers, "X-Slack-Request-Timestamp": ""},
        "superscript digits": {**headers, "X-Slack-Request-Timestamp": "\u00b9\u00b2\u00b3"},
        "huge timestamp": {**headers, "X-Slack-Request-Timestamp": huge},
        "huge timestamp, signed": resigned(body, headers) | {"X-Slack-Request-Timestamp": huge},
        "negative timestamp": {**headers, "X-Slack-Request-Timestamp": "-1"},
        "non-ASCII signature": {**headers, "X-Slack-Signature": headers["X-Slack-Signature"][:-1] + "\u00e9"},
        "UTF-8 signature": {**headers, "X-Slack-Signature": ("v0=" + "\u2713" * 64).encode()},
    }
    caplog.set_level(logging.ERROR)
    for name, sent_headers in attempts.items():
        answer = driver.raw(body, sent_headers)
        assert (answer.status, answer.body) == (401, b"invalid signature"), name
    assert driver.raw(body, headers).status == 200  # the genuine request still works
    bad_token = "\u00e9" + WEBHOOK_SECRET
    assert post_webhook(stack, b'{"object_kind": "note"}', bad_token, event="Note Hook") == 401
    assert post_webhook(stack, b'{"object_kind": "note"}', WEBHOOK_SECRET[:-1] + "\u00ff", event="Note Hook") == 401
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_the_gitlab_webhook_needs_its_token(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)
    driver.command("alice", "/it", "Need an S3 bucket for marketing assets")
    driver.submit_view("alice", {})
    stack.wait_idle()
    stack.gitlab.comment(INFRA, 1, "Created it", by="erin")  # delivered with the right token
    assert stack.gitlab.wait_for_webhooks()
    stack.wait_idle()
    delivery = stack.gitlab.webhook_deliveries[-1]
    assert delivery.status == 200 and delivery.event == "Note Hook"
    thread_before = [m.text for m in stack.slack.all_messages("#general")]
    assert any("Erin Evans* commented" in t for t in thread_before)

    note = dict(delivery.payload)
    note["object_attributes"] = {**note["object_attributes"], "id": 999_999, "note": "Forged comment <!here>"}
    forged = json.dumps(note).encode()
    # (spaces around a header value are not part of it in HTTP, so "secret " is the secret)
    for token in (None, "", "wrong", WEBHOOK_SECRET.upper(), WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x",
                  "x" + WEBHOOK_SECRET, GITLAB_TOKEN, SIGNING_SECRET):  # fmt: skip
        assert post_webhook(stack, forged, token, event="Note Hook") == 401, repr(token)
    stack.wait_idle()
    assert [m.text for m in stack.slack.all_messages("#general")] == thread_before
    assert post_webhook(stack, forged, WEBHOOK_SECRET, event="Note Hook") == 200  # the right token: accepted
    stack.wait_idle()
    texts = [m.text for m in stack.slack.all_messages("#general")]
    assert any("Forged comment &lt;!here&gt;" in t for t in texts) and not any("<!here>" in t for t in texts)


# --- untrusted text on every input --------------------------------------------------------------------------------
def clip(value: str, field: str) -> str:
    """What a Slack modal lets through: at most the field's length, never blank (the driver refuses both)."""
    value = value[: LIMITS[field]]
    return value if value.strip() else "x" + value[: LIMITS[field] - 1]


class Inputs:
    """Every text input of the bot, each fed `text` the way a person (or GitLab) would."""

    def __init__(self, stack: Stack) -> None:
        assert stack.driver is not None
        self.stack = stack
        self.driver = stack.driver
        self.statuses: list[int] = []

    def _ok(self, response: DriverResponse | None) -> None:
        if response is not None:
            self.statuses.append(response.status)

    def _close(self, user: str) -> None:
        while self.driver.current_view(user) is not None:
            self.driver.close_view(user)

    def commands(self, text: str) -> None:
        """Slash-command text that comes back in a reply or a pre-filled modal."""
        for user, command, words in (
            ("bob", "/access", text),
            ("bob", "/access", "revoke " + text),
            ("hank", "/offboard", text),
            ("bob", "/rotate-keys", text),
            ("bob", "/engops", text),
            ("bob", "/engops", "status " + text),
            ("bob", "/it", text),
            ("hank", "/escalate", text),
        ):
            self._ok(self.driver.command(user, command, words, channel="#it-engops"))
            self.stack.wait_idle()
            self._close(user)

    def access_and_deny(self, text: str) -> None:
        """A justification, then a deny reason."""
        self._ok(self.driver.command("alice", "/access", "", channel="#it-engops"))
        self._ok(
            self.driver.submit_view(
                "alice", {"Okta group": "netsuite-finance", "Justification": clip(text, "justification")}
            )
        )
        self._close("alice")
        self.stack.wait_idle()
        card = self.driver.latest("oscar")
        if card is not None and "Deny" in self.driver.labels(card):
            self._ok(self.driver.click("oscar", "Deny", message=card))
            if self.driver.current_view("oscar") is not None:
                self._ok(self.driver.submit_view("oscar", {"Reason": clip(text, "reason")}))
            self._close("oscar")
        self.stack.wait_idle()

    def offboarding_reason(self, text: str) -> None:
        self._ok(self.driver.command("hank", "/offboard", "nina@example.com", channel="#it-engops"))
        self.stack.wait_idle()
        view = self.driver.current_view("hank")
        if view is not None and view.body.get("submit"):
            self._ok(self.driver.submit_view("hank", {"Reason": clip(text, "reason")}))
        self._close("hank")
        self.stack.wait_idle()

    def rotation_reason(self, text: str) -> None:
        self._ok(self.driver.command("bob", "/rotate-keys", "svc-deploy", channel="#general"))
        self.stack.wait_idle()
        view = self.driver.current_view("bob")
        if view is not None and view.body.get("submit"):
            self._ok(self.driver.submit_view("bob", {"Reason": clip(text, "rotation reason")}))
        self._close("bob")
        self.stack.wait_idle()

    def it_request(self, text: str) -> None:
        self._ok(self.driver.command("alice", "/it", "", channel="#general"))
        summary = clip(" ".join(text.split()) or text, "summary")
        self._ok(self.driver.submit_view("alice", {"Summary": summary, "Details": clip(text, "details")}))
        self._pick_a_team_if_asked("alice")
        self._close("alice")
        self.stack.wait_idle()
        card = self.driver.latest("alice")
        if card is not None and "File a new issue anyway" in self.driver.labels(card):  # a near-duplicate
            self._ok(self.driver.click("alice", "File a new issue anyway", message=card))
            self.stack.wait_idle()

    def _pick_a_team_if_asked(self, user: str) -> None:
        """Triage was unsure of this text: pick the first team offered, as the requester would."""
        view = self.driver.current_view(user)
        if view is None or view.callback_id not in (
            triage_views.IT_TEAM_CALLBACK,
            triage_views.ESCALATION_TEAM_CALLBACK,
        ):
            return
        offered = [
            option["text"]["text"]
            for block in view.blocks
            if block.get("label", {}).get("text") == triage_views.PICK_LABEL
            for option in block["element"]["options"]
        ]
        self._ok(self.driver.submit_view(user, {triage_views.PICK_LABEL: offered[0]}))

    def _submit_escalation(self, text: str, values: dict[str, str]) -> None:
        """Submit the escalation modal as pre-filled from `text`; a summary is typed in when it came out blank."""
        if self.driver.current_view("hank") is None:
            return
        try:
            self._ok(self.driver.submit_view("hank", values))
        except SlackDriverError:  # nothing usable was pre-filled: the person types a summary
            self._ok(self.driver.submit_view("hank", {**values, "Summary": clip(text.strip()[:40], "summary")}))
        self._pick_a_team_if_asked("hank")
        self._close("hank")
        self.stack.wait_idle()

    def escalation(self, text: str) -> None:
        """/escalate text and a ticket reference, then a thread escalated with the message shortcut."""
        self._ok(self.driver.command("hank", "/escalate", text, channel="#it-engops"))
        self._submit_escalation(text, {"Details": clip(text, "details"), "Ticket": text[:500]})
        message = self.stack.slack.post_as_user("carol", "#general", text or "x")
        self.stack.slack.post_as_user("dave", "#general", text or "x", thread_ts=message.ts)
        self._ok(self.driver.message_shortcut("hank", "escalate_message", message.ts, "#general"))
        self.stack.wait_idle()
        self._submit_escalation(text, {"Details": clip(text, "details")})

    def gitlab_comment(self, text: str) -> None:
        """A comment made in GitLab on an issue the bot filed, synced back to its Slack thread."""
        issues = [i for i in self.stack.gitlab.issues(INFRA) if i["state"] == "opened"]
        if not issues:
            self.it_request("Need an S3 bucket for marketing assets")
            issues = [i for i in self.stack.gitlab.issues(INFRA) if i["state"] == "opened"]
        self.stack.gitlab.comment(INFRA, issues[0]["iid"], text or "x", by="erin")
        assert self.stack.gitlab.wait_for_webhooks()
        self.stack.wait_idle()


def check_nothing_ran_or_pinged(stack: Stack, inputs: Inputs, answers: Answers) -> None:
    assert set(inputs.statuses) <= {200}, inputs.statuses  # no 500 (nor anything but an answer)
    assert [d.status for d in stack.gitlab.webhook_deliveries if d.status != 200] == []
    assert [q for q in stack.gitlab.quick_actions if q.by == BOT] == []
    assert [m for m in stack.gitlab.mass_mentions if m.by == BOT] == []
    assert forged_sequences(rendered(stack, answers), stack) == []
    assert raw_errors(shown(stack, answers)) == []


@pytest.mark.timeout(240)
def test_injection_corpus_on_every_text_input(stack: Stack) -> None:
    answers = Answers(stack.driver)  # type: ignore[arg-type]
    stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)
    stack.wait_idle()
    inputs = Inputs(stack)
    payloads = corpus()
    everything = "\n".join(payloads)
    for text_ in (everything, long_payload()):
        for feed in (
            inputs.commands,
            inputs.access_and_deny,
            inputs.offboarding_reason,
            inputs.rotation_reason,
            inputs.it_request,
            inputs.escalation,
            inputs.gitlab_comment,
        ):
            feed(text_)
    for line in payloads:  # one at a time where a field is a single line
        inputs.it_request(line)
    check_nothing_ran_or_pinged(stack, inputs, answers)
    filed = [i for p in stack.directory.gitlab_projects for i in stack.gitlab.issues(p)]
    assert len(filed) > len(payloads)  # the text did get through to GitLab, made harmless
    assert stack.driver is not None and "&lt;!channel&gt;" in stack.driver.dm_text("alice")  # and to Slack


_TOKENS = [*corpus(), "<", ">", "&", "|", "\n", "/", "@", "!", "~", "`", "<!", "<@U", "<http", "\u202e", "\x00"]
_TEXTS = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=12)), max_size=10).map("".join),
)
_HYPOTHESIS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,  # the same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.timeout(240)
@_HYPOTHESIS
@given(text_=_TEXTS)
def test_generated_text_in_slack_forms_and_commands(stack: Stack, text_: str) -> None:
    answers = Answers(stack.driver)  # type: ignore[arg-type]
    inputs = Inputs(stack)
    inputs.commands(text_)
    inputs.access_and_deny(text_)
    inputs.offboarding_reason(text_)
    check_nothing_ran_or_pinged(stack, inputs, answers)


@pytest.mark.timeout(240)
@_HYPOTHESIS
@given(text_=_TEXTS)
def test_generated_text_through_gitlab_and_back(stack: Stack, text_: str) -> None:
    answers = Answers(stack.driver)  # type: ignore[arg-type]
    if not stack.gitlab.webhooks:  # once per stack (hypothesis runs every example on the same one)
        stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)
    inputs = Inputs(stack)
    inputs.it_request(text_)
    inputs.escalation(text_)
    inputs.gitlab_comment(text_)
    check_nothing_ran_or_pinged(stack, inputs, answers)


# --- secrets ----------------------------------------------------------------------------------------------------------
def traffic_without_own_credential(standin: StandIn, own_headers: tuple[str, ...]) -> str:
    """Everything a stand-in received, but the vendor's own credential in its own auth header."""
    with standin.lock:
        calls = list(standin.calls)
    lines = []
    for call in calls:
        headers = {k: v for k, v in call.headers.items() if k.lower() not in own_headers}
        lines.append(f"{call.method} {call.path} {call.query} {headers} {call.text()}")
    return "\n".join(lines)


def google_private_key(stack: Stack) -> str:
    assert stack.settings is not None and stack.settings.google_application_credentials
    key = json.loads(Path(stack.settings.google_application_credentials).read_text())["private_key"]
    body = "".join(line for line in key.splitlines() if "PRIVATE KEY" not in line)
    return body[40:120]  # a stretch of the key material itself (the PEM base64)


@pytest.fixture
def logged_stack(caplog: pytest.LogCaptureFixture, tmp_path: Path, database_url: str) -> Iterator[Stack]:
    """The stack, with every log line captured at DEBUG from before its start (start-up reads the settings)."""
    caplog.set_level(logging.DEBUG)
    for name in ("dbos", "botocore", "urllib3", "slack_sdk", "slack_bolt", "okta", "gitlab", "googleapiclient"):
        caplog.set_level(logging.DEBUG, logger=name)
    dbos_logger = logging.getLogger("dbos")  # DBOS does not propagate to the root logger
    dbos_logger.addHandler(caplog.handler)
    try:
        with started_stack(tmp_path, database_url) as running:
            yield running
    finally:
        dbos_logger.removeHandler(caplog.handler)


def offboard_trying_again(stack: Stack, user: str, email: str, channel: str) -> None:
    """The preview refuses while a provider that tells whether the person is protected does not answer (SPEC
    §6.3: unchecked is not offboarded); the help desk tries again, as the preview tells them to."""
    assert stack.driver is not None
    for _ in range(3):
        shown = preview(stack, user, email, channel)
        view = stack.driver.current_view(user)
        if view is not None and view.body.get("submit"):
            submit(stack, user)
            return
        assert "could not check whether" in shown, shown
    raise AssertionError(f"{user} could not offboard {email} in 3 tries")


def work_of_every_kind_with_failures(stack: Stack) -> None:
    """Failures first (error paths are where credentials leak: 401s, 5xx, retries), then every kind of request,
    a GitLab comment and close synced back, and a day for the rotations' old keys to be deactivated."""
    driver = stack.driver
    assert driver is not None
    stack.gitlab.add_webhook(f"{stack.url}/gitlab/webhook", WEBHOOK_SECRET)
    for standin, path in ((stack.okta, ""), (stack.google, ""), (stack.gitlab, ""), (stack.slack, "/api/chat.")):
        standin.inject(Fault(status=401, path_prefix=path, remaining=1))
        standin.inject(Fault(status=503, path_prefix=path, remaining=2))
    stack.aws_faults.inject(Fault(status=503, remaining=2))
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close", channel="#it-engops")
    driver.click("oscar", "Approve")
    offboard_trying_again(stack, "hank", "irene@example.com", channel="#it-engops")
    driver.click("heidi", "Approve")
    rotate(stack, "dave")
    rotate(stack, "bob", "svc-deploy", reason="Quarterly rotation")
    driver.click("erin", "Approve")  # svc-deploy's owner
    driver.command("alice", "/it", "Need an S3 bucket for marketing assets")
    driver.submit_view("alice", {})
    driver.command("hank", "/escalate", "Printer queue is stuck", channel="#it-engops")
    driver.submit_view("hank", {"Details": "Floor 3"})
    stack.wait_idle()
    stack.gitlab.comment(INFRA, 1, "Created it", by="erin")
    stack.gitlab.close_issue(INFRA, 1, by="erin")
    assert stack.gitlab.wait_for_webhooks()
    stack.advance(days=1, minutes=5)
    stack.run_sweep()
    stack.wait_idle()


@pytest.mark.timeout(240)
def test_secrets_stay_where_they_belong(
    logged_stack: Stack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = logged_stack
    made = capture_new_secrets(monkeypatch)
    work_of_every_kind_with_failures(stack)
    assert len(made) >= 2

    assert stack.settings is not None
    env = stack.env
    cli = [engops(["audit", "verify"], env), engops(["audit", "export"], env), engops(["check"], env)]
    assert cli[0].returncode == 0 and cli[1].stdout
    secrets = {
        "Slack bot token": BOT_TOKEN,
        "Slack signing secret": SIGNING_SECRET,
        "Okta token": OKTA_TOKEN,
        "Google private key": google_private_key(stack),
        "GitLab token": GITLAB_TOKEN,
        "GitLab webhook secret": WEBHOOK_SECRET,
        # (the sandbox's own AWS_SECRET_ACCESS_KEY is the placeholder "sandbox", a word found everywhere;
        # the AWS secrets that matter are the keys rotation makes)
        **{f"AWS secret key made by rotation {n}": secret for n, secret in enumerate(made)},
    }
    assert stack.web is not None
    db = stack.web.services.db
    places = {
        "Slack stand-in": traffic_without_own_credential(stack.slack, ("authorization",)),
        "Okta stand-in": traffic_without_own_credential(stack.okta, ("authorization",)),
        "Google stand-in": traffic_without_own_credential(stack.google, ()),
        "GitLab stand-in": traffic_without_own_credential(stack.gitlab, ("private-token", "authorization")),
        "logs": "\n".join(LOG_FORMAT.format(r) for r in caplog.get_records("setup") + caplog.get_records("call")),
        "database": database_dump(stack),
        "audit export (jsonl)": "".join(audit.export(db, "jsonl")),
        "audit export (csv)": "".join(audit.export(db, "csv")),
        "CLI output": "\n".join(r.stdout + r.stderr for r in cli),
    }
    # the places are really searched: each holds what the work did write there
    assert "aws_keys.rotated" in places["audit export (jsonl)"] and "engops/iam/dave" in places["database"]
    assert "/api/v1/groups" in places["Okta stand-in"] and "Created it" in places["Slack stand-in"]
    assert "worker" in places["logs"] and "intact" in places["CLI output"]
    leaks = [f"{what} in the {where}" for where, t in places.items() for what, s in secrets.items() if found_in(t, s)]
    assert leaks == [], leaks
    # each vendor's credential went to that vendor only
    for standin, credential in ((stack.slack, BOT_TOKEN), (stack.okta, OKTA_TOKEN), (stack.gitlab, GITLAB_TOKEN)):
        others = [s for s in (stack.slack, stack.okta, stack.google, stack.gitlab) if s is not standin]
        assert not any(found_in(traffic_without_own_credential(o, ()), credential) for o in others)


# --- audit tampering --------------------------------------------------------------------------------------------------
def test_audit_tampering_is_found_by_the_cli(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", None, "Quarter close")
    driver.click("oscar", "Approve")
    driver.command("alice", "/it", "Need an S3 bucket for marketing assets")
    driver.submit_view("alice", {})
    stack.wait_idle()
    env = stack.env
    intact = engops(["audit", "verify"], env)
    assert intact.returncode == 0 and "audit log intact" in intact.stdout, intact.stderr
    count = int(intact.stdout.split(":")[1].split()[0])
    assert count >= 5
    engine = create_engine(sqlalchemy_url(env["DATABASE_URL"]))
    entries = AuditEntry.__table__  # type: ignore[attr-defined]

    def tampered(statements: list[tuple[str, dict[str, Any]]], expected: str) -> None:
        with engine.begin() as conn:
            saved = [dict(r._mapping) for r in conn.execute(select(entries))]
            for statement, params in statements:
                conn.execute(text(statement), params)
        broken = engops(["audit", "verify"], env)
        assert broken.returncode == 1 and expected in broken.stderr, (statements, broken.stdout, broken.stderr)
        with engine.begin() as conn:  # put it back
            conn.execute(delete(entries))
            conn.execute(insert(entries), saved)
        assert engops(["audit", "verify"], env).returncode == 0

    tampered([("UPDATE audit_entry SET actor = 'mallory@example.com' WHERE seq = :n", {"n": 3})], "entry 3 was changed")
    tampered([("UPDATE audit_entry SET subject = 'nobody@example.com' WHERE seq = :n", {"n": count})],
             f"entry {count} was changed")  # fmt: skip
    tampered([("DELETE FROM audit_entry WHERE seq = :n", {"n": 2})], "entry 2 is missing")
    tampered([("DELETE FROM audit_entry WHERE seq = :n", {"n": count})], f"entries after {count - 1} were removed")
    swap = "UPDATE audit_entry SET seq = :to WHERE seq = :n"  # entries 3 and 4 swap places
    tampered([(swap, {"n": 4, "to": -4}), (swap, {"n": 3, "to": 4}), (swap, {"n": -4, "to": 3})],
             "entry 3 does not follow entry 2")  # fmt: skip
    engine.dispose()
