from datetime import timedelta
from pathlib import Path

import pydantic
import pytest
import yaml

from bot.policy import PolicyError, PolicyProblem, format_path, load_policy, parse_policy
from tests.support.shared import shared_dir

EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "policy.example.yaml"
EXAMPLE = EXAMPLE_PATH.read_text(encoding="utf-8")


def edited(*changes: tuple[str, str]) -> str:
    """The example with each `old` text (which must occur exactly once) replaced by `new`."""
    text = EXAMPLE
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the example"
        text = text.replace(old, new)
    return text


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    return [str(problem) for problem in caught.value.problems]


# ---------------------------------------------------------------- the example


def test_the_spec_example_is_shipped_unchanged() -> None:
    spec = shared_dir() / "SPEC.md"
    if not spec.exists():
        pytest.skip("SPEC.md is not next to the repository")
    assert f"```yaml\n{EXAMPLE}```\n" in spec.read_text(encoding="utf-8")


def test_example_loads_with_its_values() -> None:
    policy = load_policy(EXAMPLE_PATH)

    assert policy.org.email_domain == "example.com"
    assert policy.org.manager_attribute == "managerId"
    assert list(policy.teams) == ["access-management", "infrastructure", "integrations", "operations"]
    assert [team.key for team in policy.teams.values()] == list(policy.teams)
    infra = policy.team("infrastructure")
    assert infra.name == "Infrastructure"
    assert infra.tracker == "bt-engineering/infrastructure/issue-tracker"
    assert infra.dris == ["erin@example.com"]
    assert "sandbox account" in policy.team("access-management").keywords
    assert policy.default_team.key == "operations"

    defaults = policy.access.defaults
    assert defaults.approvals == ["manager"]
    assert defaults.max_duration == timedelta(days=30)
    assert defaults.remind_after == timedelta(hours=4)
    assert defaults.escalate_after == timedelta(hours=24)
    assert defaults.expire_after == timedelta(days=7)
    assert policy.aws_keys.max_age == timedelta(days=90)
    assert policy.aws_keys.deactivate_after == timedelta(days=1)
    assert policy.aws_keys.delete_after == timedelta(days=7)
    assert policy.aws_keys.secret_name == "engops/iam/{user}"
    assert policy.aws_keys.service_users["svc-deploy"].owners == ["erin@example.com"]
    assert policy.escalation.ack_within == timedelta(minutes=30)
    assert policy.offboarding.steps[0] == "google_suspend"
    assert policy.offboarding.allowed == ["role:helpdesk", "role:it-admins"]


def test_groups_fall_back_to_the_defaults() -> None:
    policy = parse_policy(EXAMPLE)
    sandbox = policy.group("aws-sandbox-admins")
    zoom = policy.group("zoom-users")
    assert sandbox is not None and zoom is not None
    assert policy.group("no-such-group") is None

    assert sandbox.require_duration and sandbox.owners == ["erin@example.com"]
    assert policy.group_approvals(sandbox) == ["manager", "owners"]
    assert policy.group_max_duration(sandbox) == timedelta(hours=8)
    assert zoom.auto_approve and zoom.approvals is None
    assert policy.group_approvals(zoom) == ["manager"]
    assert policy.group_max_duration(zoom) == timedelta(days=30)


@pytest.mark.parametrize(
    ("channel", "team"),
    [
        ("#infra-access-requests", "infrastructure"),
        ("infra-access-requests", "infrastructure"),  # Slack payloads name channels without '#'
        ("#bt-integrations", "integrations"),
        ("#bt-engineering-access-manager", "access-management"),  # a team's own channel, no route
        ("#it-engops", "operations"),
        ("#IT-EngOps", "operations"),
    ],
)
def test_team_for_channel(channel: str, team: str) -> None:
    found = parse_policy(EXAMPLE).team_for_channel(channel)
    assert found is not None and found.key == team


def test_team_for_an_unknown_channel_is_none() -> None:
    assert parse_policy(EXAMPLE).team_for_channel("#random") is None


