"""Who is who: Slack ids, emails, managers and role holders (SPEC §5 "Identity").

Lookups hit Slack and Okta, so they run in workflows, never on the ack path; what they learn
is cached in the `person` and `role_member` tables for the handlers to read.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import select

from bot import permissions
from bot.db.engine import take_turns
from bot.db.models import Person, RoleMember
from bot.db.types import utcnow
from bot.policy import Policy
from bot.providers.okta import OktaUser
from workflows.engine import identity, runtime

ROLE_REFRESH_EVERY = timedelta(minutes=10)


def remember(slack_id: str, email: str, name: str = "") -> None:
    email = email.lower()
    with runtime.current().db.session() as session:
        take_turns(session, "person")
        clash = session.exec(select(Person).where(Person.email == email)).first()
        if clash is not None and clash.slack_id != slack_id:
            session.delete(clash)
            session.flush()
        person = session.get(Person, slack_id)
        if person is None:
            session.add(Person(slack_id=slack_id, email=email, name=name))
        elif person.email != email or (name and person.name != name):
            person.email, person.name, person.updated_at = email, name or person.name, utcnow()
            session.add(person)


def email_of(slack_id: str) -> str:
    """The profile email of a Slack user (cached)."""
    rt = runtime.current()
    with rt.db.session() as session:
        person = session.get(Person, slack_id)
        if person is not None:
            return person.email
    user = rt.slack.user(slack_id)
    if not user.email:
        raise LookupError(f"Slack user {slack_id} has no profile email")
    remember(user.id, user.email, user.name)
    return user.email


def slack_id_of(email: str) -> str | None:
    rt = runtime.current()
    email = email.lower()
    with rt.db.session() as session:
        person = session.exec(select(Person).where(Person.email == email)).first()
        if person is not None:
            return person.slack_id
    user = rt.slack.user_by_email(email)
    if user is None:
        return None
    remember(user.id, email, user.name)
    return user.id


def manager_of(email: str) -> str | None:
    """The manager's login from the Okta profile attribute `org.manager_attribute`."""
    rt = runtime.current()
    user = identity.okta_person(email)  # SPEC §5: the login, else the one profile.email
    if not isinstance(user, OktaUser):
        return None
    value = user.profile.get(rt.policy.org.manager_attribute)
    return str(value).lower() if value else None


def role_holders(role: str) -> list[str]:
    """Live: the role's static members plus its Okta group's members."""
    rt = runtime.current()
    members = {m.lower() for m in rt.policy.role_members(role)}
    group_name = rt.policy.role_okta_group(role)
    if group_name:
        okta = rt.require_okta()
        group = okta.get_group_by_name(group_name)
        if group is not None:
            members |= {u.login.lower() for u in okta.list_group_members(group.id)}
    return sorted(members)


def live_actor(slack_id: str) -> permissions.Actor:
    """The person with the roles they hold now, read live (SPEC §6.1: a cold or stale cache never turns a holder
    away). Raises ProviderError when Okta cannot answer: the caller says so, never "not allowed"."""
    rt = runtime.current()
    email = email_of(slack_id).lower()
    held = frozenset(role for role in rt.policy.roles if email in role_holders(role))
    return permissions.Actor(slack_id=slack_id, email=email, roles=held)


def refresh_roles(now: datetime, *, force: bool = False) -> int:
    """Rebuild the role_member cache (and learn role holders' Slack ids) when it is stale."""
    rt = runtime.current()
    with rt.db.session() as session:
        newest = session.exec(
            select(RoleMember.refreshed_at).order_by(RoleMember.refreshed_at.desc())  # type: ignore[attr-defined]
        ).first()
    if not force and newest is not None and now - newest < ROLE_REFRESH_EVERY:
        return 0
    holders = {role: role_holders(role) for role in rt.policy.roles}
    with rt.db.session() as session:
        take_turns(session, "role_member")
        session.execute(delete(RoleMember))
        for role, emails in holders.items():
            for email in emails:
                session.add(RoleMember(role=role, email=email, refreshed_at=now))
    # Role holders and the people the policy names (team DRIs, owners) are known to the handlers from the start.
    named = [e for emails in holders.values() for e in emails] + policy_people(rt.policy)
    for email in dict.fromkeys(e.lower() for e in named):
        slack_id_of(email)
    return sum(len(v) for v in holders.values())


def policy_people(policy: Policy) -> list[str]:
    """Team DRIs, group owners and service-user owners: who may act on requests without a role."""
    return (
        [d for team in policy.teams.values() for d in team.dris]
        + [o for group in policy.access.groups for o in group.owners]
        + [o for service in policy.aws_keys.service_users.values() for o in service.owners]
    )
