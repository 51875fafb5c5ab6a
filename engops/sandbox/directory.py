"""The demo directory: one list of people that every stand-in is seeded from.

Identity follows SPEC §5, and the directory is as messy as real ones: mostly the Slack profile
email is the Okta login and the Google primary email, but rosa's Okta login is not her email,
mona's Google account carries the alias old-bob@, the IAM user "sam" is tagged to rosa, uma has
two untagged IAM users named like her, svc-deploy is tagged with its owner's email, sam is a
Google super admin, tara an Okta super admin, and Slack has a guest alice@contractor.io.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOMAIN = "example.com"


@dataclass(frozen=True)
class Person:
    handle: str  # local part of the email, also the display name seed
    name: str
    slack_id: str
    okta_id: str
    manager: str | None = None  # handle of the manager
    okta_groups: tuple[str, ...] = ()
    iam_user: str | None = None  # IAM user name, when the person has one
    iam_tagged: bool = True  # found by tag `email=` (else by name only)
    gitlab_username: str | None = None
    okta_login: str | None = None  # when the Okta login is not the email
    google_aliases: tuple[str, ...] = ()
    google_admin: bool = False  # a Google super admin
    okta_admin_roles: tuple[str, ...] = ()  # e.g. SUPER_ADMIN
    google_tokens: tuple[str, ...] = ()  # display names of third-party apps holding the person's OAuth tokens
    google_app_passwords: tuple[str, ...] = ()  # names of their application-specific passwords

    @property
    def email(self) -> str:
        return f"{self.handle}@{DOMAIN}"

    @property
    def login(self) -> str:
        return self.okta_login or self.email


@dataclass(frozen=True)
class Guest:
    """A Slack guest (single- or multi-channel) from another company: in Slack only."""

    handle: str
    name: str
    slack_id: str
    email: str


@dataclass(frozen=True)
class IamSeed:
    """An IAM user that is not simply a person's own: named like one person, tagged to another, or a spare."""

    name: str
    tagged: str | None = None  # the `email` tag


@dataclass(frozen=True)
class OktaGroupSeed:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Directory:
    people: tuple[Person, ...]
    groups: tuple[OktaGroupSeed, ...]
    service_users: tuple[str, ...] = ()
    gitlab_projects: tuple[str, ...] = field(default=())
    guests: tuple[Guest, ...] = ()
    extra_iam_users: tuple[IamSeed, ...] = ()  # seeded after the people's and the service users'
    service_user_tags: tuple[tuple[str, str], ...] = ()  # (service user, its `email` tag)

    def by_handle(self, handle: str) -> Person:
        for p in self.people:
            if p.handle == handle:
                return p
        raise KeyError(handle)

    def by_email(self, email: str) -> Person | None:
        for p in self.people:
            if p.email == email.lower():
                return p
        return None

    def by_slack_id(self, slack_id: str) -> Person | None:
        for p in self.people:
            if p.slack_id == slack_id:
                return p
        return None


def _person(n: int, handle: str, name: str, manager: str | None, groups: tuple[str, ...] = (), **kw: object) -> Person:
    return Person(
        handle=handle,
        name=name,
        slack_id=f"U{n:08d}",
        okta_id=f"00u{n:017d}",
        manager=manager,
        okta_groups=("everyone",) + groups,
        **kw,  # type: ignore[arg-type]
    )


def demo_directory() -> Directory:
    people = (
        _person(1, "victor", "Victor Vance", None, iam_user="victor"),
        _person(2, "mona", "Mona Patel", "victor", iam_user="mona", google_aliases=("old-bob@example.com",)),
        _person(
            3,
            "alice",
            "Alice Archer",
            "mona",
            iam_user="alice",
            google_tokens=("Slack", "Zoom"),
            google_app_passwords=("Thunderbird",),
        ),
        _person(4, "bob", "Bob Brown", "mona", iam_user="bob.brown", iam_tagged=False, google_tokens=("GitLab",)),
        _person(5, "carol", "Carol Chen", "mona"),
        _person(6, "dave", "Dave Diaz", "mona", ("zoom-users",), iam_user="dave", google_app_passwords=("Apple Mail",)),
        _person(7, "erin", "Erin Evans", "victor", ("aws-sandbox-admins",), iam_user="erin", gitlab_username="erin"),
        _person(8, "frank", "Frank Wheeler", "victor", iam_user="frank", gitlab_username="fwheeler"),
        _person(9, "grace", "Grace Hopper", "victor", ("it-helpdesk",), gitlab_username="grace"),
        _person(10, "heidi", "Heidi Klum", "victor", gitlab_username="heidi"),
        _person(11, "ivan", "Ivan Ivanov", "victor", gitlab_username="ivan"),
        _person(12, "judy", "Judy Jetson", "victor", gitlab_username="judy"),
        _person(13, "oscar", "Oscar Ortiz", "victor", ("netsuite-finance",)),
        _person(14, "peggy", "Peggy Olson", "victor", gitlab_username="peggy"),
        _person(15, "hank", "Hank Hill", "mona", ("it-helpdesk",)),
        _person(16, "irene", "Irene Adler", "mona", iam_user="irene"),
        _person(17, "kim", "Kim Lee", "oscar", ("netsuite-finance",)),
        _person(18, "leo", "Leo Park", "oscar", iam_user="leo"),
        _person(19, "nina", "Nina Simone", "mona"),
        _person(20, "quinn", "Quinn Fabray", "mona"),
        _person(21, "rosa", "Rosa Diaz", "mona", okta_login="rdiaz@example.com"),
        _person(22, "sam", "Sam Stone", "victor", google_admin=True),
        _person(23, "tara", "Tara Knowles", "victor", okta_admin_roles=("SUPER_ADMIN",)),
        _person(24, "uma", "Uma Thurman", "mona"),
    )
    guests = (Guest("alice.c", "Alice Contractor", "U00000901", "alice@contractor.io"),)
    extra_iam = (
        IamSeed("sam", tagged="rosa@example.com"),  # named like sam, but rosa's
        IamSeed("uma"),  # uma has two untagged IAM users named like her: ambiguous
        IamSeed("uma@example.com"),
    )
    groups = (
        OktaGroupSeed("00g00000000000000001", "everyone", "All employees"),
        OktaGroupSeed("00g00000000000000002", "it-helpdesk", "IT help desk analysts"),
        OktaGroupSeed("00g00000000000000003", "aws-sandbox-admins", "Admin on the AWS sandbox accounts"),
        OktaGroupSeed("00g00000000000000004", "zoom-users", "Zoom licence"),
        OktaGroupSeed("00g00000000000000005", "netsuite-finance", "NetSuite finance role"),
    )
    projects = (
        "bt-engineering/access-manager/issue-tracker",
        "bt-engineering/infrastructure/issue-tracker",
        "enterprise-apps/integrations/integrations-work",
        "bt-engineering/operations/issue-tracker",
    )
    return Directory(
        people=people,
        groups=groups,
        service_users=("svc-deploy",),
        gitlab_projects=projects,
        guests=guests,
        extra_iam_users=extra_iam,
        service_user_tags=(("svc-deploy", "erin@example.com"),),  # a shared user tagged with its owner
    )