def test_a_route_sends_any_channel_to_its_team() -> None:
    text = edited(('  "#bt-integrations": { team: integrations }', '  "#general": { team: integrations }'))
    policy = parse_policy(text)
    team = policy.team_for_channel("general")
    assert team is not None and team.key == "integrations"
    integrations = policy.team_for_channel("#bt-integrations")
    assert integrations is not None and integrations.key == "integrations"


def test_roles_and_people() -> None:
    policy = parse_policy(EXAMPLE)
    assert policy.role_members("it-admins") == ["grace@example.com", "heidi@example.com"]
    assert policy.role_okta_group("it-admins") is None
    assert policy.role_members("helpdesk") == []
    assert policy.role_okta_group("helpdesk") == "it-helpdesk"
    with pytest.raises(KeyError, match="unknown role 'nobody'"):
        policy.role_members("nobody")
    assert policy.gitlab_username("Frank@Example.com") == "fwheeler"
    assert policy.gitlab_username("erin@example.com") is None
    with pytest.raises(KeyError, match="unknown team 'nope'"):
        policy.team("nope")


def test_emails_are_normalised_to_lower_case() -> None:
    policy = parse_policy(edited(("dris: [ivan@example.com,", "dris: [Ivan@Example.COM,")))
    assert policy.team("integrations").dris[0] == "ivan@example.com"


def test_tracker_may_be_a_project_id() -> None:
    text = edited(("tracker: enterprise-apps/integrations/integrations-work", "tracker: 4242"))
    assert parse_policy(text).team("integrations").tracker == 4242


def test_the_loaded_policy_cannot_be_changed() -> None:
    policy = parse_policy(EXAMPLE)
    with pytest.raises(pydantic.ValidationError):
        setattr(policy.team("operations"), "default", False)  # noqa: B010 - bypass the type checker on purpose
    with pytest.raises(pydantic.ValidationError):
        setattr(policy.escalation, "ack_within", timedelta(hours=1))  # noqa: B010
    sandbox = policy.group("aws-sandbox-admins")
    assert sandbox is not None
    policy.group_approvals(sandbox).append("role:helpdesk")
    policy.role_members("it-admins").clear()
    assert policy.group_approvals(sandbox) == ["manager", "owners"]
    assert len(policy.role_members("it-admins")) == 2


