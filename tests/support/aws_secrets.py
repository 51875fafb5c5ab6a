"""Catching the AWS secret keys the bot creates, so a test can look for them where they must not be."""

from __future__ import annotations

from typing import Any

import pytest

from bot.providers.aws import AwsAdapter, NewKeySecret


def capture_new_secrets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret access key `AwsAdapter.create_key` makes from now on, in order."""
    made: list[str] = []
    create_key = AwsAdapter.create_key

    def spy(self: AwsAdapter, user: str) -> tuple[Any, NewKeySecret]:
        key, secret = create_key(self, user)
        made.append(secret.secret_access_key.get_secret_value())
        return key, secret

    monkeypatch.setattr(AwsAdapter, "create_key", spy)
    return made
