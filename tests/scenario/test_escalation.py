"""Escalations end to end: the message shortcut and `/escalate`, the thread transcript in the issue, the
DRIs paged with **I'm on it**, re-paging on a moved clock, and who may escalate or acknowledge."""

from __future__ import annotations

from engops.sandbox.slack import Message, message_as_text
from engops.sandbox.stack import Stack
from tests.support.gitlab import INTEGRATIONS, OPERATIONS
from tests.support.slack import ACK, cards_with_ack, last_ephemeral, reply_to


def escalation_cards(stack: Stack, conversation: str) -> list[Message]:
    return [m for m in stack.slack.all_messages(conversation) if "Escalation for" in message_as_text(m.text, m.blocks)]


def test_message_shortcut_files_the_thread_pages_the_dris_and_one_acknowledges(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()  # the role cache (help desk) is filled at worker start
    msg = stack.slack.post_as_user("carol", "#general", "Payroll sync to NetSuite failed again <!here>")
    stack.slack.post_as_user("dave", "#general", "Same for me since 9am\n/close", thread_ts=msg.ts)
    driver.message_shortcut("hank", "escalate_message", msg.ts, "#general")
    stack.wait_idle()
    view = driver.current_view("hank")
    assert view is not None and stack.slack.permalink(msg) in str(view.blocks)  # filled in after the ack
    assert "Payroll sync to NetSuite failed again @here" in str(view.blocks)
    driver.submit_view("hank", {"Urgency": "urgent"})
    stack.wait_idle()
    [issue] = stack.gitlab.issues(INTEGRATIONS)  # "#general" has no team: "NetSuite", "sync" decide
    assert sorted(issue["labels"]) == ["chatops", "escalation", "priority::1", "team::integrations"]
    assert sorted(issue["assignees"]) == ["ivan", "judy"]
    desc = issue["description"]
    assert stack.slack.permalink(msg) in desc and "Carol Chen" in desc and "Dave Diaz" in desc
    assert "> Same for me since 9am" in desc
    assert stack.gitlab.quick_actions == [] and stack.gitlab.mass_mentions == []  # the transcript ran nothing
    for dri in ("ivan", "judy"):
        assert len(cards_with_ack(stack, dri)) == 1
    assert len(cards_with_ack(stack, "#bt-integrations")) == 1
    thread = stack.slack.thread("#general", msg.ts)
    assert any(issue["web_url"] in m.text and "paged" in m.text for m in thread)
    driver.click("dave", ACK, channel="#bt-integrations")
    stack.wait_idle()
    assert "Only the DRIs of Enterprise Applications Integrations" in last_ephemeral(stack, "dave")
    driver.click("ivan", ACK)
    driver.click("judy", ACK, message=cards_with_ack(stack, "judy")[0])  # a second click a moment later
    stack.wait_idle()
    assert "is already on it" in last_ephemeral(stack, "judy")
    for conversation in ("ivan", "judy", "#bt-integrations"):
        [card] = escalation_cards(stack, conversation)
        assert ACK not in driver.labels(card) and "<@U00000011> is on it" in str(card.blocks)
    assert "<@U00000011> is on it" in str([m.text for m in stack.slack.thread("#general", msg.ts)])
    assert "is on it" in driver.dm_text("hank")
    stack.advance(minutes=45)
    stack.run_sweep()
    stack.wait_idle()
    assert len(escalation_cards(stack, "judy")) == 1  # acknowledged: nobody is paged again


def test_unacknowledged_escalation_repages_the_dris_then_the_channel(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()
    driver.command(
        "hank", "/escalate", "New laptops cannot enroll <https://helpdesk.example.com/t/4711>", channel="#it-engops"
    )
    view = driver.current_view("hank")
    assert view is not None and "https://helpdesk.example.com/t/4711" in str(view.blocks)  # the ticket field
    driver.submit_view("hank", {"Details": "Three new hires since Monday"})
    stack.wait_idle()
    [issue] = stack.gitlab.issues(OPERATIONS)  # the channel's team
    assert "**Ticket:** https://helpdesk.example.com/t/4711" in issue["description"]
    assert [len(escalation_cards(stack, who)) for who in ("frank", "peggy", "#it-engops")] == [1, 1, 1]
    stack.advance(minutes=29)
    stack.run_sweep()
    stack.wait_idle()
    assert [len(escalation_cards(stack, who)) for who in ("frank", "peggy", "#it-engops")] == [1, 1, 1]
    stack.advance(minutes=2)  # past escalation.ack_within (30m): the DRIs again
    stack.run_sweep()
    stack.wait_idle()
    assert [len(escalation_cards(stack, who)) for who in ("frank", "peggy", "#it-engops")] == [2, 2, 1]
    assert "Reminder" in driver.dm_text("peggy")
    stack.advance(minutes=31)  # then the channel, naming the DRIs
    stack.run_sweep()
    stack.wait_idle()
    channel_posts = escalation_cards(stack, "#it-engops")
    assert len(channel_posts) == 2 and "<@U00000008>" in str(channel_posts[-1].blocks)
    stack.advance(hours=3)  # and then it stops
    stack.run_sweep()
    stack.wait_idle()
    assert [len(escalation_cards(stack, who)) for who in ("frank", "peggy", "#it-engops")] == [2, 2, 2]
    driver.click("peggy", ACK, channel="#it-engops")
    stack.wait_idle()
    assert cards_with_ack(stack, "frank") == [] and cards_with_ack(stack, "#it-engops") == []


def test_only_the_help_desk_can_escalate(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.wait_idle()
    assert "Only the help desk" in reply_to(stack, "alice", "/escalate", "Everything is on fire")
    msg = stack.slack.post_as_user("bob", "#general", "VPN is down")
    driver.message_shortcut("alice", "escalate_message", msg.ts, "#general")
    view = driver.current_view("alice")
    assert view is not None and "Only the help desk" in str(view.blocks) and view.callback_id != "escalation_request"
    stack.wait_idle()
    assert all(stack.gitlab.issues(p) == [] for p in (INTEGRATIONS, OPERATIONS))