# ---------------------------------------------------------------- errors, one kind at a time


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            [("approvals: [owners]", "approvals: [role:it-admin]")],
            "access.groups[2].approvals[0]: unknown role 'it-admin' (known: helpdesk, it-admins)",
            id="unknown-role-in-group-step",
        ),
        pytest.param(
            [("approvals: [manager]  ", "approvals: [manager, role:security]")],
            "access.defaults.approvals[1]: unknown role 'security' (known: helpdesk, it-admins)",
            id="unknown-role-in-default-step",
        ),
        pytest.param(
            [("allowed: [role:helpdesk, role:it-admins]", "allowed: [role:help-desk, role:it-admins]")],
            "offboarding.allowed[0]: unknown role 'help-desk' (known: helpdesk, it-admins)",
            id="unknown-role-in-offboarding-allowed",
        ),
        pytest.param(
            [("approvals: [role:it-admins]", "approvals: [role:admins]")],
            "offboarding.approvals[0]: unknown role 'admins' (known: helpdesk, it-admins)",
            id="unknown-role-in-offboarding-approvals",
        ),
        pytest.param(
            [("approvals: [owners]", "approvals: [manager, Boss]")],
            "access.groups[2].approvals[1]: unknown approver 'Boss' "
            "(expected manager, owners, role:<name> or an email)",
            id="step-grammar",
        ),
        pytest.param(
            [("approvals: [owners]", 'approvals: ["role:"]')],
            "access.groups[2].approvals[0]: 'role:' needs a role name, like role:it-admins",
            id="empty-role-name",
        ),
        pytest.param(
            [("allowed: [role:helpdesk, role:it-admins]", "allowed: [role:helpdesk, manager]")],
            "offboarding.allowed[1]: unknown approver 'manager' (expected role:<name> or an email)",
            id="offboarding-allowed-grammar",
        ),
        pytest.param(
            [("      owners: [oscar@example.com]\n", "")],
            "access.groups[2].approvals[0]: 'owners' step but the group has no owners",
            id="owners-step-without-owners",
        ),
        pytest.param(
            [("approvals: [role:it-admins]", "approvals: [owners]")],
            "offboarding.approvals[0]: 'owners' has no meaning here: offboarding has no owners",
            id="owners-in-offboarding",
        ),
        pytest.param(
            [('"#bt-integrations": { team: integrations }', '"#bt-integrations": { team: integration }')],
            "channels[\"#bt-integrations\"].team: unknown team 'integration' "
            "(known: access-management, infrastructure, integrations, operations)",
            id="route-to-unknown-team",
        ),
        pytest.param(
            [("  team: access-management\n", "  team: access\n")],
            "offboarding.team: unknown team 'access' "
            "(known: access-management, infrastructure, integrations, operations)",
            id="offboarding-unknown-team",
        ),
        pytest.param(
            [("dris: [erin@example.com]", "dris: [erin@example.org]")],
            "teams.infrastructure.dris[0]: 'erin@example.org' is outside the org's email domain example.com",
            id="dri-outside-domain",
        ),
        pytest.param(
            [("owners: [oscar@example.com]", "owners: [oscar@gmail.com]")],
            "access.groups[2].owners[0]: 'oscar@gmail.com' is outside the org's email domain example.com",
            id="owner-outside-domain",
        ),
        pytest.param(
            [("heidi@example.com]", "heidi@contractor.io]")],
            "roles.it-admins.members[1]: 'heidi@contractor.io' is outside the org's email domain example.com",
            id="member-outside-domain",
        ),
        pytest.param(
            [("svc-deploy: { owners: [erin@example.com] }", "svc-deploy: { owners: [erin@evil.example] }")],
            "aws_keys.service_users.svc-deploy.owners[0]: 'erin@evil.example' is outside the org's email domain "
            "example.com",
            id="service-owner-outside-domain",
        ),
        pytest.param(
            [("frank@example.com: fwheeler", "frank@elsewhere.com: fwheeler")],
            "org.gitlab_usernames[\"frank@elsewhere.com\"]: 'frank@elsewhere.com' is outside the org's email "
            "domain example.com",
            id="gitlab-username-outside-domain",
        ),
        pytest.param(
            [("approvals: [owners]", "approvals: [cfo@example.net]")],
            "access.groups[2].approvals[0]: 'cfo@example.net' is outside the org's email domain example.com",
            id="email-step-outside-domain",
        ),
        pytest.param(
            [("dris: [erin@example.com]", "dris: [erin]")],
            "teams.infrastructure.dris[0]: 'erin' is not an email address",
            id="not-an-email",
        ),
        pytest.param(
            [("    default: true  ", "    default: false  ")],
            "teams: exactly one team must have default: true (found: none)",
            id="no-default-team",
        ),
        pytest.param(
            [("    labels: [team::integrations]\n", "    labels: [team::integrations]\n    default: true\n")],
            "teams: exactly one team must have default: true (found: integrations, operations)",
            id="two-default-teams",
        ),
        pytest.param(
            [("okta_group: zoom-users", "okta_group: aws-sandbox-admins")],
            "access.groups[1].okta_group: duplicate group 'aws-sandbox-admins' (first listed at access.groups[0])",
            id="duplicate-group",
        ),
        pytest.param(
            [("ack_within: 30m", "ack_within: 30x")],
            "escalation.ack_within: invalid duration '30x': unknown unit 'x' (use m, h or d)",
            id="duration-unit",
        ),
        pytest.param(
            [("max_duration: 8h", "max_duration: 0h")],
            "access.groups[0].max_duration: invalid duration '0h': must be longer than zero",
            id="duration-zero",
        ),
        pytest.param(
            [("max_age: 90d", "max_age: 90")],
            "aws_keys.max_age: expected a duration like 30m, 8h or 7d, got the number 90",
            id="duration-number",
        ),
        pytest.param(
            [("max_duration: 30d", "max_duration: 1.5d")],
            "access.defaults.max_duration: invalid duration '1.5d': expected a number and a unit (m, h or d), "
            "like 30m, 8h or 7d",
            id="duration-float",
        ),
        pytest.param(
            [("remind_after: 4h", "remind_after: 7d")],
            "access.defaults.remind_after: 7d must be shorter than expire_after (7d), or it never happens",
            id="reminder-after-expiry",
        ),
        pytest.param(
            [("dris: [erin@example.com]", "dris: erin@example.com")],
            "teams.infrastructure.dris: expected a list, got text 'erin@example.com'",
            id="expected-list",
        ),
        pytest.param(
            [("dris: [erin@example.com]", "dris: []")],
            "teams.infrastructure.dris: must not be empty",
            id="empty-list",
        ),
        pytest.param(
            [("  helpdesk:  { okta_group: it-helpdesk }", "  helpdesk: it-helpdesk")],
            "roles.helpdesk: expected a mapping, got text 'it-helpdesk'",
            id="expected-mapping",
        ),
        pytest.param(
            [("  helpdesk:  { okta_group: it-helpdesk }", "  helpdesk:")],
            "roles.helpdesk: expected a mapping, got an empty value",
            id="empty-section",
        ),
        pytest.param(
            [("  helpdesk:  { okta_group: it-helpdesk }", "  helpdesk:  { members: [] }")],
            "roles.helpdesk: a role needs members, an okta_group, or both",
            id="role-without-anyone",
        ),
        pytest.param(
            [("  helpdesk:  { okta_group: it-helpdesk }", "  helpdesk:  { okta_group: on }")],
            "roles.helpdesk.okta_group: expected text, got true (quote it if it is meant as a word)",
            id="yaml-boolean-word",
        ),
        pytest.param(
            [("require_duration: true", "require_duration: yes please")],
            "access.groups[0].require_duration: expected true or false, got text 'yes please'",
            id="expected-bool",
        ),
        pytest.param(
            [("okta_clear_sessions,", "okta_clear_session,")],
            "offboarding.steps[4]: unknown value 'okta_clear_session' (expected 'google_suspend', 'google_lock', "
            "'google_signout', 'google_revoke_tokens', 'okta_suspend', 'okta_clear_sessions', 'engops_end_grants', "
            "'aws_deactivate_keys', 'google_transfer_data', 'gmail_delegate', 'gmail_autoreply' or 'gitlab_issue')",
            id="unknown-offboarding-step",
        ),
        pytest.param(
            [("okta_clear_sessions,", "okta_clear_sessions, okta_suspend,")],
            "offboarding.steps[5]: 'okta_suspend' is listed twice",
            id="offboarding-step-twice",
        ),
        pytest.param(
            [("    name: Operations\n", "")],
            "teams.operations.name: required key is missing",
            id="missing-key",
        ),
        pytest.param(
            [("tracker: bt-engineering/operations/issue-tracker", "tracker: issue-tracker")],
            "teams.operations.tracker: expected a GitLab project path like group/project or a project id, "
            "got text 'issue-tracker'",
            id="tracker",
        ),
        pytest.param(
            [('channel: "#it-engops"', "channel: #it-engops")],
            'teams.operations.channel: missing channel name; in YAML a bare # starts a comment, so quote it: "#name"',
            id="unquoted-channel",
        ),
        pytest.param(
            [('channel: "#it-engops"', 'channel: "IT EngOps"')],
            "teams.operations.channel: 'IT EngOps' is not a Slack channel name like \"#it-engops\" "
            "('#', then a-z, 0-9, - or _)",
            id="bad-channel",
        ),
        pytest.param(
            [('"#bt-integrations": { team: integrations }', '"bt integrations": { team: integrations }')],
            'channels["bt integrations"]: \'bt integrations\' is not a Slack channel name like "#it-engops" '
            "('#', then a-z, 0-9, - or _)",
            id="bad-channel-key",
        ),
        pytest.param(
            [('channel: "#it-engops"', 'channel: "#bt-integrations"')],
            "teams.operations.channel: '#bt-integrations' is already the channel of team 'integrations'",
            id="shared-team-channel",
        ),
        pytest.param(
            [('"#infra-access-requests": { team: infrastructure }', '"#infra-access-requests": { team: operations }')],
            "channels[\"#infra-access-requests\"].team: '#infra-access-requests' is the channel of team "
            "'infrastructure', not 'operations'",
            id="route-contradicts-team-channel",
        ),
        pytest.param(
            [('secret_name: "engops/iam/{user}"', 'secret_name: "engops/iam/keys"')],
            "aws_keys.secret_name: must contain {user} (the IAM user name), like engops/iam/{user}",
            id="secret-name-without-user",
        ),
        pytest.param(
            [('secret_name: "engops/iam/{user}"', 'secret_name: "engops/{env}/{user}"')],
            "aws_keys.secret_name: {user} is the only placeholder allowed",
            id="secret-name-other-placeholder",
        ),
        pytest.param(
            [
                (
                    "  it-admins: { members: [grace@example.com, heidi@example.com] }",
                    "  admins: { members: [grace@example.com] }",
                )
            ],
            "roles: the role 'it-admins' is required (escalations and break-glass approvals go to it)",
            id="admin-role-required",
        ),
    ],
)
def test_each_kind_of_problem_is_reported_with_its_path(changes: list[tuple[str, str]], expected: str) -> None:
    found = problems(edited(*changes))
    assert expected in found, found


