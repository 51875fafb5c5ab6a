"""The access-request modal: type-ahead, pre-fill, inline errors, on behalf of, the shortcut."""

from __future__ import annotations

from engops.sandbox.slack import blocks_as_text
from engops.sandbox.stack import Stack


def _input_labels(stack: Stack, user: str) -> list[str]:
    assert stack.driver is not None
    view = stack.driver.current_view(user)
    assert view is not None
    return [b["label"]["text"] for b in view.blocks if b["type"] == "input"]


def test_type_ahead_offers_the_policy_groups_with_okta_descriptions(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # the startup sweep caches the Okta descriptions
    driver.command("alice", "/access", "")
    options = driver.suggest("alice", "group", "")
    assert [o["value"] for o in options] == ["aws-sandbox-admins", "zoom-users", "netsuite-finance"]
    assert options[0]["description"]["text"] == "Admin on the AWS sandbox accounts"
    assert [o["value"] for o in driver.suggest("alice", "group", "zoom")] == ["zoom-users"]
    assert driver.suggest("alice", "group", "everyone") == []  # not requestable by policy


def test_inline_errors_for_bad_input(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    driver.command("alice", "/access", "")
    driver.submit_view("alice", {"Okta group": "aws-sandbox-admins", "Justification": "   "})
    view = driver.current_view("alice")
    assert view is not None
    errors = view.errors if hasattr(view, "errors") else {}
    text = str(errors) + blocks_as_text(view.blocks)
    assert view.callback_id == "access_request"
    assert "needs a duration" in text and "Say why" in text
    driver.submit_view("alice", {"Duration": "2d", "Justification": "Incident"})
    view = driver.current_view("alice")
    assert view is not None and view.callback_id == "access_request"
    assert "At most 8h for aws-sandbox-admins" in str(getattr(view, "errors", "")) + blocks_as_text(view.blocks)
    driver.submit_view("alice", {"Duration": "soon", "Justification": "Incident"})
    view = driver.current_view("alice")
    assert view is not None and "Write a duration like" in str(getattr(view, "errors", ""))
    driver.submit_view("alice", {"Duration": "8h", "Justification": "Incident"})
    view = driver.current_view("alice")
    assert view is not None and "REQ-1" in blocks_as_text(view.blocks)


def test_command_text_prefills_the_form(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()
    driver.command("alice", "/access", "aws-sandbox-admins 4h fix the staging database")
    view = driver.current_view("alice")
    assert view is not None
    by_block = {b["block_id"]: b["element"] for b in view.blocks if b["type"] == "input"}
    assert by_block["group"]["initial_option"]["value"] == "aws-sandbox-admins"
    assert by_block["duration"]["initial_value"] == "4h"
    assert by_block["reason"]["initial_value"] == "fix the staging database"
    driver.submit_view("alice")
    stack.wait_idle()
    assert "Approve" in driver.labels(driver.latest("mona"))


def test_only_the_help_desk_may_request_on_behalf_of_someone(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # role cache filled at start
    driver.command("alice", "/access", "")
    assert "On behalf of (help desk)" not in _input_labels(stack, "alice")
    driver.close_view("alice")
    driver.command("hank", "/access", "")  # hank is in the it-helpdesk Okta group
    assert "On behalf of (help desk)" in _input_labels(stack, "hank")
    driver.submit_view(
        "hank",
        {"Okta group": "netsuite-finance", "Justification": "New hire in finance", "On behalf of (help desk)": "kim"},
    )
    stack.wait_idle()
    # kim's manager is oscar, who is also the owner; the card says who it is for
    card_text = driver.dm_text("oscar")
    assert "kim@example.com" in card_text
    driver.click("oscar", "Approve")
    stack.wait_idle()
    assert "kim@example.com" in stack.okta.members("netsuite-finance")
    assert "hank@example.com" not in stack.okta.members("netsuite-finance")


def test_request_access_shortcut_opens_the_modal(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    driver.global_shortcut("alice", "request_access")
    view = driver.current_view("alice")
    assert view is not None and view.callback_id == "access_request"
