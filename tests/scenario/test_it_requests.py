"""`/it` end to end: triage, labels, DRIs, confidentiality, the Slack thread, duplicates, bad input and a
tracker that fails — checked at the GitLab stand-in, which executes quick actions like GitLab does."""

from __future__ import annotations

import json

from engops.sandbox.base import Fault
from engops.sandbox.slack import message_as_text
from engops.sandbox.stack import Stack
from tests.support.gitlab import ACCESS, INFRA, INTEGRATIONS, OPERATIONS
from tests.support.slack import reply_to
from tests.support.slack_actions import file_request


def posted(stack: Stack, channel: str) -> str:
    """Everything the bot posted in a conversation, raw (mrkdwn as sent, blocks included)."""
    return json.dumps([(m.text, m.blocks) for m in stack.slack.all_messages(channel)])


def test_request_is_triaged_filed_and_linked_in_its_thread(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    file_request(
        stack,
        "alice",
        {"Details": "Private, versioning on, about 50 GB", "Urgency": "High"},
        text="Need an S3 bucket for marketing assets",
    )
    [issue] = stack.gitlab.issues(INFRA)  # "S3" -> bucket -> Infrastructure; nothing anywhere else
    assert all(not stack.gitlab.issues(p) for p in (ACCESS, INTEGRATIONS, OPERATIONS))
    assert issue["title"] == "Need an S3 bucket for marketing assets (REQ-1)"
    assert sorted(issue["labels"]) == ["chatops", "it-request", "priority::2", "team::infrastructure"]
    assert issue["assignees"] == ["erin"] and not issue["confidential"] and issue["state"] == "opened"
    root = stack.slack.messages("#general")[-1]
    desc = issue["description"]
    assert "Alice Archer (alice@example.com)" in desc and "Private, versioning on" in desc
    assert stack.slack.permalink(root) in desc and "Infrastructure (matched: bucket" in desc
    replies = stack.slack.thread("#general", root.ts)[1:]
    assert len(replies) == 1 and issue["web_url"] in replies[0].text
    assert issue["web_url"] in message_as_text(root.text, root.blocks)  # the root says where it went
    assert issue["web_url"] in driver.dm_text("alice")
    assert "Filed in GitLab" in reply_to(stack, "alice", "/engops", "status REQ-1")


def test_form_choice_channel_team_dris_and_confidentiality(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.gitlab.user_by_username("peggy").state = "blocked"  # an Operations DRI GitLab cannot find
    file_request(
        stack,
        "alice",
        {"Team": "Operations", "Summary": "My account is locked after the password reset"},
        channel="#infra-access-requests",
    )
    [issue] = stack.gitlab.issues(OPERATIONS)  # the form's choice beats the channel's team
    assert issue["assignees"] == ["fwheeler"]  # frank's private email: found through org.gitlab_usernames
    assert "DRIs not found in GitLab (not assigned):** peggy@example.com" in issue["description"]
    assert issue["confidential"] and "mentions credentials, mentions a person's account" in issue["description"]
    for text in (posted(stack, "#infra-access-requests"), driver.dm_text("alice")):
        assert "account is locked" not in text and issue["web_url"] in text  # the link, never the content
    file_request(stack, "bob", {"Summary": "The nightly job did not run"}, channel="#bt-integrations")
    [routed] = stack.gitlab.issues(INTEGRATIONS)  # "Not sure": the channel's team
    assert sorted(routed["assignees"]) == ["ivan", "judy"] and not routed["confidential"]
    assert "the channel's team" in routed["description"]


def test_untrusted_text_never_runs_quick_actions_pings_or_forges_links(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    details = "\n".join(
        [
            "/close",
            "  /label ~priority::1 ~team::access-management",
            "/assign @grace",
            "```",
            "/lock",
            "```",
            ">>>",
            "/confidential",
            "hello @all and @here, cc @bt-engineering/access-manager",
            "<!channel> <@U00000009> <https://evil.example|Okta login> <!-- /close -->",
            "see [the runbook](https://wiki.example.com/runbook)",
            "\x00\x07\u202egnp.exe",
            "/shrug",
        ]
    )
    summary = "@all /close Terraform plan broken <!here>"
    file_request(stack, "alice", {"Summary": summary, "Details": details, "Team": "Infrastructure"})
    [issue] = stack.gitlab.issues(INFRA)
    assert stack.gitlab.quick_actions == [] and stack.gitlab.mass_mentions == []
    assert issue["state"] == "opened" and not issue["confidential"] and issue["assignees"] == ["erin"]
    assert sorted(issue["labels"]) == ["chatops", "it-request", "priority::3", "team::infrastructure"]
    assert "[the runbook](https://wiki.example.com/runbook)" in issue["description"]
    assert "<!--" not in issue["description"] and "\u202e" not in issue["description"]
    assert len(issue["title"]) <= 255
    shown = posted(stack, "#general") + json.dumps([(m.text, m.blocks) for m in stack.slack.dm("alice")])
    for forged in ("<!here>", "<!channel>", "<@U00000009>", "<https://evil.example"):
        assert forged not in shown
    assert "&lt;!here&gt;" in shown


def test_bad_input_gets_clear_answers(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    driver.command("alice", "/it", "", channel="#general")
    driver.submit_view("alice", {"Summary": "  \u200b\x07 "})
    view = driver.current_view("alice")
    assert view is not None and "short summary" in view.errors["summary"]  # the modal stays open
    driver.close_view("alice")
    driver.command("alice", "/it", "laptop " * 1428, channel="#general")  # ~10,000 characters
    view = driver.current_view("alice")
    assert view is not None and "9,995 characters" in message_as_text("", view.blocks)  # said, not dropped
    driver.submit_view("alice", {})
    stack.wait_idle()
    [issue] = stack.gitlab.issues(OPERATIONS)
    assert len(issue["title"]) <= 255 and issue["title"].endswith("… (REQ-1)")


def test_tracker_404_keeps_the_request_and_retry_files_it_once(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    stack.gitlab.set_project_access(INFRA, visible=False)
    file_request(stack, "alice", {"Summary": "Terraform state lock is stuck"})
    assert stack.gitlab.issues(INFRA) == []
    dm = driver.dm_text("alice")
    assert "GitLab answered 404" in dm and "does not exist or the bot cannot see it" in dm and "Traceback" not in dm
    assert "Retry filing" in driver.labels(driver.latest("alice"))
    assert "could not be filed yet" in posted(stack, "#general")
    assert "Failed" in reply_to(stack, "alice", "/engops", "status REQ-1")
    stack.gitlab.set_project_access(INFRA, visible=True)
    driver.click("alice", "Retry filing")
    stack.wait_idle()
    [issue] = stack.gitlab.issues(INFRA)
    assert issue["title"] == "Terraform state lock is stuck (REQ-1)" and issue["web_url"] in driver.dm_text("alice")


def test_lost_answers_and_rate_limits_never_file_twice(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    # GitLab files the issue, then the answer is a 403: the retry finds the issue instead of filing again
    stack.gitlab.inject(Fault(403, path_prefix="/api/v4/projects/", method="POST", after=True))
    file_request(stack, "alice", {"Summary": "Terraform plan fails on the VPC module"})
    assert "GitLab refused (403)" in driver.dm_text("alice")
    driver.click("alice", "Retry filing")
    stack.wait_idle()
    assert [i["iid"] for i in stack.gitlab.issues(INFRA)] == [1]
    assert stack.gitlab.issues(INFRA)[0]["web_url"] in driver.dm_text("alice")
    # the answer is lost (502 after the issue exists): the adapter finds it, nobody is told of a failure
    stack.gitlab.inject(Fault(502, path_prefix="/api/v4/projects/", method="POST", after=True))
    file_request(stack, "bob", {"Summary": "New DNS record for the status page"})
    assert [i["iid"] for i in stack.gitlab.issues(INFRA)] == [1, 2]
    # GitLab's issue-creation limit answers 429: waited out, never shown as a failure
    stack.gitlab.set_issue_create_limit(1, period=2.0)
    file_request(stack, "carol", {"Summary": "GPU instance for the ML team"})
    file_request(stack, "dave", {"Summary": "Budget alert for the AWS sandbox"})
    assert [i["iid"] for i in stack.gitlab.issues(INFRA)] == [1, 2, 3, 4]
    assert stack.gitlab.seen_rate_limited >= 1
    for user in ("bob", "carol", "dave"):
        assert "could not be filed" not in driver.dm_text(user)


def test_near_duplicate_offers_to_add_to_the_open_issue(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    file_request(stack, "alice", {"Summary": "Need access to the payments dashboards"})
    file_request(stack, "alice", {"Summary": "need access to the payments dashboard!", "Details": "For the audit"})
    assert len(stack.gitlab.issues(ACCESS)) == 1  # nothing filed yet: alice decides
    assert driver.labels(driver.latest("alice")) == ["Add to the existing issue", "File a new issue anyway"]
    driver.click("bob", "Add to the existing issue", in_dm_of="alice")  # only the requester decides
    stack.wait_idle()
    assert "Only the requester can decide" in driver.dm_text("bob")
    driver.click("alice", "Add to the existing issue")
    stack.wait_idle()
    [issue] = stack.gitlab.issues(ACCESS)
    notes = [n["body"] for n in issue["notes"] if not n["system"]]
    assert len(notes) == 1 and "Also requested in REQ-2" in notes[0] and "For the audit" in notes[0]
    assert "REQ-2* was added to the existing issue" in driver.dm_text("alice")
    file_request(stack, "alice", {"Summary": "Need access to the payments dashboards"})
    driver.click("alice", "File a new issue anyway")
    stack.wait_idle()
    file_request(stack, "bob", {"Summary": "Need access to the payments dashboards"})  # another requester
    assert [i["title"] for i in stack.gitlab.issues(ACCESS)] == [
        "Need access to the payments dashboards (REQ-1)",
        "Need access to the payments dashboards (REQ-3)",
        "Need access to the payments dashboards (REQ-4)",
    ]
