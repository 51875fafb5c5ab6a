"""The policy file (SPEC §5): loaded with yaml.safe_load, validated into frozen typed objects.

Every problem is reported with its path in the file (`access.groups[2].approvals[0]`) and, where it
can be found, its line. Validation runs in two passes: the shape of the document (types, unknown or
missing keys, durations, email syntax), then, once the shape is right, the cross-references between
sections (roles, teams, channels, owners, email domain). `Policy.model_validate` alone runs only the
first pass: build policies with `parse_policy` or `load_policy`.

People (DRIs, owners, role members, approvers) must have an address in `org.email_domain`; anything
else is an error, not a warning, because such a person could never be matched to a Slack user.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from annotated_types import MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from bot.durations import format_duration, parse_duration

Loc = tuple[str | int, ...]
ROLE_PREFIX = "role:"
ADMIN_ROLE = "it-admins"  # SPEC §6: escalations, break-glass and fallback approvals go to this role

OffboardingStep = Literal[
    "google_suspend",
    "google_lock",
    "google_signout",
    "google_revoke_tokens",
    "okta_suspend",
    "okta_clear_sessions",
    "engops_end_grants",
    "aws_deactivate_keys",
    "google_transfer_data",
    "gmail_delegate",
    "gmail_autoreply",
    "gitlab_issue",
]
# Phase 2 (`offboarding.later.steps`, SPEC §6.3)
LaterStep = Literal["google_delete", "google_alias_to_handover", "gmail_remove_delegate"]
# A suspended Google user receives no new mail: these make no sense after `google_suspend` in the same phase.
NEEDS_LIVE_MAILBOX = ("gmail_delegate", "gmail_autoreply")


def role_name(step: str) -> str | None:
    """The role an approval step (or `offboarding.allowed` entry) names, for `role:<name>`; else None."""
    return step[len(ROLE_PREFIX) :] if step.startswith(ROLE_PREFIX) else None


# ---------------------------------------------------------------- value types

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9_-]{0,79}")
_PROJECT_PATH = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+")
_IAM_USER = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value.lower()


def _domain(value: str) -> str:
    if not _DOMAIN.fullmatch(value.lower()):
        raise ValueError(f"{value!r} is not an email domain like example.com")
    return value.lower()


def _approval_step(value: str) -> str:
    if value in ("manager", "owners"):
        return value
    return _role_or_email(value, expected="manager, owners, role:<name> or an email")


def _role_or_email(value: str, expected: str = "role:<name> or an email") -> str:
    role = role_name(value)
    if role is not None:
        if not role:
            raise ValueError(f"{value!r} needs a role name, like role:{ADMIN_ROLE}")
        return value
    if "@" in value:
        return _email(value)
    raise ValueError(f"unknown approver {value!r} (expected {expected})")


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    raise ValueError(f"expected a duration like 30m, 8h or 7d, got {_describe(value)}")


def _channel_present(value: object) -> object:
    if value is None:
        raise ValueError('missing channel name; in YAML a bare # starts a comment, so quote it: "#name"')
    return value


def _channel(value: str) -> str:
    if not _CHANNEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack channel name like \"#it-engops\" ('#', then a-z, 0-9, - or _)")
    return value


def _tracker(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and _PROJECT_PATH.fullmatch(value):
        return value
    raise ValueError(f"expected a GitLab project path like group/project or a project id, got {_describe(value)}")


def _iam_user(value: str) -> str:
    if not _IAM_USER.fullmatch(value):
        raise ValueError(f"{value!r} is not an IAM user name")
    return value


def _secret_name(value: str) -> str:
    if "{user}" not in value:
        raise ValueError("must contain {user} (the IAM user name), like engops/iam/{user}")
    try:
        rendered = value.format(user="user")
    except (KeyError, IndexError, ValueError):
        raise ValueError("{user} is the only placeholder allowed") from None
    if not _SECRET_NAME.fullmatch(rendered):
        raise ValueError("a Secrets Manager name may only contain letters, digits and / _ + = . @ -")
    return value


def _reviewers(value: str) -> str:
    """owners | manager | role:<name> | <email>"""
    if value in ("owners", "manager") or role_name(value) or _EMAIL.fullmatch(value):
        return value if role_name(value) else value.lower()
    raise ValueError(f"expected owners, manager, role:<name> or an email address, got {value!r}")


def _reaction(value: str) -> str:
    name = value.strip().strip(":")
    if not re.fullmatch(r"[a-z0-9_+'-]{1,100}", name):
        raise ValueError(f"expected an emoji name such as eyes (without colons), got {value!r}")
    return name


Text = Annotated[str, AfterValidator(_non_empty)]
Email = Annotated[str, AfterValidator(_email)]
ApprovalStep = Annotated[str, AfterValidator(_approval_step)]
RoleOrEmail = Annotated[str, AfterValidator(_role_or_email)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
ChannelName = Annotated[str, BeforeValidator(_channel_present), AfterValidator(_channel)]


# ---------------------------------------------------------------- the model


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Org(_Section):
    email_domain: Annotated[str, AfterValidator(_domain)]
    manager_attribute: Text = "managerId"
    gitlab_usernames: dict[Email, Text] = {}


class Role(_Section):
    okta_group: Text | None = None
    members: list[Email] = []

    @model_validator(mode="after")
    def _has_someone(self) -> Role:
        if self.okta_group is None and not self.members:
            raise ValueError("a role needs members, an okta_group, or both")
        return self


class Team(_Section):
    name: Text
    tracker: Annotated[str | int, BeforeValidator(_tracker)]
    channel: ChannelName
    dris: Annotated[list[Email], MinLen(1)]
    labels: list[Text] = []
    keywords: list[Text] = []
    description: str = ""  # what the team takes, in a sentence or two: the classifier learns from it
    examples: list[Text] = []  # requests the team takes, as people write them: the classifier learns from them
    default: bool = False
    _key: str = PrivateAttr(default="")

    @property
    def key(self) -> str:
        """The team's name in `teams:` (e.g. `access-management`)."""
        return self._key


