"""`engops sandbox` start-up: a second run on the same data dir starts fresh; a busy port is said plainly."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from engops.sandbox.run import run_sandbox, start_sandbox


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_second_run_on_the_same_data_dir_starts_fresh(tmp_path: Path) -> None:
    first = start_sandbox(port=0, data_dir=tmp_path)
    try:
        assert first.stack.driver is not None
        first.stack.driver.command("alice", "/access", "zoom-users")
        first.stack.driver.submit_view("alice", {"Justification": "calls"})
        first.stack.wait_idle()
        assert "REQ-1" in first.stack.driver.dm_text("alice")
    finally:
        first.stop()
    second = start_sandbox(port=0, data_dir=tmp_path)
    try:
        assert second.stack.driver is not None
        second.stack.driver.command("bob", "/access", "zoom-users")
        second.stack.driver.submit_view("bob", {"Justification": "calls"})
        second.stack.wait_idle()
        assert "REQ-1" in second.stack.driver.dm_text("bob")  # numbering restarts: the old database is gone
        screen = get_json(f"{second.url}/api/screen?user=bob")
        dm = next(c for c in screen["conversations"] if c["kind"] == "im")
        assert dm["messages"], "the console shows bob's DM with the bot"
    finally:
        second.stop()


def test_busy_port_is_reported_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_info:
            run_sandbox(port=port, data_dir=tmp_path, wait=lambda: None)
    assert exit_info.value.code == 1
    assert f"cannot start the sandbox console on 127.0.0.1:{port}" in capsys.readouterr().err
