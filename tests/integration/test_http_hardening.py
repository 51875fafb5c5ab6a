"""`engops serve` stays reachable when clients send slowly or too much (issue 15, defect 9).

waitress reads a request whole before a thread sees it, so slow clients cost connection slots: with its
defaults, 110 half-open sockets took /healthz down for minutes, and a body was buffered up to 1 GiB before
the app could refuse it. The deadlines below only stop a hung test; the bot answers in milliseconds.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from engops.sandbox.stack import EXAMPLE_POLICY
from engops.web import MAX_REQUEST_BODY
from tests.support.processes import BotProcesses

HANG_GUARD = 20.0  # seconds; far beyond any answer of a healthy server, far below waitress's old 120 s timeout
SLOW_CLIENTS = 150  # more than waitress's default connection limit of 100


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One `engops serve --no-worker` for the module (what is tested is its HTTP server, not its database)."""
    tmp = tmp_path_factory.mktemp("hardening")
    env = {
        "SLACK_BOT_TOKEN": "xoxb-hardening",
        "SLACK_SIGNING_SECRET": "hardening-signing-secret",
        "DATABASE_URL": f"sqlite:///{tmp / 'engops.db'}",
        "ENGOPS_POLICY": str(EXAMPLE_POLICY),
    }
    with BotProcesses(env, tmp / "logs") as processes:
        url = urlsplit(processes.web("web"))
        assert url.hostname is not None and url.port is not None
        yield url.hostname, url.port


def get(address: tuple[str, int], path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=HANG_GUARD)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_slow_clients_do_not_take_healthz_down(bot: tuple[str, int]) -> None:
    stalled: list[socket.socket] = []
    try:
        for i in range(SLOW_CLIENTS):
            client = socket.create_connection(bot, timeout=HANG_GUARD)
            stalled.append(client)
            if i % 2:  # headers that never end
                client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slack-Request-Timestamp: 1")
            else:  # a body that never arrives
                client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Length: 5000\r\n\r\npayload=")
        assert get(bot, "/healthz") == (200, b"ok")
    finally:
        for client in stalled:
            client.close()


def test_a_body_over_the_limit_is_refused_from_its_headers(bot: tuple[str, int]) -> None:
    with socket.create_connection(bot, timeout=HANG_GUARD) as client:
        client.sendall(
            b"POST /gitlab/webhook HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAX_REQUEST_BODY + 1)
        )
        answer = client.recv(4096)  # not one byte of the body was sent: the server answers without it
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_a_large_gitlab_event_is_not_refused_for_its_size(bot: tuple[str, int]) -> None:
    """A Note Hook on an issue with a long description exceeds Slack's 1 MB: it reaches the webhook's own checks."""
    body = b'{"object_kind": "note", "description": "' + b"x" * 2_000_000 + b'"}'
    conn = http.client.HTTPConnection(*bot, timeout=HANG_GUARD)
    try:
        conn.request("POST", "/gitlab/webhook", body, {"Content-Type": "application/json", "X-Gitlab-Token": "nope"})
        assert conn.getresponse().status == 401  # the token is wrong; the size was fine
    finally:
        conn.close()


def test_a_slack_request_over_1_mb_is_refused(bot: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*bot, timeout=HANG_GUARD)
    try:
        conn.request("POST", "/slack/events", b"payload=" + b"x" * 1_000_000, {"Content-Type": "text/plain"})
        assert conn.getresponse().status == 413
    finally:
        conn.close()
