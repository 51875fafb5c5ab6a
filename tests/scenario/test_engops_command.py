"""`/engops` and the HTTP surface, driven as Slack drives them."""

from __future__ import annotations

import json
import time

import requests

from engops.sandbox.stack import Stack
from tests.support.slack import reply_to


def test_help_answers_ephemerally(stack: Stack) -> None:
    text = reply_to(stack, "alice", "/engops")
    assert "/access" in text and "/engops status REQ-n" in text


def test_unknown_subcommand_and_bad_status(stack: Stack) -> None:
    assert "don't know" in reply_to(stack, "alice", "/engops", "frobnicate")
    assert "Which request?" in reply_to(stack, "alice", "/engops", "status nonsense")
    assert "does not exist" in reply_to(stack, "alice", "/engops", "status REQ-999")


def test_mine_and_approvals_when_empty(stack: Stack) -> None:
    assert "none" in reply_to(stack, "alice", "/engops", "mine")
    assert reply_to(stack, "alice", "/engops", "approvals") == "Nothing waits on your approval."


def test_unsigned_stale_and_forged_requests_get_401(stack: Stack) -> None:
    assert stack.driver is not None
    body = b"command=%2Fengops&text=help&user_id=U00000003&team_id=T0SANDBOX1"
    unsigned = stack.driver.raw(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status == 401
    headers = stack.driver.signed_headers(body, "application/x-www-form-urlencoded", timestamp=time.time() - 301)
    assert stack.driver.raw(body, headers).status == 401
    headers = stack.driver.signed_headers(body, "application/x-www-form-urlencoded")
    assert stack.driver.raw(body + b"&tampered=1", headers).status == 401


def test_malformed_payload_is_400_not_500(stack: Stack) -> None:
    assert stack.driver is not None
    for body in (b"payload=%7Bnot-json", b"\xff\xfe", b"payload=%5B%5D"):
        headers = stack.driver.signed_headers(body, "application/x-www-form-urlencoded")
        assert stack.driver.raw(body, headers).status in (400, 404), body


def test_unknown_command_gets_a_clear_answer(stack: Stack) -> None:
    assert "don't know the command" in reply_to(stack, "alice", "/frobnicate", "x")


def test_health_ready_and_metrics(stack: Stack) -> None:
    assert requests.get(f"{stack.url}/healthz", timeout=5).text == "ok"
    ready = requests.get(f"{stack.url}/readyz", timeout=5)
    assert ready.status_code == 200 and json.loads(ready.text)["ready"] is True
    assert stack.driver is not None
    stack.driver.command("alice", "/engops", "help")
    metrics = requests.get(f"{stack.url}/metrics", timeout=5).text
    assert 'engops_slack_requests_total{kind="command",status="200"}' in metrics


def test_a_replayed_request_is_refused(stack: Stack) -> None:
    assert stack.driver is not None
    body = b"command=%2Fengops&text=help&user_id=U00000003&team_id=T0SANDBOX1&channel_id=C1&trigger_id=1.2"
    headers = stack.driver.signed_headers(body, "application/x-www-form-urlencoded")
    assert stack.driver.raw(body, headers).status == 200
    assert stack.driver.raw(body, headers).status == 401
