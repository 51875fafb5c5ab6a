"""App Engine's warm-up request (`inbound_services: warmup` in app.yaml) reaches `engops serve --no-worker`,
as app.yaml runs it, and is answered once the bot can serve (issue 15, defect 11)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from engops.sandbox.stack import EXAMPLE_POLICY
from tests.support.processes import BotProcesses


def test_the_warmup_request_is_answered_when_the_bot_is_ready(tmp_path: Path, database_url: str) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-warmup",
        "SLACK_SIGNING_SECRET": "warmup-signing-secret",
        "DATABASE_URL": database_url,
        "ENGOPS_POLICY": str(EXAMPLE_POLICY),
    }
    with BotProcesses(env, tmp_path / "logs") as processes:
        url = processes.web("web")
        with urllib.request.urlopen(f"{url}/_ah/warmup", timeout=30) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"ready": True}