class ChannelRoute(_Section):
    team: Text


class AccessDefaults(_Section):
    approvals: Annotated[list[ApprovalStep], MinLen(1)] = ["manager"]
    max_duration: Duration | None = None
    remind_after: Duration
    escalate_after: Duration
    expire_after: Duration


class AccessGroup(_Section):
    okta_group: Text
    owners: list[Email] = []
    approvals: Annotated[list[ApprovalStep], MinLen(1)] | None = None  # None: access.defaults.approvals
    max_duration: Duration | None = None  # None: access.defaults.max_duration
    require_duration: bool = False
    auto_approve: bool = False
    step_up: bool = False  # approvals need an Okta Verify push (SPEC §6.7)


class Access(_Section):
    defaults: AccessDefaults
    groups: list[AccessGroup]


class LaterPhase(_Section):
    after: Duration
    steps: Annotated[list[LaterStep], MinLen(1)]


class Offboarding(_Section):
    allowed: Annotated[list[RoleOrEmail], MinLen(1)]
    approvals: Annotated[list[ApprovalStep], MinLen(1)]
    step_up: bool = False  # it-admin approvals need an Okta Verify push (SPEC §6.7)
    steps: Annotated[list[OffboardingStep], MinLen(1)]
    handover: Literal["manager", "ask"] = "manager"  # who receives Drive, Calendar and later the mail
    protected: list[RoleOrEmail] = []  # never offboarded (SPEC §6.3), besides super admins and the bot's own accounts
    later: LaterPhase | None = None  # phase 2 of the same approved request
    autoreply: Text | None = None  # the vacation responder's text, for `gmail_autoreply`
    team: Text


class Review(_Section):
    """A periodic access review of one Okta group (SPEC §6.6)."""

    okta_group: Text
    every: Duration
    reviewers: Annotated[str, AfterValidator(_reviewers)]
    due_in: Duration


class Intake(_Section):
    """Help-desk intake by emoji (SPEC §6.4)."""

    channels: Annotated[list[ChannelName], MinLen(1)]
    reaction: Annotated[str, AfterValidator(_reaction)]


class ServiceUser(_Section):
    owners: Annotated[list[Email], MinLen(1)]


class AwsKeys(_Section):
    max_age: Duration
    deactivate_after: Duration
    delete_after: Duration
    secret_name: Annotated[str, AfterValidator(_secret_name)]
    service_users: dict[Annotated[str, AfterValidator(_iam_user)], ServiceUser] = {}


class Escalation(_Section):
    ack_within: Duration


