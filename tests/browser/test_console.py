"""The sandbox console in a real browser: each product flow clicked through as people would in Slack,
its effect read from the stand-ins panel, and a screenshot of each step for the docs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Console, command_registered
from tests.support.gitlab import ACCESS, INFRA, INTEGRATIONS, OPERATIONS


def test_access_request_approved_by_manager_then_owner(console: Console) -> None:
    page, expect = console.page, console.expect
    console.open("alice", "general")
    console.send_for_modal("/access")
    expect(console.modal.locator(".modal-title")).to_have_text("Request access")
    console.type_ahead("Okta group", "sandbox", "aws-sandbox-admins")
    console.fill("Justification", "Debugging the staging incident")
    console.fill("Duration", "3d")
    console.submit()
    # the app's own check comes back as an inline error (response_action "errors") under the field
    expect(console.field("Duration").locator(".bk-error")).to_contain_text("At most 8h for aws-sandbox-admins")
    console.fill("Duration", "4h")
    console.screenshot("access-1-request-modal")
    console.submit()
    expect(console.modal.locator(".modal-title")).to_have_text("Request submitted")
    expect(console.modal).to_contain_text("REQ-1")
    console.close_modal()
    expect(console.message("REQ-1 · Access request")).to_contain_text("Waiting for approval")  # the channel copy

    console.be("mona")  # alice's manager, from her Okta profile
    expect(page.locator('#sidebar [data-conv="dm"] .badge')).to_be_visible()
    console.dm()
    card = console.message("REQ-1 · Access request")
    expect(card).to_contain_text("Okta: add alice@example.com to aws-sandbox-admins")
    expect(card).to_contain_text("manager: waiting for mona@example.com")
    console.screenshot("access-2-manager-approves-in-dm")
    console.click("Approve", card)
    # the same card is updated in place from the stored state, without reloading the page
    expect(card).to_contain_text("manager: approved by mona@example.com")
    expect(card.locator(".bk-button", has_text="Approve")).to_have_count(0)
    group = console.panel.locator('[data-okta-group="aws-sandbox-admins"]')
    expect(group.locator('[data-login="alice@example.com"]')).to_have_count(0)

    console.be("erin")  # the group's owner
    console.dm()
    card = console.message("REQ-1 · Access request")
    console.click("Approve", card)
    expect(card).to_contain_text("Done")
    expect(group.locator('[data-login="alice@example.com"]')).to_be_visible()

    console.be("alice")
    console.dm()
    expect(page.locator("#messages")).to_contain_text("Done: alice@example.com is now in aws-sandbox-admins")
    console.screenshot("access-3-granted", group)
    assert console.same_document()


def test_home_shortcut_and_ephemeral_reply(console: Console) -> None:
    page, expect = console.page, console.expect
    console.open("carol", "it-engops")
    console.send("/engops help")
    reply = page.locator("#messages > .msg.ephemeral").last
    expect(reply).to_contain_text("Only visible to you")
    expect(reply.locator("b").first).to_have_text("EngOps Bot")  # mrkdwn *bold* rendered
    expect(reply.locator("code").first).to_have_text("/access")
    # a global shortcut opens the same modal as /access; Cancel closes it
    page.click("#shortcuts-btn")
    page.click('#shortcut-menu [data-shortcut="request_access"]')
    expect(console.modal.locator(".modal-title")).to_have_text("Request access")
    console.close_modal()
    # an unknown slash command is refused by the client, as in Slack
    console.send_once("/nope")
    expect(page.locator(".toast.error")).to_contain_text("/nope is not a valid command")
    page.locator(".toast.error").click()  # dismissed
    # the command's words pre-fill the modal; zoom-users needs no approval
    console.send("/access zoom-users 2h Customer calls")
    expect(console.field("Okta group").locator(".chip")).to_contain_text("zoom-users")
    expect(console.field("Justification").locator("textarea")).to_have_value("Customer calls")
    console.submit()
    expect(console.modal.locator(".modal-title")).to_have_text("Request submitted")
    console.close_modal()
    zoom = console.panel.locator('[data-okta-group="zoom-users"]')
    expect(zoom.locator('[data-login="carol@example.com"]')).to_be_visible()
    # the App Home lists the grant with its button; the click comes from the Home surface
    console.home()
    home = page.locator("#home")
    expect(home).to_contain_text("Nothing waits on you.")
    grant = home.locator(".bk-section", has_text="zoom-users")
    expect(grant).to_contain_text("REQ-1")
    console.screenshot("home-1-app-home")
    console.click("Revoke now", grant)
    expect(zoom.locator('[data-login="carol@example.com"]')).to_have_count(0)
    assert console.same_document()


@pytest.mark.skipif(
    not command_registered("offboard"), reason="/offboard is not registered in commands/__init__.py yet"
)
def test_offboarding_needs_a_second_person(console: Console) -> None:
    expect = console.expect
    console.open("hank", "it-engops")  # help desk
    console.send_for_modal("/offboard @alice")
    expect(console.modal).to_contain_text("Google: suspend alice@example.com (currently active")
    expect(console.modal).to_contain_text("AWS: deactivate 1 access key of IAM user alice")
    console.fill("Reason", "Last day was Friday (HR-1234)")
    console.screenshot("offboarding-1-preview")
    console.submit()
    expect(console.modal.locator(".modal-title")).to_have_text("Offboarding submitted")
    console.close_modal()
    console.dm()
    own = console.message("Offboarding")
    expect(own).to_contain_text("Waiting for approval")
    expect(own.locator(".bk-button", has_text="Approve")).to_have_count(0)  # never your own request
    expect(console.panel.locator('[data-google-suspended="alice@example.com"]')).to_have_count(0)

    console.be("grace")  # role:it-admins, the second person
    console.dm()
    card = console.message("Offboarding")
    console.click("Approve", card)
    panel = console.panel
    expect(panel.locator('[data-google-suspended="alice@example.com"]')).to_be_visible()
    expect(panel.locator('[data-okta-user="alice@example.com"]')).to_have_attribute("data-status", "SUSPENDED")
    expect(panel.locator('.iam-key[data-iam-user="alice"]')).to_have_attribute("data-status", "Inactive")
    expect(console.tracker(ACCESS).locator(".issue")).to_contain_text("alice@example.com")
    console.channel("it-engops")
    progress = console.message("Offboarding progress")
    expect(progress).to_contain_text("alice@example.com")
    console.screenshot("offboarding-2-done", progress, panel.locator('[data-panel="google"]'))
    assert console.same_document()


@pytest.mark.skipif(not command_registered("it_request"), reason="/it is not registered in commands/__init__.py yet")
def test_it_request_lands_in_the_channels_tracker(console: Console) -> None:
    expect = console.expect
    console.open("carol", "bt-integrations")
    console.send_for_modal("/it Invoices stopped syncing to the billing system")
    expect(console.modal.locator(".modal-title")).to_have_text("File an IT request")
    expect(console.field("Summary").locator("input")).to_have_value("Invoices stopped syncing to the billing system")
    console.fill("Details", "Since this morning new invoices are missing downstream.")
    console.screenshot("it-request-1-modal")
    console.submit()
    expect(console.modal.locator(".modal-title")).to_have_text("Request received")
    console.close_modal()
    # no keyword names a team: the channel's team (integrations) gets it, with its labels
    issue = console.tracker(INTEGRATIONS).locator(".issue", has_text="Invoices stopped syncing")
    expect(issue).to_be_visible()
    expect(issue.locator(".chip.label", has_text="team::integrations")).to_be_visible()
    for other in (ACCESS, OPERATIONS):
        expect(console.tracker(other).locator(".issue")).to_have_count(0)
    # the bot's reply in the channel links the issue; the link opens it in the panel with what was filed
    console.message("IT request from").locator("a", has_text="integrations-work#1").first.click()
    expect(issue.locator(".issue-description")).to_contain_text("Since this morning new invoices are missing")
    console.screenshot("it-request-2-filed", issue)
    assert console.same_document()


@pytest.mark.skipif(
    not command_registered("escalate"), reason="escalation is not registered in commands/__init__.py yet"
)
def test_message_shortcut_escalates_a_message(console: Console) -> None:
    expect = console.expect
    console.open("carol", "general")
    console.send("My laptop cannot reach the VPN since the update")
    expect(console.message("cannot reach the VPN")).to_be_visible()  # carol sees it sent before anyone acts on it
    console.be("hank")  # help desk
    expect(console.message("cannot reach the VPN")).to_be_visible()
    console.shortcut("cannot reach the VPN", "escalate_message")
    expect(console.modal.locator(".modal-title")).to_have_text("Escalate to EngOps")
    expect(console.field("Summary").locator("input")).to_have_value("My laptop cannot reach the VPN since the update")
    console.fill("Details", "Carol is blocked; reinstalling the client did not help.")
    console.screenshot("escalate-1-message-shortcut")
    console.submit()
    expect(console.modal.locator(".modal-submit")).to_have_count(0)  # the "escalated" confirmation
    console.close_modal()
    # "laptop" routes it to Operations; the issue carries the Slack thread's transcript
    issue = console.tracker(OPERATIONS).locator(".issue", has_text="VPN")
    expect(issue).to_be_visible()
    issue.locator(".issue-toggle").click()
    expect(issue.locator(".issue-description")).to_contain_text("Slack thread")
    expect(issue.locator(".issue-description")).to_contain_text("Carol Chen")
    # the team's DRI is paged in the team channel and acknowledges with a click
    console.be("frank")
    console.channel("it-engops")
    paged = console.message("VPN")
    console.click("I'm on it", paged)
    expect(paged.locator(".bk-button", has_text="I'm on it")).to_have_count(0)
    expect(paged).to_contain_text("@frank is on it")
    assert console.same_document()
    console.screenshot("escalate-2-acknowledged", paged, issue)


@pytest.mark.skipif(
    not command_registered("rotate_keys"), reason="/rotate-keys is not registered in commands/__init__.py yet"
)
def test_key_rotation_shows_new_key_and_secret(console: Console) -> None:
    page, expect = console.page, console.expect
    console.open("alice", "general")
    old = page.locator('#panel .iam-key[data-iam-user="alice"]')
    expect(old).to_have_count(1)
    console.send_for_modal("/rotate-keys")
    expect(console.modal).to_contain_text("IAM user")
    expect(console.modal).to_contain_text("last used 20 days ago")
    console.submit()
    expect(old).to_have_count(2)  # the new key beside the old one, both active during the grace period
    expect(page.locator('#panel [data-secret="engops/iam/alice"]')).to_be_visible()
    console.close_modal()
    console.dm()
    notice = console.message("engops/iam/alice")
    expect(notice.locator(".bk-button", has_text="Reactivate old key")).to_be_visible()
    console.screenshot("rotate-keys-1-rotated", notice, page.locator('#panel [data-panel="aws"]'))
    assert console.same_document()


@pytest.mark.skipif(not command_registered("it_request"), reason="/it is not registered in commands/__init__.py yet")
def test_triage_asks_which_team_and_intake_by_emoji(console: Console) -> None:
    expect = console.expect
    console.open("carol", "general")  # a channel without a team: what carol writes decides
    console.send_for_modal("/it")
    expect(console.field("Team").locator("select option:checked")).to_have_text("Not sure — route it for me")
    console.fill("Summary", "Invoices from Zuora stopped syncing to NetSuite")
    console.submit()
    expect(console.modal.locator(".modal-title")).to_have_text("Request received")
    console.close_modal()
    # sure enough: filed with Integrations at once, and the issue says why
    zuora = console.tracker(INTEGRATIONS).locator(".issue", has_text="Invoices from Zuora")
    expect(zuora).to_be_visible()
    expect(zuora.locator(".issue-description")).to_contain_text("matched:")
    expect(zuora.locator(".issue-description")).to_contain_text("zuora")

    # unsure: a second modal asks which of the two likeliest teams should take it, nothing filed meanwhile
    console.send_for_modal("/it")
    console.fill("Summary", "webhook for the status page")
    console.submit()
    question = console.field("Which team should take it?")
    expect(question.locator("input[type=radio]")).to_have_count(2)
    expect(console.modal).to_contain_text("I'm not sure which team should take this request")
    expect(console.field("Summary").locator("input")).to_have_value("webhook for the status page")
    expect(console.panel.locator(".issue", has_text="webhook for the status page")).to_have_count(0)
    expect(question).to_contain_text("Enterprise Applications Integrations")
    question.locator(".bk-check", has_text="Infrastructure").locator("input").check()
    console.screenshot("triage-1-asks-which-team")
    console.submit()
    expect(console.modal.locator(".modal-title")).to_have_text("Request received")
    console.close_modal()
    asked = console.tracker(INFRA).locator(".issue", has_text="webhook for the status page")
    expect(asked.locator(".issue-description")).to_contain_text("**Team:** Infrastructure")
    expect(asked.locator(".issue-description")).to_contain_text("triage leaned to")
    expect(console.tracker(INTEGRATIONS).locator(".issue", has_text="status page")).to_have_count(0)

    # intake by emoji: a help-desk member's 👀 on a message in #it-help files its thread as an escalation
    console.channel("it-help")
    console.send("Payroll sync to NetSuite failed again, no exports since 9am")
    expect(console.message("Payroll sync to NetSuite")).to_be_visible()
    console.be("hank")  # help desk
    console.react("Payroll sync to NetSuite", "eyes")
    said = console.message("Payroll sync to NetSuite")
    expect(said.locator('.reaction[data-reaction="eyes"]')).to_contain_text("1")
    expect(said.locator('.reaction[data-reaction="white_check_mark"]')).to_be_visible()  # the bot's
    link = said.locator(".thread .msg.reply", has_text="is filed with").locator("a", has_text="integrations-work#")
    expect(link).to_be_visible()
    escalation = console.tracker(INTEGRATIONS).locator(".issue", has_text="Payroll sync to NetSuite")
    expect(escalation.locator(".chip.label", has_text="escalation")).to_be_visible()
    link.first.click()  # opens it in the panel, with the thread's transcript
    expect(escalation.locator(".issue-description")).to_be_visible()
    expect(escalation.locator(".issue-description")).to_contain_text("Requester:** Hank Hill")
    expect(escalation.locator(".issue-description")).to_contain_text("Carol Chen")
    console.screenshot("triage-2-intake-by-emoji", said, escalation)
    assert console.same_document()


MRKDWN_CASES = [
    # (Slack text, what the reader sees, the elements it is drawn with)
    ("*bold* _it_ ~gone~ `x < y`", "bold it gone x < y", ["b", "i", "s", "code"]),
    ("*<https://x.test/1|REQ-1>* and <https://x.test/2>", "REQ-1 and https://x.test/2", ["b", "a", "a"]),
    ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4", []),
    ("&lt;@U1&gt; &amp;lt; <@U00000003> <!here>", "<@U1> &lt; @alice @here", ["span", "span"]),
    ("&gt; quoted\n&gt; twice\nafter", "quoted\ntwiceafter", ["blockquote"]),  # a block: no newline after
    ("<!date^1699963200^{date_num} at {nope}|the fallback>", "the fallback", ["span"]),
    ("<!date^1699963200^{date_num}|fallback>", "2023-11-14", ["span"]),
    ("<javascript:alert(1)|click> :white_check_mark: :no_such_emoji:", "click ✅ :no_such_emoji:", []),
    ("```*not bold*\n<b>```", "*not bold*\n<b>", ["pre"]),
]


def test_mrkdwn_is_drawn_as_slack_draws_it(browser: Any) -> None:
    from engops.sandbox.base import RunningServer
    from engops.sandbox.console.server import ConsoleApp

    with RunningServer(ConsoleApp()) as server:  # the page's static files need no stack
        page = browser.new_page()
        try:
            page.goto(f"{server.url}/static/console.css")
            drawn = page.evaluate(
                """async (cases) => {
                    const m = await import("/static/mrkdwn.js");
                    m.setNameResolvers({ user: (id) => (id === "U00000003" ? "alice" : id) });
                    return cases.map((text) => {
                        const box = document.createElement("div");
                        box.append(m.renderMrkdwn(text));
                        return [box.textContent, [...box.querySelectorAll("*")].map((e) => e.tagName.toLowerCase())];
                    });
                }""",
                [text for text, _, _ in MRKDWN_CASES],
            )
        finally:
            page.close()
    for (text, seen, tags), (got_text, got_tags) in zip(MRKDWN_CASES, drawn, strict=True):
        assert (got_text, got_tags) == (seen, tags), text
