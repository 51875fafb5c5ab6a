"""Socket Mode: the stand-in's apps.connections.open and WebSocket link, and `engops socket` run as a
user runs it (a subprocess) against them — commands in over the socket, answers and modals out."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import modals
from engops.sandbox.base import RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackStandIn, message_as_text
from engops.sandbox.slack_socket import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, SocketDriver, SocketModeServer
from engops.sandbox.stack import BOT_TOKEN, EXAMPLE_POLICY, Stack

APP_TOKEN = "xapp-1-A0ENGOPS01-1-sandbox"  # noqa: S105  (the stand-in's, not a real secret)
REPO = Path(__file__).resolve().parents[2]
RFC_SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="


# --- the stand-in on its own, with a hand-written WebSocket client ---------------------------------
class RawClient:
    """Just enough of an RFC 6455 client to poke at the server."""

    def __init__(self, url: str, key: str = RFC_SAMPLE_KEY) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5)
        self.sock.sendall(
            (
                f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.rfile = self.sock.makefile("rb")
        self.status = int(self.rfile.readline().split()[1])
        self.headers = http.client.parse_headers(self.rfile)

    def send(self, opcode: int, payload: bytes, *, masked: bool = True) -> None:
        mask = os.urandom(4) if masked else b""
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if masked else payload
        size = len(payload)
        length = bytes([0x80 * masked | size]) if size < 126 else bytes([0x80 * masked | 126]) + struct.pack("!H", size)
        self.sock.sendall(bytes([0x80 | opcode]) + length + mask + body)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(OP_TEXT, json.dumps(message).encode())

    def recv(self) -> tuple[int, bytes]:
        first, second = self.rfile.read(2)
        assert not second & 0x80, "server frames must not be masked"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self.rfile.read(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self.rfile.read(8))
        return first & 0x0F, self.rfile.read(size)

    def recv_json(self) -> Any:
        opcode, data = self.recv()
        assert opcode == OP_TEXT
        return json.loads(data)

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


@pytest.fixture
def socket_mode() -> Iterator[tuple[SocketModeServer, str]]:
    slack = SlackStandIn.from_directory(demo_directory(), bot_token=BOT_TOKEN)
    with RunningServer(slack) as server:
        socket_server = SocketModeServer.attach(slack, APP_TOKEN)
        try:
            yield socket_server, f"{server.url}/api/"
        finally:
            socket_server.stop()


def test_apps_connections_open_takes_only_the_app_level_token(socket_mode: tuple[SocketModeServer, str]) -> None:
    _, api_url = socket_mode
    url = WebClient(base_url=api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith("ws://127.0.0.1:") and parse_qs(urlsplit(url).query)["ticket"]
    for token, error in (("xapp-1-A0ENGOPS01-1-wrong", "invalid_auth"), (BOT_TOKEN, "not_allowed_token_type")):
        with pytest.raises(SlackApiError) as refused:
            WebClient(base_url=api_url).apps_connections_open(app_token=token)
        assert refused.value.response["error"] == error
    assert requests.post(f"{api_url}apps.connections.open", timeout=5).json() == {"ok": False, "error": "not_authed"}
    with pytest.raises(SlackApiError) as refused:  # and the app-level token is no bot token
        WebClient(base_url=api_url, token=APP_TOKEN).chat_postMessage(channel="#general", text="hi")
    assert refused.value.response["error"] == "not_allowed_token_type"


def test_link_says_hello_answers_pings_and_carries_envelopes_and_acks(
    socket_mode: tuple[SocketModeServer, str],
) -> None:
    server, api_url = socket_mode
    url = WebClient(base_url=api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    client = RawClient(url)
    try:
        assert client.status == 101
        assert client.headers["Sec-WebSocket-Accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3's example
        hello = client.recv_json()
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": server.slack.app_id}
        client.send(OP_PING, b"are you there")
        assert client.recv() == (OP_PONG, b"are you there")
        with ThreadPoolExecutor(1) as pool:
            envelope = server.envelope("slash_commands", {"command": "/engops", "text": "help"})
            acked = pool.submit(server.deliver, envelope, 5.0)
            received = client.recv_json()
            assert received == {**envelope, "accepts_response_payload": True}
            client.send_json({"envelope_id": received["envelope_id"], "payload": {"text": "hi"}})
            assert acked.result(5).payload == {"text": "hi"}
        server.disconnect("refresh_requested")
        assert client.recv_json()["type"] == "disconnect"
        client.send(OP_TEXT, b'{"type": "x"}', masked=False)  # clients must mask: the server closes with 1002
        opcode, data = client.recv()
        assert opcode == OP_CLOSE and struct.unpack("!H", data[:2])[0] == 1002
        assert server.problems == ["connection 1: client frames must be masked"]
    finally:
        client.close()
    again = RawClient(url)  # the link is single-use
    try:
        assert again.status == 401
    finally:
        again.close()


# --- `engops socket` as a subprocess ------------------------------------------------------------------
def engops_env(env: dict[str, str], app_token: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OKTA_", "GOOGLE_", "GITLAB_"))}
    return {**base, **env, "SLACK_APP_TOKEN": app_token}


def start_engops_socket(env: dict[str, str], stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as sink:  # a file, not a pipe: a long-running process could fill a pipe and stall
        return subprocess.Popen(
            [sys.executable, "-m", "engops.cli", "socket"], env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT
        )


def wait_for_durable_work(stack: Stack, timeout: float = 30.0) -> None:
    """Until the process's durable work (its startup sweep) has finished: DBOS prints tracebacks when it
    is shut down under a running workflow, in any mode. Work the stopped in-process app had started
    stays PENDING under that app's executor id until that executor comes back; it is not waited for."""
    from dbos import DBOSClient

    from bot.db.engine import plain_url

    client = DBOSClient(system_database_url=plain_url(stack.env["DATABASE_URL"]))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = client.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False, load_output=False)
            orphaned = stack.options.executor_id
            if not [w for w in busy if not w.workflow_id.startswith("sched-") and w.executor_id != orphaned]:
                return
            time.sleep(0.2)
        raise TimeoutError("durable work still running")
    finally:
        client.destroy()


