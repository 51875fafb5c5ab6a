"""`engops manifest --url` takes the public base URL of `engops serve` or its full events URL, as people paste
either; every request URL in the manifest is then the one events URL, never `/slack/events/slack/events`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cli import run


def request_urls(manifest: dict[str, Any]) -> set[str]:
    settings = manifest["settings"]
    return {
        settings["event_subscriptions"]["request_url"],
        settings["interactivity"]["request_url"],
        settings["interactivity"]["message_menu_options_url"],
        *(command["url"] for command in manifest["features"]["slash_commands"]),
    }


@pytest.mark.parametrize(
    "given",
    [
        "https://bot.corp.example",
        "https://bot.corp.example/",
        "https://bot.corp.example/slack/events",
        "https://bot.corp.example/slack/events/",
    ],
)
def test_a_base_url_or_the_events_url_gives_one_events_url(given: str) -> None:
    result = run(["manifest", "--url", given], {})
    assert result.returncode == 0, result.stderr
    assert request_urls(json.loads(result.stdout)) == {"https://bot.corp.example/slack/events"}


def test_a_base_url_under_a_path_keeps_its_path() -> None:
    result = run(["manifest", "--url", "https://corp.example/engops/slack/events"], {})
    assert request_urls(json.loads(result.stdout)) == {"https://corp.example/engops/slack/events"}
    result = run(["manifest", "--url", "https://corp.example/engops"], {})
    assert request_urls(json.loads(result.stdout)) == {"https://corp.example/engops/slack/events"}
