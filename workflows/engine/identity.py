"""Who a person is at each provider (SPEC §5 "Identity"): the one place that decides, or refuses.

The `pick_*` rules and `protection` are pure: they take what the providers answered. The
`*_of` resolvers make the lookups through the runtime's adapters and apply them. A resolver
returns the resolved account, None (not there), or a `Refusal` saying why nobody is acted on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.policy import Policy, role_name
from bot.providers.aws import IamUser
from bot.providers.google import GoogleUser
from bot.providers.okta import OktaUser
from workflows.engine import runtime

OKTA_ADMIN_ROLES = {"SUPER_ADMIN": "an Okta super admin", "ORG_ADMIN": "an Okta org admin"}


# --- refusals ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    email: str  # as asked for, lower case

    @property
    def text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Ambiguous(Refusal):
    provider: str
    candidates: tuple[str, ...]

    @property
    def text(self) -> str:
        return (
            f"{self.provider}: {self.email} matches more than one account ({' and '.join(self.candidates)}); "
            "refused: nothing is done there until the directory says which one is theirs"
        )


@dataclass(frozen=True)
class AliasOfAnother(Refusal):
    primary_email: str

    @property
    def text(self) -> str:
        return (
            f"Google: {self.email} is only an alias of the account {self.primary_email}; refused: that account "
            "is not acted on as if it were this person"
        )


@dataclass(frozen=True)
class OutsideDomain(Refusal):
    domain: str

    @property
    def text(self) -> str:
        return f"{self.email} is not an address in {self.domain}"


@dataclass(frozen=True)
class TaggedToSomeoneElse(Refusal):
    iam_user: str
    tagged: str

    @property
    def text(self) -> str:
        return f"AWS: IAM user {self.iam_user} is tagged email={self.tagged}, so it is not {self.email}'s"


@dataclass(frozen=True)
class ServiceUser(Refusal):
    iam_user: str

    @property
    def text(self) -> str:
        return (
            f"AWS: IAM user {self.iam_user} is a service user (aws_keys.service_users), never {self.email}'s "
            f"own; its keys are rotated with /rotate-keys {self.iam_user} and its owners' approval"
        )


@dataclass(frozen=True)
class Protected(Refusal):
    why: str

    @property
    def text(self) -> str:
        return f"{self.email} is protected ({self.why}); the bot never offboards them"


@dataclass(frozen=True)
class Unverified(Refusal):
    why: str

    @property
    def text(self) -> str:
        return f"could not check whether {self.email} is protected ({self.why}); nothing is done until it can be"


# --- the rules (pure) ----------------------------------------------------------------------------------------
def domain_of(email: str) -> str:
    return email.strip().lower().rpartition("@")[2]


def outside_domain(email: str, domain: str) -> OutsideDomain | None:
    email = email.strip().lower()
    return None if domain_of(email) == domain.lower() else OutsideDomain(email, domain.lower())


def pick_okta(email: str, by_login: OktaUser | None, by_email: Sequence[OktaUser]) -> OktaUser | Refusal | None:
    """The user whose login is the email, else the one user whose profile.email is."""
    email = email.strip().lower()
    if by_login is not None and by_login.login.lower() == email:
        return by_login
    found = list({u.id: u for u in by_email if u.email.lower() == email}.values())
    if len(found) > 1:
        return Ambiguous(email, "Okta", tuple(sorted(u.login for u in found)))
    return found[0] if found else None


def pick_google(email: str, found: GoogleUser | None) -> GoogleUser | Refusal | None:
    """The account whose primaryEmail is the email; users.get also answers for an alias (refused)."""
    email = email.strip().lower()
    if found is None:
        return None
    if found.primary_email.lower() != email:
        return AliasOfAnother(email, found.primary_email.lower())
    return found


def name_candidates(email: str) -> list[str]:
    """IAM user names that may be a person's by name: the email, then its local part."""
    email = email.strip().lower()
    return list(dict.fromkeys(n for n in (email, email.partition("@")[0]) if n))