class Policy(_Section):
    org: Org
    roles: dict[Text, Role]
    teams: dict[Text, Team]
    channels: dict[ChannelName, ChannelRoute] = {}
    access: Access
    offboarding: Offboarding
    reviews: list[Review] = []
    intake: Intake | None = None
    aws_keys: AwsKeys
    escalation: Escalation

    def model_post_init(self, context: Any, /) -> None:
        for key, team in self.teams.items():
            team._key = key

    def team(self, key: str) -> Team:
        try:
            return self.teams[key]
        except KeyError:
            raise KeyError(f"unknown team {key!r}") from None

    @property
    def default_team(self) -> Team:
        for team in self.teams.values():
            if team.default:
                return team
        raise LookupError("the policy has no default team")

    def team_for_channel(self, channel_name: str) -> Team | None:
        """The team of a channel (`it-engops` or `#it-engops`): its `channels:` route, else the team it belongs to."""
        name = "#" + channel_name.lstrip("#").lower()
        route = self.channels.get(name)
        if route is not None:
            return self.teams.get(route.team)
        return next((team for team in self.teams.values() if team.channel == name), None)

    def group(self, okta_group: str) -> AccessGroup | None:
        return next((group for group in self.access.groups if group.okta_group == okta_group), None)

    def group_approvals(self, group: AccessGroup) -> list[str]:
        """The group's approval steps in order, else the defaults (also for auto_approve groups, which skip them)."""
        return list(group.approvals if group.approvals is not None else self.access.defaults.approvals)

    def group_max_duration(self, group: AccessGroup) -> timedelta | None:
        return group.max_duration if group.max_duration is not None else self.access.defaults.max_duration

    def role_members(self, name: str) -> list[str]:
        """The role's statically listed members; members of its Okta group are resolved by the caller."""
        return list(self._role(name).members)

    def role_okta_group(self, name: str) -> str | None:
        return self._role(name).okta_group

    def not_carried_out(self) -> list[PolicyProblem]:
        """What this policy configures that this release of the bot does not carry out yet: `engops check` and
        start-up say so, so nobody believes a control is in force when it is not."""
        notes = [
            PolicyProblem(
                format_path(("access", "groups", index, "step_up")),
                "Okta Verify step-up is not enforced by this release: an approval is a Slack click",
            )
            for index, group in enumerate(self.access.groups)
            if group.step_up
        ]
        if self.offboarding.step_up:
            notes.append(
                PolicyProblem(
                    "offboarding.step_up",
                    "Okta Verify step-up is not enforced by this release: an approval is a Slack click",
                )
            )
        if self.offboarding.later is not None:
            notes.append(PolicyProblem("offboarding.later", "phase 2 is not scheduled by this release"))
        if self.offboarding.handover == "ask":
            notes.append(PolicyProblem("offboarding.handover", "'ask' is not carried out by this release"))
        if self.reviews:
            notes.append(PolicyProblem("reviews", "access review campaigns are not started by this release"))
        return notes

    def gitlab_username(self, email: str) -> str | None:
        return self.org.gitlab_usernames.get(email.lower())

    def _role(self, name: str) -> Role:
        try:
            return self.roles[name]
        except KeyError:
            raise KeyError(f"unknown role {name!r}") from None


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class PolicyProblem:
    path: str  # `access.groups[2].approvals[0]`; empty for the whole document
    message: str
    line: int | None = None  # 1-based line in the file, where known

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PolicyError(Exception):
    def __init__(self, problems: list[PolicyProblem], source: str = "<policy>") -> None:
        self.problems = problems
        self.source = source
        super().__init__("\n".join(str(problem) for problem in problems))


def format_path(loc: Loc) -> str:
    """`("channels", "#infra", "team")` -> `channels["#infra"].team`; `("groups", 2)` -> `groups[2]`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


# ---------------------------------------------------------------- loading


def load_policy(path: str | os.PathLike[str]) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([PolicyProblem("", f"cannot read {os.fspath(path)}: {exc.strerror}")], str(path)) from None
    except UnicodeDecodeError:
        raise PolicyError([PolicyProblem("", f"{os.fspath(path)} is not UTF-8 text")], str(path)) from None
    return parse_policy(text, source=os.fspath(path))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    data = _load_yaml(text, source)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise _policy_error(text, source, [_from_pydantic(error) for error in exc.errors(include_url=False)]) from None
    problems = _cross_check(policy)
    if problems:
        raise _policy_error(text, source, problems)
    return policy


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error instead of the last one winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable key: the base class reports it
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key!r} (first at line {first.start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        line = mark.line + 1 if mark else None
        raise PolicyError([PolicyProblem("", f"invalid YAML at {where}{exc.problem}", line)], source) from None
    except yaml.YAMLError as exc:
        raise PolicyError([PolicyProblem("", f"invalid YAML: {exc}")], source) from None
    if data is None:
        raise PolicyError([PolicyProblem("", "the policy file is empty")], source)
    if not isinstance(data, dict):
        sections = ", ".join(Policy.model_fields)
        message = f"the policy must be a mapping with the sections {sections}; got {_describe(data)}"
        raise PolicyError([PolicyProblem("", message)], source)
    return data


def _policy_error(text: str, source: str, problems: list[tuple[Loc, str]]) -> PolicyError:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    located = [PolicyProblem(format_path(loc), message, _line_of(root, loc)) for loc, message in problems]
    located.sort(key=lambda problem: problem.line or 0)
    return PolicyError(located, source)


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """The line of the deepest node of `loc` present in the document (a mapping entry counts by its key)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next((pair for pair in node.value if pair[0].value == str(part)), None)
            if entry is None:
                break
            line, node = entry[0].start_mark.line + 1, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# ---------------------------------------------------------------- pydantic errors, in words

