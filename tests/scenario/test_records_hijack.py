"""Issue #13, record hijack: the bot looks for an issue it may already have filed by a predictable title
(`… (REQ-n)` for `/it`, `Offboarding REQ-n: …` for offboarding records). Anyone who can open issues in the
tracker can write such a title; the bot takes an issue as its own only when its own GitLab user filed it,
and, for records and anything confidential, only when it is confidential."""

from __future__ import annotations

from engops.sandbox.base import Fault
from engops.sandbox.stack import Stack
from tests.support.gitlab import ACCESS, INFRA, OFFBOARDING_TRACKER
from tests.support.slack import progress_text
from tests.support.slack_actions import file_request, mention, offboard


def add_outsider(stack: Stack) -> None:
    stack.gitlab.add_user("mallory", "Mallory Outsider", "mallory@evil.example")


def test_a_retried_filing_does_not_adopt_an_issue_someone_else_titled_with_its_ref(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    add_outsider(stack)
    stack.gitlab.inject(Fault(403, path_prefix="/api/v4/projects/", method="POST"))  # refused, nothing filed
    file_request(stack, "alice", {"Summary": "Terraform plan fails on the VPC module"})
    assert "GitLab refused (403)" in driver.dm_text("alice")
    decoy = stack.gitlab.open_issue(INFRA, "Terraform plan fails on the VPC module (REQ-1)", by="mallory")
    driver.click("alice", "Retry filing")
    stack.wait_idle()
    issues = stack.gitlab.issues(INFRA)
    [filed] = [i for i in issues if i["iid"] != decoy]
    assert (filed["author"], filed["title"]) == ("engops-bot", "Terraform plan fails on the VPC module (REQ-1)")
    assert filed["web_url"] in driver.dm_text("alice")
    [mallorys] = [i for i in issues if i["iid"] == decoy]
    assert mallorys["web_url"] not in driver.dm_text("alice") and mallorys["web_url"] not in str(
        stack.slack.all_messages("#general")
    )


def test_a_retried_filing_still_finds_the_issue_it_filed_itself(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    add_outsider(stack)
    stack.gitlab.inject(Fault(403, path_prefix="/api/v4/projects/", method="POST", after=True))  # filed, answer lost
    file_request(stack, "alice", {"Summary": "Terraform plan fails on the VPC module"})
    stack.gitlab.open_issue(INFRA, "Terraform plan fails on the VPC module (REQ-1)", by="mallory")
    driver.click("alice", "Retry filing")
    stack.wait_idle()
    assert [(i["iid"], i["author"]) for i in stack.gitlab.issues(INFRA)] == [(1, "engops-bot"), (2, "mallory")]
    assert stack.gitlab.issues(INFRA)[0]["web_url"] in driver.dm_text("alice")


def test_the_offboarding_record_goes_into_a_confidential_issue_of_the_bots_own(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    add_outsider(stack)
    title = "Offboarding REQ-1: alice@example.com"
    decoys = {
        stack.gitlab.open_issue(OFFBOARDING_TRACKER, title, by="mallory"),
        stack.gitlab.open_issue(OFFBOARDING_TRACKER, title, by="mallory", confidential=True),
        # the bot's, but public: never for a record
        stack.gitlab.open_issue(OFFBOARDING_TRACKER, title, by="engops-bot"),
    }
    offboard(stack, "hank", mention(stack, "alice"))
    driver.click("heidi", "Approve")
    stack.wait_idle()
    issues = stack.gitlab.issues(OFFBOARDING_TRACKER)
    [record] = [i for i in issues if i["iid"] not in decoys]
    assert (record["title"], record["author"], record["confidential"]) == (title, "engops-bot", True)
    assert "alice@example.com" in record["description"] and "Outcome of each step" in record["description"]
    for issue in issues:
        if issue["iid"] in decoys:
            assert issue["description"] == "" and issue["notes"] == []
    assert f"filed as {OFFBOARDING_TRACKER}#{record['iid']}" in progress_text(stack)


def test_a_confidential_request_is_not_offered_to_go_into_a_public_issue(stack: Stack) -> None:
    driver = stack.driver
    assert driver is not None
    file_request(stack, "alice", {"Summary": "Need access to the payments dashboards"})
    file_request(stack, "alice", {"Summary": "need access to the payments dashboard!", "Details": "my password leaked"})
    assert "Add to the existing issue" not in driver.labels(driver.latest("alice"))
    issues = stack.gitlab.issues(ACCESS)
    assert [(i["confidential"], len(i["notes"])) for i in issues] == [(False, 0), (True, 0)]
    assert "password leaked" not in issues[0]["description"] and "password leaked" in issues[1]["description"]