def test_default_owners_step_needs_owners_on_every_group_that_uses_it() -> None:
    text = edited(
        ("approvals: [manager]  ", "approvals: [owners]  "),
        ("    - okta_group: zoom-users\n      auto_approve: true\n", "    - okta_group: zoom-users\n"),
    )
    assert problems(text) == [
        "access.groups[1]: the default approvals include 'owners' but the group has no owners",
    ]


def test_auto_approve_groups_need_no_owners() -> None:
    parse_policy(edited(("approvals: [manager]  ", "approvals: [owners]  ")))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            [("escalation:\n", "escalations: {}\nescalation:\n")],
            "escalations: unknown key 'escalations' (did you mean 'escalation'?)",
            id="top-level",
        ),
        pytest.param(
            [("  email_domain: example.com\n", "  email_domain: example.com\n  slack_team: T123\n")],
            "org.slack_team: unknown key 'slack_team' (allowed: email_domain, manager_attribute, gitlab_usernames)",
            id="section",
        ),
        pytest.param(
            [("    dris: [erin@example.com]\n", "    dris: [erin@example.com]\n    dri: x\n")],
            "teams.infrastructure.dri: unknown key 'dri' (did you mean 'dris'?)",
            id="mapping-value",
        ),
        pytest.param(
            [("      auto_approve: true\n", "      auto_approve: true\n      auto_aprove: true\n")],
            "access.groups[1].auto_aprove: unknown key 'auto_aprove' (did you mean 'auto_approve'?)",
            id="list-item",
        ),
        pytest.param(
            [("svc-deploy: { owners: [erin@example.com] }", "svc-deploy: { owners: [erin@example.com], x: 1 }")],
            "aws_keys.service_users.svc-deploy.x: unknown key 'x' (allowed: owners)",
            id="deepest",
        ),
        pytest.param(
            [('"#bt-integrations": { team: integrations }', '"#bt-integrations": { team: integrations, dri: x }')],
            "channels[\"#bt-integrations\"].dri: unknown key 'dri' (allowed: team)",
            id="quoted-key",
        ),
    ],
)
def test_unknown_keys_at_any_depth(changes: list[tuple[str, str]], expected: str) -> None:
    assert problems(edited(*changes)) == [expected]