_EXPECTED = {
    "string_type": "text",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "bool_type": "true or false",
    "int_type": "a whole number",
}


def _from_pydantic(error: ErrorDetails) -> tuple[Loc, str]:
    loc: Loc = tuple(error["loc"])
    kind, value = error["type"], error.get("input")
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    if kind in _EXPECTED:
        hint = " (quote it if it is meant as a word)" if kind == "string_type" and isinstance(value, bool) else ""
        subject = "a key must be " if is_key else "expected "
        return loc, f"{subject}{_EXPECTED[kind]}, got {_describe(value)}{hint}"
    if kind == "missing":
        return loc, "required key is missing"
    if kind == "extra_forbidden":
        return loc, _unknown_key(loc)
    if kind == "too_short":
        return loc, "must not be empty"
    if kind == "literal_error":
        shown = repr(value) if isinstance(value, str) else _describe(value)
        return loc, f"unknown value {shown} (expected {error.get('ctx', {}).get('expected')})"
    if kind == "value_error":
        return loc, str(error.get("ctx", {}).get("error", error["msg"]))
    return loc, error["msg"]


def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r} (allowed: {', '.join(allowed)})"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the value at `loc` (walking fields, dict values and list items)."""
    current: Any = Policy
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` -> X, `X | None` -> X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _describe(value: object) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"text {value[:40]!r}" if len(value) <= 40 else f"text {value[:37] + '...'!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, date):
        return f"a date ({value.isoformat()})"
    return type(value).__name__


# ---------------------------------------------------------------- cross-references


def _cross_check(policy: Policy) -> list[tuple[Loc, str]]:
    return [
        *_check_approvers(policy),
        *_check_people_in_domain(policy),
        *_check_teams_and_channels(policy),
        *_check_groups(policy),
        *_check_offboarding(policy),
        *_check_reviews(policy),
        *_check_timing(policy),
    ]


def _known(names: typing.Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def _approver_lists(policy: Policy) -> typing.Iterator[tuple[Loc, list[str]]]:
    yield ("access", "defaults", "approvals"), policy.access.defaults.approvals
    for index, group in enumerate(policy.access.groups):
        if group.approvals is not None:
            yield ("access", "groups", index, "approvals"), group.approvals
    yield ("offboarding", "allowed"), policy.offboarding.allowed
    yield ("offboarding", "approvals"), policy.offboarding.approvals
    yield ("offboarding", "protected"), policy.offboarding.protected  # not approvers, but checked the same way


def _check_approvers(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    if ADMIN_ROLE not in policy.roles:
        yield ("roles",), f"the role '{ADMIN_ROLE}' is required (escalations and break-glass approvals go to it)"
    for loc, steps in _approver_lists(policy):
        for index, step in enumerate(steps):
            role = role_name(step)
            if role is not None and role not in policy.roles:
                yield (*loc, index), f"unknown role {role!r} (known: {_known(policy.roles)})"


def _people(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    """Every email address in the policy, with where it is."""
    for email in policy.org.gitlab_usernames:
        yield ("org", "gitlab_usernames", email), email
    for name, role in policy.roles.items():
        yield from ((("roles", name, "members", i), email) for i, email in enumerate(role.members))
    for key, team in policy.teams.items():
        yield from ((("teams", key, "dris", i), email) for i, email in enumerate(team.dris))
    for g, group in enumerate(policy.access.groups):
        yield from ((("access", "groups", g, "owners", i), email) for i, email in enumerate(group.owners))
    for name, user in policy.aws_keys.service_users.items():
        yield from ((("aws_keys", "service_users", name, "owners", i), email) for i, email in enumerate(user.owners))
    for loc, steps in _approver_lists(policy):
        yield from (((*loc, i), step) for i, step in enumerate(steps) if "@" in step and role_name(step) is None)


def _check_people_in_domain(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    domain = policy.org.email_domain
    for loc, email in _people(policy):
        if email.rpartition("@")[2] != domain:
            yield loc, f"{email!r} is outside the org's email domain {domain}"


def _check_teams_and_channels(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    defaults = [key for key, team in policy.teams.items() if team.default]
    if len(defaults) != 1:
        found = ", ".join(defaults) or "none"
        yield ("teams",), f"exactly one team must have default: true (found: {found})"
    owner_of_channel: dict[str, str] = {}
    for key, team in policy.teams.items():
        other = owner_of_channel.setdefault(team.channel, key)
        if other != key:
            yield ("teams", key, "channel"), f"{team.channel!r} is already the channel of team {other!r}"
    for channel, route in policy.channels.items():
        if route.team not in policy.teams:
            yield ("channels", channel, "team"), f"unknown team {route.team!r} (known: {_known(policy.teams)})"
        elif owner_of_channel.get(channel, route.team) != route.team:
            owner = owner_of_channel[channel]
            yield ("channels", channel, "team"), f"{channel!r} is the channel of team {owner!r}, not {route.team!r}"
    if policy.offboarding.team not in policy.teams:
        wanted = policy.offboarding.team
        yield ("offboarding", "team"), f"unknown team {wanted!r} (known: {_known(policy.teams)})"


def _check_groups(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    first_seen: dict[str, int] = {}
    for index, group in enumerate(policy.access.groups):
        first = first_seen.setdefault(group.okta_group, index)
        if first != index:
            yield (
                ("access", "groups", index, "okta_group"),
                f"duplicate group {group.okta_group!r} (first listed at access.groups[{first}])",
            )
        if group.owners or group.auto_approve:
            continue
        if group.approvals is None:
            if "owners" in policy.access.defaults.approvals:
                yield ("access", "groups", index), "the default approvals include 'owners' but the group has no owners"
        elif "owners" in group.approvals:
            step = group.approvals.index("owners")
            yield ("access", "groups", index, "approvals", step), "'owners' step but the group has no owners"


def _check_offboarding(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    if "owners" in policy.offboarding.approvals:
        step = policy.offboarding.approvals.index("owners")
        yield ("offboarding", "approvals", step), "'owners' has no meaning here: offboarding has no owners"
    seen: set[str] = set()
    for index, name in enumerate(policy.offboarding.steps):
        if name in seen:
            yield ("offboarding", "steps", index), f"{name!r} is listed twice"
        if name in NEEDS_LIVE_MAILBOX and "google_suspend" in seen:
            yield (
                ("offboarding", "steps", index),
                f"{name!r} after 'google_suspend' does nothing: a suspended Google user receives no new mail "
                "(use google_lock instead, or put it before google_suspend)",
            )
        seen.add(name)
    if "google_suspend" in seen and "google_lock" in seen:
        yield ("offboarding", "steps"), "'google_lock' is the alternative to 'google_suspend': list one of them"
    if "gmail_autoreply" in seen and not policy.offboarding.autoreply:
        yield ("offboarding",), "'gmail_autoreply' needs offboarding.autoreply (the responder's text)"
    later = policy.offboarding.later
    if later is not None:
        for index, later_step in enumerate(later.steps):
            if later.steps.index(later_step) != index:
                yield ("offboarding", "later", "steps", index), f"{later_step!r} is listed twice"
        if "gmail_remove_delegate" in later.steps and "gmail_delegate" not in seen:
            yield (
                ("offboarding", "later", "steps", later.steps.index("gmail_remove_delegate")),
                "'gmail_remove_delegate' without 'gmail_delegate' in offboarding.steps has nothing to remove",
            )


def _check_reviews(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    groups = {group.okta_group: group for group in policy.access.groups}
    for index, review in enumerate(policy.reviews):
        group = groups.get(review.okta_group)
        if group is None:
            yield (
                ("reviews", index, "okta_group"),
                f"unknown group {review.okta_group!r} (reviews cover groups listed under access.groups)",
            )
        elif review.reviewers == "owners" and not group.owners:
            yield ("reviews", index, "reviewers"), f"'owners' but {review.okta_group} has no owners"
        role = role_name(review.reviewers)
        if role is not None and role not in policy.roles:
            yield ("reviews", index, "reviewers"), f"unknown role {role!r} (known: {_known(policy.roles)})"
        if review.due_in >= review.every:
            yield ("reviews", index, "due_in"), "must be shorter than `every` (one campaign ends before the next)"


def _check_timing(policy: Policy) -> typing.Iterator[tuple[Loc, str]]:
    defaults = policy.access.defaults
    expire = format_duration(defaults.expire_after)
    for name, after in (("remind_after", defaults.remind_after), ("escalate_after", defaults.escalate_after)):
        if after >= defaults.expire_after:
            message = f"{format_duration(after)} must be shorter than expire_after ({expire}), or it never happens"
            yield ("access", "defaults", name), message