def pick_iam(
    email: str,
    domain: str,
    service_users: Collection[str],
    tagged: Sequence[str],
    named: Sequence[IamUser],
) -> str | Refusal | None:
    """The IAM user tagged email=<email>; else, inside `domain` only, the one named like the email or its
    local part. Never a service user, never one tagged with another person's email; two is refused.

    `tagged`: names of the users tagged with the email; `named`: the users that exist under `name_candidates`.
    """
    email = email.strip().lower()
    own_tagged = [name for name in dict.fromkeys(tagged) if name not in service_users]
    if len(own_tagged) > 1:
        return Ambiguous(email, "AWS", tuple(sorted(own_tagged)))
    if own_tagged:
        return own_tagged[0]
    excluded: list[Refusal] = [ServiceUser(email, name) for name in tagged if name in service_users]
    if outside_domain(email, domain) is None:
        matches = []
        for user in named:
            if user.name in service_users:
                excluded.append(ServiceUser(email, user.name))
            elif user.email and user.email != email:
                excluded.append(TaggedToSomeoneElse(email, user.name, user.email))
            else:
                matches.append(user.name)
        matches = list(dict.fromkeys(matches))
        if len(matches) > 1:
            return Ambiguous(email, "AWS", tuple(matches))
        if matches:
            return matches[0]
    return excluded[0] if excluded else None


def protection(
    email: str,
    *,
    google: GoogleUser | None,
    okta: OktaUser | None,
    okta_roles: Iterable[str],
    protected_people: Mapping[str, str],
    bot_accounts: Mapping[str, str],
) -> Protected | None:
    """Why the person must never be offboarded (SPEC §6.3), or None.

    `protected_people` and `bot_accounts` map a lower-case email, login or id to the reason."""
    email = email.strip().lower()
    names = [email]
    if google is not None:
        names += [google.primary_email.lower(), google.id]
    if okta is not None:
        names += [okta.login.lower(), okta.email.lower(), okta.id]
    for name in names:
        if name in bot_accounts:
            return Protected(email, bot_accounts[name])
    for name in names:
        if name in protected_people:
            return Protected(email, protected_people[name])
    if google is not None and google.is_admin:
        return Protected(email, f"a Google super admin ({google.primary_email})")
    for role in okta_roles:
        if role in OKTA_ADMIN_ROLES:
            return Protected(email, f"{OKTA_ADMIN_ROLES[role]} ({okta.login if okta else email})")
    return None


def protected_entries(policy: Policy, holders: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """`offboarding.protected` as email -> why; `holders` are the members of each role named there."""
    found: dict[str, str] = {}
    for entry in policy.offboarding.protected:
        role = role_name(entry)
        members = holders.get(role, ()) if role is not None else (entry,)
        for member in members:
            found.setdefault(member.lower(), f"offboarding.protected: {entry}")
    return found


# --- the resolvers (lookups through the adapters) ---------------------------------------------------------------
def okta_person(email: str) -> OktaUser | Refusal | None:
    okta = runtime.current().require_okta()
    email = email.strip().lower()
    by_login = okta.get_user_by_login(email)  # not `get_user`: its own email fallback refuses two matches
    if by_login is not None and by_login.login.lower() == email:
        return by_login
    return pick_okta(email, by_login, okta.find_users_by_email(email))


def google_person(email: str) -> GoogleUser | Refusal | None:
    return pick_google(email, runtime.current().require_google().get_user(email.strip().lower()))


def iam_user_of(email: str) -> str | Refusal | None:
    rt = runtime.current()
    aws = rt.require_aws()
    email = email.strip().lower()
    services = rt.policy.aws_keys.service_users
    tagged = aws.users_tagged(email)
    named: list[IamUser] = []
    if all(name in services for name in tagged) and outside_domain(email, rt.policy.org.email_domain) is None:
        named = [user for name in name_candidates(email) if (user := aws.get_iam_user(name)) is not None]
    return pick_iam(email, rt.policy.org.email_domain, services, tagged, named)