def test_all_problems_of_the_document_are_reported_at_once_in_file_order() -> None:
    text = edited(
        ("dris: [erin@example.com]", "dris: erin@example.com"),
        ("      require_duration: true\n", "      require_duration: true\n      lifetime: 8h\n"),
        ("max_age: 90d", "max_age: 90 days"),
        ("ack_within: 30m", "ack_within: 30x"),
    )
    assert problems(text) == [
        "teams.infrastructure.dris: expected a list, got text 'erin@example.com'",
        "access.groups[0].lifetime: unknown key 'lifetime' (allowed: okta_group, owners, approvals, max_duration, "
        "require_duration, auto_approve, step_up)",
        "aws_keys.max_age: invalid duration '90 days': expected a number and a unit (m, h or d), like 30m, 8h or 7d",
        "escalation.ack_within: invalid duration '30x': unknown unit 'x' (use m, h or d)",
    ]


def test_all_cross_reference_problems_are_reported_at_once() -> None:
    text = edited(
        ("approvals: [owners]", "approvals: [role:it-admin]"),
        ("  team: access-management\n", "  team: access\n"),
        ("    default: true  ", "    default: false  "),
        ("grace@example.com", "grace@example.org"),
    )
    found = problems(text)
    assert found == [
        "roles.it-admins.members[0]: 'grace@example.org' is outside the org's email domain example.com",
        "teams: exactly one team must have default: true (found: none)",
        "access.groups[2].approvals[0]: unknown role 'it-admin' (known: helpdesk, it-admins)",
        "offboarding.team: unknown team 'access' (known: access-management, infrastructure, integrations, operations)",
    ]


