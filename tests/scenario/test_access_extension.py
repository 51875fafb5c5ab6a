"""A request for a group held already through the bot extends that grant (SPEC §6.2): one grant, the later end,
the card saying so before anyone approves."""

from __future__ import annotations

from sqlmodel import select

from bot.db.engine import Database
from bot.db.models import Grant
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack
from tests.support.slack_actions import request_access


def db_of(stack: Stack) -> Database:
    assert stack.web is not None
    db: Database = stack.web.services.db
    return db


def grants(stack: Stack) -> list[tuple[int, str, str | None]]:
    with db_of(stack).session() as session:
        return [
            (g.request_id, g.status, f"{g.expires_at:%H:%M}" if g.expires_at else None)
            for g in session.exec(select(Grant).order_by(Grant.id))  # type: ignore[arg-type]
        ]


def test_a_second_request_extends_the_grant_and_the_card_says_to_when(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", "3d", "Quarter close")
    driver.click("oscar", "Approve")
    stack.wait_idle()
    [(first, status, ends)] = grants(stack)
    assert status == "active"

    stack.advance(days=2)
    request_access(stack, "alice", "netsuite-finance", "3d", "The close slipped")
    card = driver.latest("oscar")
    assert card is not None
    text = message_as_text(card.text, card.blocks)
    assert "extends the grant of netsuite-finance to alice@example.com ending" in text and "(REQ-1)" in text
    driver.click("oscar", "Approve", message=card)
    stack.wait_idle()
    assert "grant of netsuite-finance (REQ-1) now ends" in driver.dm_text("alice")
    [(request, status, later)] = grants(stack)  # still one grant: REQ-1's, with the later end
    assert (request, status) == (first, "active") and later is not None

    stack.advance(days=1, minutes=1)  # past the first end: nothing is removed
    stack.run_sweep()
    stack.wait_idle()
    assert "alice@example.com" in stack.okta.members("netsuite-finance")
    stack.advance(days=2)  # past the extended end
    stack.run_sweep()
    stack.wait_idle()
    assert "alice@example.com" not in stack.okta.members("netsuite-finance")
    assert grants(stack)[0][1] == "ended"


def test_a_shorter_extension_keeps_the_later_end(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    request_access(stack, "alice", "netsuite-finance", "3d", "Quarter close")
    driver.click("oscar", "Approve")
    stack.wait_idle()
    [(_, _, ends)] = grants(stack)
    request_access(stack, "alice", "netsuite-finance", "1d", "Just in case")
    card = driver.latest("oscar")
    assert card is not None
    assert "it already ends later, so it stays as it is" in message_as_text(card.text, card.blocks)
    driver.click("oscar", "Approve", message=card)
    stack.wait_idle()
    assert [g[2] for g in grants(stack)] == [ends]  # one grant, the later end kept
