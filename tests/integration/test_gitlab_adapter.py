"""The python-gitlab adapter against the running GitLab stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.providers.errors import AuthError, NotFoundError, RateLimitedError
from bot.providers.gitlab import FiledIssue, GitLabAdapter, open_issues_filed_by_bot
from engops.sandbox.base import Fault, RunningServer
from engops.sandbox.directory import demo_directory
from engops.sandbox.gitlab import DEFAULT_TOKEN, GitLabStandIn
from tests.support.gitlab import INFRA

ISSUES_PATH = "/api/v4/projects/bt-engineering%2Finfrastructure%2Fissue-tracker/issues"


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def gitlab() -> GitLabStandIn:
    return GitLabStandIn.from_directory(demo_directory())


@pytest.fixture
def url(gitlab: GitLabStandIn) -> Iterator[str]:
    with RunningServer(gitlab) as server:
        yield server.url


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def adapter(url: str, sleeps: RecordedSleep) -> GitLabAdapter:
    return GitLabAdapter(url, DEFAULT_TOKEN, timeout=5, page_size=2, sleep=sleeps)


def file(adapter: GitLabAdapter, title: str, **overrides: object) -> FiledIssue:
    fields: dict[str, object] = {"description": "", "labels": [], "assignee_ids": [], "confidential": False}
    fields.update(overrides)
    return adapter.create_issue(INFRA, title, **fields)  # type: ignore[arg-type]


def test_create_issue_with_labels_assignees_and_confidential(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    erin, frank = adapter.find_user_id(username="erin"), adapter.find_user_id(username="fwheeler")
    assert erin is not None and frank is not None
    issue = file(
        adapter,
        "Rotate the leaked key",
        description="Requested by @alice in Slack",
        labels=["team::infrastructure", "chatops", "priority::2"],
        assignee_ids=[erin, frank],
        confidential=True,
    )
    assert issue == FiledIssue(
        project=INFRA,
        iid=1,
        web_url=f"{gitlab.base_url}/{INFRA}/-/issues/1",
        title="Rotate the leaked key",
        state="opened",
        labels=("chatops", "priority::2", "team::infrastructure"),
        confidential=True,
        author_username="engops-bot",
        author_id=gitlab.bot.id,
        id=gitlab.project(INFRA).issues[1].id,
    )
    stored = gitlab.issue(INFRA, 1)
    assert stored["assignees"] == ["erin", "fwheeler"] and stored["description"] == "Requested by @alice in Slack"
    assert adapter.get_issue(INFRA, 1) == issue


def test_the_adapter_sends_text_as_given(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    # Sanitising is the caller's job: an unsanitised quick action reaches GitLab and runs.
    gitlab.add_labels(INFRA, "bug")
    issue = file(adapter, "Raw", description="hello\n/label ~bug")
    assert issue.labels == ("bug",)
    assert [(q.command, q.applied) for q in gitlab.quick_actions] == [("label", True)]


def test_search_follows_pagination_and_searches_titles_only(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    for n in range(5):
        file(adapter, f"VPN drops every hour ({n})")
    file(adapter, "Laptop slow", description="vpn drops here too, says the description")
    closed = file(adapter, "VPN drops again")
    gitlab.close_issue(INFRA, closed.iid, by="erin")
    gitlab.reset_log()

    found = adapter.search_open_issues(INFRA, "vpn drops")

    assert [i.title for i in found] == [f"VPN drops every hour ({n})" for n in (4, 3, 2, 1, 0)]
    pages = gitlab.calls_to("GET", ISSUES_PATH)
    assert [c.query.get("page", "1") for c in pages] == ["1", "2", "3"]
    assert all(c.query["in"] == "title" and c.query["state"] == "opened" for c in pages)


def test_search_by_author(adapter: GitLabAdapter, url: str, gitlab: GitLabStandIn) -> None:
    gitlab.add_token("glpat-erin", "erin")
    erins = GitLabAdapter(url, "glpat-erin", timeout=5)
    erins.create_issue(INFRA, "Okta app missing", "", [], [], False)
    file(adapter, "Okta app missing for bob")
    mine = adapter.search_open_issues(INFRA, "okta app missing", author_username="engops-bot")
    assert [(i.title, i.author_username) for i in mine] == [("Okta app missing for bob", "engops-bot")]


def test_only_open_issues_the_bot_filed_are_its_own(adapter: GitLabAdapter, url: str, gitlab: GitLabStandIn) -> None:
    gitlab.add_token("glpat-erin", "erin")
    erins = GitLabAdapter(url, "glpat-erin", timeout=5)
    assert adapter.current_user_id() == gitlab.bot.id and erins.current_user_id() == gitlab.user_by_username("erin").id
    erins.create_issue(INFRA, "Offboarding REQ-7: bob", "", [], [], True)  # anyone can write the title
    public = file(adapter, "Offboarding REQ-7: bob")
    own = file(adapter, "Offboarding REQ-7: bob", confidential=True)
    gitlab.reset_log()
    assert open_issues_filed_by_bot(adapter, INFRA, "Offboarding REQ-7", confidential=False) == [own, public]
    assert open_issues_filed_by_bot(adapter, INFRA, "Offboarding REQ-7", confidential=True) == [own]
    assert len(gitlab.calls_to("GET", "/api/v4/user")) == 0  # asked once, when first needed


def test_project_by_path_or_id_and_missing_projects(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    assert adapter.project_exists(INFRA)
    project_id = str(gitlab.project(INFRA).id)
    assert adapter.project_exists(project_id)
    issue = file(adapter, "By path")
    assert adapter.get_issue(project_id, issue.iid).project == INFRA
    assert not adapter.project_exists("bt-engineering/nothing-here")
    with pytest.raises(NotFoundError):
        adapter.create_issue("bt-engineering/nothing-here", "x", "", [], [], False)
    with pytest.raises(NotFoundError):
        adapter.get_issue(INFRA, 999)


def test_forbidden_project_and_wrong_token_are_auth_errors(
    adapter: GitLabAdapter, url: str, gitlab: GitLabStandIn
) -> None:
    gitlab.set_project_access(INFRA, writable=False)
    with pytest.raises(AuthError) as forbidden:
        file(adapter, "Not allowed")
    assert forbidden.value.status == 403
    with pytest.raises(AuthError) as wrong:
        GitLabAdapter(url, "glpat-wrong", timeout=5).ping()
    assert wrong.value.status == 401 and "glpat-wrong" not in str(wrong.value)


def test_a_429_is_retried_after_retry_after(
    adapter: GitLabAdapter, gitlab: GitLabStandIn, sleeps: RecordedSleep
) -> None:
    gitlab.inject(Fault(429, path_prefix=ISSUES_PATH, method="POST", kind="ratelimit"))
    issue = file(adapter, "Retried")
    assert issue.iid == 1 and len(gitlab.calls_to("POST", ISSUES_PATH)) == 2
    assert sleeps.delays == [1.0]  # the stand-in's Retry-After


def test_a_real_rate_limit_window_is_waited_out(url: str, gitlab: GitLabStandIn) -> None:
    adapter = GitLabAdapter(url, DEFAULT_TOKEN, timeout=5)
    adapter.ping()
    gitlab.set_rate_limit(1, period=1)
    assert adapter.project_exists(INFRA)
    assert adapter.project_exists(INFRA)  # second call in the window: 429, then success after Retry-After
    assert gitlab.seen_rate_limited >= 1


def test_rate_limits_that_never_clear_surface_as_rate_limited(url: str, gitlab: GitLabStandIn) -> None:
    sleeps = RecordedSleep()
    adapter = GitLabAdapter(url, DEFAULT_TOKEN, timeout=5, attempts=3, sleep=sleeps)
    gitlab.inject(Fault(429, kind="ratelimit", remaining=None))
    with pytest.raises(RateLimitedError) as exc:
        adapter.ping()
    assert exc.value.retry_after == 1.0 and len(sleeps.delays) == 2


def test_a_5xx_before_creation_is_retried_once(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    gitlab.inject(Fault(502, path_prefix=ISSUES_PATH, method="POST"))
    issue = file(adapter, "After a 502")
    assert [i["title"] for i in gitlab.issues(INFRA)] == ["After a 502"] and issue.iid == 1


def test_a_lost_answer_does_not_file_the_issue_twice(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    file(adapter, "Same title", description="an older request")
    gitlab.inject(Fault(502, path_prefix=ISSUES_PATH, method="POST", after=True))
    issue = file(adapter, "Same title", description="the new request")
    assert [(i["iid"], i["description"]) for i in gitlab.issues(INFRA)] == [
        (1, "an older request"),
        (2, "the new request"),
    ]
    assert issue.iid == 2 and len(gitlab.calls_to("POST", ISSUES_PATH)) == 2


def test_notes(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    issue = file(adapter, "Note me")
    adapter.add_note(INFRA, issue.iid, "Update from Slack: still broken")
    adapter.add_note(INFRA, issue.iid, "/close")  # GitLab answers 202 (no note stored); not an error
    stored = gitlab.issue(INFRA, issue.iid)
    assert [n["body"] for n in stored["notes"] if not n["system"]] == ["Update from Slack: still broken"]
    assert adapter.get_issue(INFRA, issue.iid).state == "closed"
    with pytest.raises(NotFoundError):
        adapter.add_note(INFRA, 404, "nobody home")


def test_find_user_id(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    erin = gitlab.user_by_username("erin").id
    assert adapter.find_user_id(username="erin") == erin
    assert adapter.find_user_id(email="erin@example.com") == erin
    assert adapter.find_user_id(email="frank@example.com") is None  # private email
    assert adapter.find_user_id(username="fwheeler") == gitlab.user_by_username("fwheeler").id
    assert adapter.find_user_id(username="nobody") is None
    with pytest.raises(ValueError):
        adapter.find_user_id()


def test_ping_names_the_token_owner(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    assert adapter.ping() == f"@engops-bot (id {gitlab.bot.id})"


def test_an_account_named_like_a_dris_email_is_not_that_dri(adapter: GitLabAdapter, gitlab: GitLabStandIn) -> None:
    """GitLab's user search matches names fuzzily: someone who names their account "nadia@example.com" must not
    become nadia, whose own email is private (found only through `org.gitlab_usernames`)."""
    nadia = gitlab.add_user("nadia", "Nadia Novak", "nadia@example.com", public=False)
    gitlab.add_user("mallory", "nadia@example.com", "mallory@elsewhere.example", public=False)
    assert adapter.find_user_id(email="nadia@example.com") is None
    assert adapter.find_user_id(username="nadia") == nadia.id