def test_problems_carry_their_line() -> None:
    def located(text: str) -> dict[str, str]:
        with pytest.raises(PolicyError) as caught:
            parse_policy(text)
        lines = text.splitlines()
        return {problem.path: lines[problem.line - 1].strip() for problem in caught.value.problems if problem.line}

    shape = located(
        edited(("ack_within: 30m", "ack_within: 0m"), ("      owners: [oscar@example.com]\n", "      owner: x\n"))
    )
    assert shape["escalation.ack_within"].startswith("ack_within: 0m")
    assert shape["access.groups[2].owner"] == "owner: x"
    references = located(
        edited(("approvals: [owners]", "approvals: [role:it-admin]"), ("team: access-management", "team: x"))
    )
    assert references["access.groups[2].approvals[0]"] == "approvals: [role:it-admin]"
    assert references["offboarding.team"] == "team: x"


def test_error_text_is_one_line_per_problem() -> None:
    error = PolicyError([PolicyProblem("a.b[2]", "first"), PolicyProblem("", "whole file")], source="p.yaml")
    assert str(error) == "a.b[2]: first\nwhole file"
    assert error.source == "p.yaml"


# ---------------------------------------------------------------- the document itself


def test_empty_file() -> None:
    assert problems("") == ["the policy file is empty"]
    assert problems("# only a comment\n") == ["the policy file is empty"]


def test_document_must_be_a_mapping() -> None:
    assert problems("- org\n- roles\n") == [
        "the policy must be a mapping with the sections org, roles, teams, channels, access, offboarding, reviews, "
        "intake, aws_keys, "
        "escalation; got a list"
    ]


def test_yaml_syntax_error_gives_line_and_column() -> None:
    text = edited(("  email_domain: example.com", "  email_domain: example.com: oops"))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    (problem,) = caught.value.problems
    assert str(problem) == "invalid YAML at line 2, column 28: mapping values are not allowed here"
    assert problem.line == 2


def test_a_key_given_twice_is_an_error_not_a_silent_override() -> None:
    text = edited(("  integrations:\n", "  infrastructure:\n"))
    line_of_first = EXAMPLE.splitlines().index("  infrastructure:") + 1
    line_of_second = EXAMPLE.splitlines().index("  integrations:") + 1
    assert problems(text) == [
        f"invalid YAML at line {line_of_second}, column 3: "
        f"duplicate key 'infrastructure' (first at line {line_of_first})"
    ]


