"""Changing the people directory behind the bot (the Okta stand-in) while a test runs."""

from __future__ import annotations

from engops.sandbox.stack import Stack


def set_manager(stack: Stack, who: str, manager: str) -> None:
    with stack.okta.lock:
        user = next(u for u in stack.okta.users.values() if u.login == f"{who}@example.com")
        user.manager_login = f"{manager}@example.com"
