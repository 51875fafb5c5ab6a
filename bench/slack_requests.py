"""Signed-request bodies shaped like Slack's, for the benchmarks."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode


def command_body(command: str, text: str, user: str = "U00000003", nonce: int = 0, trigger: str = "") -> bytes:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0SANDBOX1",
            "team_domain": "engops-sandbox",
            "channel_id": "C1",
            "channel_name": "general",
            "user_id": user,
            "user_name": "someone",
            "command": command,
            "text": text,
            "api_app_id": "A0ENGOPS01",
            "response_url": "http://127.0.0.1:9/none",
            "trigger_id": trigger or f"1.2.{nonce}",
        }
    ).encode()


def approve_body(request_id: int, approver: str, nonce: int) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": approver, "username": "oscar", "name": "oscar", "team_id": "T0SANDBOX1"},
        "api_app_id": "A0ENGOPS01",
        "token": "x",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "D1", "is_ephemeral": False},
        "trigger_id": f"9.9.{nonce}",
        "team": {"id": "T0SANDBOX1", "domain": "engops-sandbox"},
        "channel": {"id": "D1", "name": "directmessage"},
        "response_url": "http://127.0.0.1:9/none",
        "actions": [
            {
                "action_id": "request_approve",
                "block_id": f"req-{request_id}-actions",
                "text": {"type": "plain_text", "text": "Approve"},
                "value": str(request_id),
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