def policy_without_okta_roles(tmp_path: Path) -> Path:
    """The example policy with the help desk listed by email instead of by Okta group: the process's
    startup sweep then never loads the Okta SDK (seconds of imports), which this test does not need."""
    text = EXAMPLE_POLICY.read_text()
    listed = text.replace("helpdesk:  { okta_group: it-helpdesk }", "helpdesk:  { members: [grace@example.com] }")
    assert listed != text, "the example policy changed; update this test"
    path = tmp_path / "policy.yaml"
    path.write_text(listed)
    return path


def test_engops_socket_answers_commands_over_the_socket_and_stops_cleanly(stack: Stack, tmp_path: Path) -> None:
    stack.stop_app()  # only the stand-ins and the database stay; the app is the subprocess below
    server = SocketModeServer.attach(stack.slack, APP_TOKEN)
    stderr = tmp_path / "engops-socket.log"
    env = {**stack.env, "ENGOPS_POLICY": str(policy_without_okta_roles(tmp_path))}
    process = start_engops_socket(engops_env(env, APP_TOKEN), stderr)
    try:
        first = server.wait_connected(alive=lambda: process.poll() is None)
        driver = SocketDriver(server)

        help_reply = driver.command("alice", "/engops", "help")
        assert help_reply.status == 200
        shown = driver.ephemerals("alice")
        assert len(shown) == 1 and "/engops approvals" in message_as_text(shown[0].text, shown[0].blocks)

        access = driver.command("alice", "/access", channel="#general")
        assert access.status == 200 and access.body == b""  # a bare ack; the modal is the answer
        trigger = json.loads(access.request_body)["trigger_id"]
        opened = [call.json() for call in stack.slack.calls_to("POST", "/api/views.open")]
        assert [body["trigger_id"] for body in opened] == [trigger]
        view = driver.current_view("alice")
        assert view is not None and view.callback_id == modals.ACCESS_CALLBACK

        # interactive envelopes: an options request and a view_submission, answered in the ack
        offered = [option["value"] for option in driver.suggest("alice", modals.GROUP_ACTION, "aws")]
        assert "aws-sandbox-admins" in offered
        values = {"Okta group": "aws-sandbox-admins", "Duration": "soon", "Justification": "Staging incident"}
        assert driver.submit_view("alice", values).status == 200
        view = driver.current_view("alice")
        assert view is not None and view.errors == {"duration": "Write a duration like 30m, 8h or 7d."}

        # an events_api envelope: the App Home is published by the process's durable worker
        assert driver.open_home("alice").body == b""
        home = stack.wait_for(lambda: stack.slack.home("alice"), what="the App Home")
        assert "EngOps" in message_as_text("", home.blocks)

        # Slack recycles connections: `disconnect` makes the SDK open a new one and drop the old.
        server.disconnect("refresh_requested")
        second = server.wait_connected(count=2, alive=lambda: process.poll() is None)
        server.wait_closed(first)
        assert server.tickets_issued == 2
        driver.command("bob", "/engops", "help")
        assert "/engops approvals" in message_as_text(driver.ephemerals("bob")[-1].text, [])
        assert server.problems == []
        assert all(set(m) <= {"envelope_id", "payload"} for c in server.connections for m in c.messages)

        wait_for_durable_work(stack)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, stderr.read_text()
        server.wait_closed(second)
        assert not server.live_connections()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.stop()
    log = stderr.read_text()
    assert "Traceback" not in log, log
    assert APP_TOKEN not in log and BOT_TOKEN not in log


def test_engops_socket_with_a_wrong_app_token_fails_in_one_line(
    socket_mode: tuple[SocketModeServer, str], database_url: str, tmp_path: Path
) -> None:
    server, api_url = socket_mode
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "ENGOPS_POLICY": str(EXAMPLE_POLICY),
    }
    stderr = tmp_path / "engops-socket.log"
    process = start_engops_socket(engops_env(env, "xapp-1-A0ENGOPS01-1-wrong"), stderr)
    assert process.wait(timeout=60) == 1
    log = stderr.read_text()
    assert log.strip().splitlines()[-1] == "SLACK_APP_TOKEN: Slack refused Socket Mode (invalid_auth)"
    assert "Traceback" not in log and "xapp-1-A0ENGOPS01-1-wrong" not in log
    assert server.connections == []
