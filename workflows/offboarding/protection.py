"""Who is protected from offboarding (SPEC §6.3 `protected`): the protected roles' holders, read live, and the bot's
own accounts; the rules themselves are `workflows.engine.identity.protection`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.policy import role_name
from bot.providers.google import GoogleUser
from bot.providers.okta import OktaUser
from workflows.engine import people, runtime
from workflows.engine.identity import Protected, protected_entries, protection


@dataclass(frozen=True)
class Guard:
    """Who is protected from offboarding, read once for a preview or a plan."""

    protected_people: Mapping[str, str]
    bot_accounts: Mapping[str, str]

    def check(self, email: str, google: GoogleUser | None, okta: OktaUser | None) -> Protected | None:
        roles = runtime.current().require_okta().admin_roles(okta.id) if okta is not None else []
        return protection(
            email,
            google=google,
            okta=okta,
            okta_roles=roles,
            protected_people=self.protected_people,
            bot_accounts=self.bot_accounts,
        )


def guard() -> Guard:
    """The protected roles' holders (live) and the bot's own accounts (GOOGLE_ADMIN_SUBJECT, the Okta API user)."""
    rt = runtime.current()
    roles = {r for r in map(role_name, rt.policy.offboarding.protected) if r is not None}
    holders = {role: people.role_holders(role) for role in roles}
    bot: dict[str, str] = {}
    subject = rt.settings.google_admin_subject
    if subject:
        bot[subject.lower()] = "the bot's own Google admin account (GOOGLE_ADMIN_SUBJECT)"
    if rt.okta is not None:
        api_user = rt.okta.api_user()
        if api_user is not None:
            for name in (api_user.login.lower(), api_user.email.lower(), api_user.id):
                bot[name] = "the Okta user the bot's API token belongs to"
    return Guard(protected_entries(rt.policy, holders), bot)
