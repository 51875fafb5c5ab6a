"""SPEC §5 "Identity", the pure rules of workflows.engine.identity: who a person is at each provider, or a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy import PolicyError, load_policy
from bot.providers.aws import IamUser
from bot.providers.google import GoogleUser
from bot.providers.okta import OktaUser
from workflows.engine import identity
from workflows.engine.identity import (
    AliasOfAnother,
    Ambiguous,
    OutsideDomain,
    Protected,
    ServiceUser,
    TaggedToSomeoneElse,
    name_candidates,
    outside_domain,
    pick_google,
    pick_iam,
    pick_okta,
    protected_entries,
    protection,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "policy.example.yaml"
SERVICE = {"svc-deploy"}


def okta(login: str, email: str | None = None, uid: str | None = None) -> OktaUser:
    return OktaUser(uid or f"00u-{login}", login, email or login, "ACTIVE", "First", "Last")


def google(primary: str, *, admin: bool = False) -> GoogleUser:
    return GoogleUser(f"id-{primary}", primary, "A Person", False, None, is_admin=admin)


# --- the email domain -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("email", "outside"),
    [
        ("alice@example.com", False),
        ("Alice@EXAMPLE.com ", False),
        ("alice@contractor.io", True),
        ("alice@example.com.evil.com", True),  # finding 2: a suffix is not the domain
        ("alice@sub.example.com", True),
        ("alice@evilexample.com", True),
    ],
)
def test_the_domain_is_the_part_after_the_last_at_exactly(email: str, outside: bool) -> None:
    refusal = outside_domain(email, "example.com")
    assert (refusal is not None) == outside
    if refusal:
        assert refusal == OutsideDomain(email.strip().lower(), "example.com")
        assert refusal.text == f"{email.strip().lower()} is not an address in example.com"


# --- Okta: login, else the one profile.email -------------------------------------------------------------------
def test_okta_login_equal_to_the_email_wins() -> None:
    alice = okta("alice@example.com")
    other = okta("a.archer@example.com", "alice@example.com")
    assert pick_okta("Alice@example.com", alice, [other]) == alice


def test_okta_else_the_one_user_whose_profile_email_is_it() -> None:
    rosa = okta("rdiaz@example.com", "rosa@example.com")
    assert pick_okta("rosa@example.com", None, [rosa]) == rosa


def test_okta_a_user_found_by_short_name_or_another_email_is_not_the_person() -> None:
    # getUser also answers for a login short name; the search may match case-insensitively
    shortname = okta("rosa@other.example.com")
    assert pick_okta("rosa@example.com", shortname, []) is None
    assert pick_okta("rosa@example.com", None, [okta("rosa2@example.com", "rosa2@example.com")]) is None


def test_okta_two_users_with_that_email_are_refused_naming_both() -> None:
    one, two = okta("rdiaz@example.com", "rosa@example.com"), okta("rosa.d@example.com", "rosa@example.com")
    refusal = pick_okta("rosa@example.com", None, [one, two, one])
    assert refusal == Ambiguous("rosa@example.com", "Okta", ("rdiaz@example.com", "rosa.d@example.com"))
    assert isinstance(refusal, Ambiguous)
    assert "rdiaz@example.com and rosa.d@example.com" in refusal.text


# --- Google: primaryEmail, never an alias ------------------------------------------------------------------------
def test_google_the_account_whose_primary_email_is_it() -> None:
    mona = google("mona@example.com")
    assert pick_google("MONA@example.com", mona) == mona
    assert pick_google("nobody@example.com", None) is None


def test_google_an_alias_of_another_account_is_refused() -> None:
    refusal = pick_google("old-bob@example.com", google("mona@example.com"))
    assert refusal == AliasOfAnother("old-bob@example.com", "mona@example.com")
    assert isinstance(refusal, AliasOfAnother)
    assert "alias" in refusal.text and "mona@example.com" in refusal.text


# --- AWS: the tag, else (in the domain only) the name; never a service user or someone else's -------------------
def test_iam_the_tag_wins_over_names() -> None:
    named = [IamUser("alice", None), IamUser("alice@example.com", None)]
    assert pick_iam("alice@example.com", "example.com", SERVICE, ["a.archer"], named) == "a.archer"


def test_iam_two_users_tagged_with_the_email_are_refused_naming_both() -> None:
    refusal = pick_iam("alice@example.com", "example.com", SERVICE, ["alice-2", "alice-1"], [])
    assert refusal == Ambiguous("alice@example.com", "AWS", ("alice-1", "alice-2"))


def test_iam_name_like_the_email_then_its_local_part() -> None:
    assert name_candidates("Erin@example.com") == ["erin@example.com", "erin"]
    assert pick_iam("erin@example.com", "example.com", SERVICE, [], [IamUser("erin@example.com", None)]) == (
        "erin@example.com"
    )
    assert pick_iam("dave@example.com", "example.com", SERVICE, [], [IamUser("dave", None)]) == "dave"
    assert pick_iam("carol@example.com", "example.com", SERVICE, [], []) is None


def test_iam_two_users_named_like_the_person_are_refused_naming_both() -> None:
    named = [IamUser("uma@example.com", None), IamUser("uma", None)]
    refusal = pick_iam("uma@example.com", "example.com", SERVICE, [], named)
    assert refusal == Ambiguous("uma@example.com", "AWS", ("uma@example.com", "uma"))


def test_iam_names_count_only_inside_the_org_domain() -> None:
    # finding 2: guest alice@contractor.io is not employee alice; nor is alice@example.com.evil.com
    for email in ("alice@contractor.io", "alice@example.com.evil.com"):
        assert pick_iam(email, "example.com", SERVICE, [], [IamUser("alice", "alice@example.com")]) is None
        assert pick_iam(email, "example.com", SERVICE, [], [IamUser("alice", None)]) is None
    # a tag for that exact address still counts outside the domain
    assert pick_iam("alice@contractor.io", "example.com", SERVICE, ["alice-guest"], []) == "alice-guest"


def test_iam_a_user_named_like_the_person_but_tagged_to_someone_else_is_not_theirs() -> None:
    refusal = pick_iam("sam@example.com", "example.com", SERVICE, [], [IamUser("sam", "rosa@example.com")])
    assert refusal == TaggedToSomeoneElse("sam@example.com", "sam", "rosa@example.com")
    # and a user tagged with the person's own email is theirs even when found by name
    assert pick_iam("sam@example.com", "example.com", SERVICE, [], [IamUser("sam", "sam@example.com")]) == "sam"


def test_iam_never_a_service_user_tagged_with_or_named_like_the_person() -> None:
    # finding 5: a service user tagged with the caller, or named like them, is never their own
    assert pick_iam("erin@example.com", "example.com", SERVICE, ["svc-deploy"], []) == ServiceUser(
        "erin@example.com", "svc-deploy"
    )
    assert pick_iam("erin@example.com", "example.com", SERVICE, ["svc-deploy", "erin"], []) == "erin"
    refusal = pick_iam("svc-deploy@example.com", "example.com", SERVICE, [], [IamUser("svc-deploy", None)])
    assert refusal == ServiceUser("svc-deploy@example.com", "svc-deploy")
    # the service user does not hide the person's own user found by name
    named = [IamUser("erin", None)]
    assert pick_iam("erin@example.com", "example.com", SERVICE, ["svc-deploy"], named) == "erin"


# --- protected people (SPEC §6.3) ---------------------------------------------------------------------------------
def check(email: str, **kw: object) -> Protected | None:
    args: dict[str, object] = {
        "google": None,
        "okta": None,
        "okta_roles": [],
        "protected_people": {},
        "bot_accounts": {},
    }
    args.update(kw)
    return protection(email, **args)  # type: ignore[arg-type]


def test_nobody_special_is_not_protected() -> None:
    assert check("alice@example.com", google=google("alice@example.com"), okta=okta("alice@example.com")) is None


def test_protected_roles_holders_by_email_or_resolved_login() -> None:
    holders = {"heidi@example.com": "offboarding.protected: role:it-admins"}
    assert check("heidi@example.com", protected_people=holders) == Protected(
        "heidi@example.com", "offboarding.protected: role:it-admins"
    )
    # typed as another address that resolves to the holder's Okta user
    found = check("h.klum@example.com", okta=okta("heidi@example.com", "h.klum@example.com"), protected_people=holders)
    assert found is not None and "role:it-admins" in found.why


def test_google_super_admins_are_protected() -> None:
    found = check("sam@example.com", google=google("sam@example.com", admin=True))
    assert found is not None and "Google super admin" in found.why


@pytest.mark.parametrize("role", ["SUPER_ADMIN", "ORG_ADMIN"])
def test_okta_super_and_org_admins_are_protected(role: str) -> None:
    found = check("tara@example.com", okta=okta("tara@example.com"), okta_roles=["USER_ADMIN", role])
    assert found is not None and "Okta" in found.why
    assert check("tara@example.com", okta=okta("tara@example.com"), okta_roles=["HELP_DESK_ADMIN"]) is None


def test_the_bots_own_accounts_are_protected() -> None:
    bot = {"engops-admin@example.com": "the bot's own Google admin account", "00u-api": "the Okta API user"}
    found = check("engops-admin@example.com", bot_accounts=bot)
    assert found is not None and "own Google admin" in found.why
    api = check(
        "ops@example.com", okta=okta("okta-api@example.com", "ops@example.com", uid="00u-api"), bot_accounts=bot
    )
    assert api is not None and "Okta API user" in api.why
    assert "never offboards" in api.text


def test_protected_entries_from_the_policy() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.offboarding.protected == ["role:it-admins"]
    entries = protected_entries(policy, {"it-admins": ["Grace@example.com", "heidi@example.com"]})
    assert entries == {
        "grace@example.com": "offboarding.protected: role:it-admins",
        "heidi@example.com": "offboarding.protected: role:it-admins",
    }


def test_policy_protected_is_validated_like_the_other_role_lists(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("protected: [role:it-admins]", "protected: [role:it-admin, someone]")
    bad = tmp_path / "policy.yaml"
    bad.write_text(text)
    with pytest.raises(PolicyError) as raised:
        load_policy(bad)
    message = str(raised.value)
    assert "offboarding.protected[1]: unknown approver 'someone'" in message


def test_policy_protected_names_a_known_role(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("protected: [role:it-admins]", "protected: [role:it-admin]")
    bad = tmp_path / "policy.yaml"
    bad.write_text(text)
    with pytest.raises(PolicyError, match=r"offboarding\.protected\[0\]: unknown role 'it-admin'"):
        load_policy(bad)


def test_policy_protected_defaults_to_none(tmp_path: Path) -> None:
    text = "\n".join(line for line in EXAMPLE.read_text().splitlines() if "protected:" not in line)
    plain = tmp_path / "policy.yaml"
    plain.write_text(text)
    assert load_policy(plain).offboarding.protected == []


def test_every_refusal_says_why() -> None:
    refusals: list[identity.Refusal] = [
        Ambiguous("a@example.com", "AWS", ("x", "y")),
        AliasOfAnother("a@example.com", "b@example.com"),
        OutsideDomain("a@other.io", "example.com"),
        TaggedToSomeoneElse("a@example.com", "a", "b@example.com"),
        ServiceUser("a@example.com", "svc-deploy"),
        Protected("a@example.com", "a Google super admin (a@example.com)"),
        identity.Unverified("a@example.com", "Okta: HTTP 503"),
    ]
    for refusal in refusals:
        assert refusal.email in refusal.text