def test_missing_sections_are_all_named() -> None:
    assert problems("org: { email_domain: example.com }\n") == [
        "roles: required key is missing",
        "teams: required key is missing",
        "access: required key is missing",
        "offboarding: required key is missing",
        "aws_keys: required key is missing",
        "escalation: required key is missing",
    ]


def test_load_policy_reports_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "policy.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policy(missing)
    assert str(caught.value) == f"cannot read {missing}: No such file or directory"
    assert caught.value.source == str(missing)


def test_format_path_quotes_keys_that_are_not_plain_names() -> None:
    assert format_path(("access", "groups", 2, "approvals", 0)) == "access.groups[2].approvals[0]"
    assert format_path(("channels", "#infra-access-requests", "team")) == 'channels["#infra-access-requests"].team'
    assert format_path(("teams", "access management")) == 'teams["access management"]'
    assert format_path(("org", "gitlab_usernames", "frank@example.com")) == 'org.gitlab_usernames["frank@example.com"]'


# ---------------------------------------------------------------- second-release keys (SPEC §5 example)


def test_second_release_keys_load_with_their_values() -> None:
    policy = load_policy(EXAMPLE_PATH)
    assert policy.group("aws-sandbox-admins").step_up and not policy.group("zoom-users").step_up  # type: ignore[union-attr]
    off = policy.offboarding
    assert off.step_up and off.handover == "manager" and off.protected == ["role:it-admins"]
    assert off.later is not None and off.later.after == timedelta(days=90)
    assert off.later.steps == ["google_delete", "google_alias_to_handover"]
    assert [(r.okta_group, r.reviewers, r.every, r.due_in) for r in policy.reviews] == [
        ("aws-sandbox-admins", "owners", timedelta(days=90), timedelta(days=14)),
        ("netsuite-finance", "manager", timedelta(days=90), timedelta(days=14)),
    ]
    assert policy.intake is not None and policy.intake.channels == ["#it-help"] and policy.intake.reaction == "eyes"


def test_what_the_release_does_not_carry_out_is_said_not_hidden() -> None:
    notes = {note.path for note in load_policy(EXAMPLE_PATH).not_carried_out()}
    assert notes == {"access.groups[0].step_up", "offboarding.step_up", "offboarding.later", "reviews"}


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("offboarding", "steps"), "offboarding.steps[1]", "a suspended Google user receives no new mail"),
        (("offboarding", "handover"), "offboarding.handover", "manager"),
        (("reviews", 0, "reviewers"), "reviews[0].reviewers", "owners, manager, role:<name>"),
        (("reviews", 0, "okta_group"), "reviews[0].okta_group", "unknown group"),
        (("reviews", 0, "due_in"), "reviews[0].due_in", "shorter than `every`"),
        (("intake", "reaction"), "intake.reaction", "emoji name"),
        (("offboarding", "later", "after"), "offboarding.later.after", "7d"),
    ],
)
def test_second_release_keys_are_checked(change: tuple[str | int, ...], path: str, words: str) -> None:
    bad: dict[tuple[str | int, ...], object] = {
        ("offboarding", "steps"): ["google_suspend", "gmail_delegate", "gitlab_issue"],
        ("offboarding", "handover"): "hr",
        ("reviews", 0, "reviewers"): "everyone",
        ("reviews", 0, "okta_group"): "no-such-group",
        ("reviews", 0, "due_in"): "120d",
        ("intake", "reaction"): ":eyes here:",
        ("offboarding", "later", "after"): "three months",
    }
    data = yaml.safe_load(EXAMPLE)
    node = data
    for key in change[:-1]:
        node = node[key]
    node[change[-1]] = bad[change]
    with pytest.raises(PolicyError) as raised:
        parse_policy(yaml.safe_dump(data))
    found = [p for p in raised.value.problems if p.path == path]
    assert found and words in found[0].message, [str(p) for p in raised.value.problems]
