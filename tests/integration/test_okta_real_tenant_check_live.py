"""`engops check --live`, Okta part, run as a user runs it against the stand-in stack: it proves the credentials
can do the bot's job (the OAuth token's scopes, the admin role of the API token's user or of the service app),
one line per missing permission naming what to grant."""

from __future__ import annotations

from engops.sandbox.okta import API_USER_LOGIN
from engops.sandbox.stack import Stack
from tests.support.cli import run
from tests.support.keys import rsa_pem_pair

APP = "0oa-engops-bot"
ALL_SCOPES = "okta.users.manage,okta.groups.manage,okta.roles.read"


def okta_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line[5:].startswith("okta")]


def service_app_env(stack: Stack, scopes: str, **extra: str) -> tuple[dict[str, str], str]:
    """The settings of an OAuth service app (no API token), and the public key to register at Okta."""
    private, public = rsa_pem_pair()
    env = {k: v for k, v in stack.env.items() if k != "OKTA_CLIENT_TOKEN"}
    oauth = {"OKTA_CLIENT_CLIENTID": APP, "OKTA_CLIENT_PRIVATEKEY": private, "OKTA_CLIENT_SCOPES": scopes}
    return {**env, **oauth, **extra}, public


def test_a_service_app_with_kid_and_dpop_and_every_permission_passes(stack: Stack) -> None:
    env, public = service_app_env(stack, ALL_SCOPES, OKTA_CLIENT_KID="kid-1", OKTA_CLIENT_DPOP="true")
    scopes = ALL_SCOPES.split(",")
    stack.okta.register_service_app(APP, public, scopes, key_id="kid-1", dpop=True, admin_roles=["ORG_ADMIN"])
    result = run(["check", "--live"], env)
    lines = okta_lines(result.stdout)
    assert lines and all(line.startswith("ok   okta") for line in lines), result.stdout + result.stderr
    assert "ok   okta admin role: ORG_ADMIN (the service app (Admin roles tab))" in lines
    assert env["OKTA_CLIENT_PRIVATEKEY"].splitlines()[1] not in result.stdout + result.stderr


def test_each_scope_the_token_lacks_is_one_line_naming_it(stack: Stack) -> None:
    # okta.groups.manage is in OKTA_CLIENT_SCOPES but not granted to the app: Okta refuses the whole token request
    env, public = service_app_env(stack, "okta.users.manage,okta.groups.manage")
    stack.okta.register_service_app(APP, public, ["okta.users.manage", "okta.roles.read"])
    result = run(["check", "--live"], env)
    assert result.returncode == 1
    refused, *failing = [line for line in okta_lines(result.stdout) if line.startswith("FAIL")]
    assert refused.startswith("FAIL okta: ") and "invalid_scope" in refused
    assert failing == [
        "FAIL okta scope okta.groups.manage: missing (needed to add and remove group members): grant it to the "
        "service app (Okta API Scopes tab) and add it to OKTA_CLIENT_SCOPES",
        "FAIL okta scope okta.roles.read: missing (needed to see who is an Okta admin (protected from offboarding)): "
        "grant it to the service app (Okta API Scopes tab) and add it to OKTA_CLIENT_SCOPES",
    ], result.stdout


def test_each_admin_capability_the_api_users_role_lacks_is_one_line(stack: Stack) -> None:
    stack.okta.set_admin_roles(API_USER_LOGIN, ["GROUP_MEMBERSHIP_ADMIN"])
    result = run(["check", "--live"], stack.env)
    failing = [line for line in okta_lines(result.stdout) if line.startswith("FAIL")]
    holder = f"the API token's user {API_USER_LOGIN}"
    assert failing == [
        "FAIL okta admin role: offboarding (suspend, unsuspend, deactivate, end sessions) not allowed "
        f"(roles: GROUP_MEMBERSHIP_ADMIN): assign Organization Administrator to {holder}",
        "FAIL okta admin role: protected people (read admin role assignments) not allowed "
        f"(roles: GROUP_MEMBERSHIP_ADMIN): assign Organization Administrator (or Read-only Administrator) to {holder}",
    ], result.stdout
    # what the check warns of is what Okta does: the stand-in refuses the suspension
    stack.okta.set_admin_roles(API_USER_LOGIN, ["READ_ONLY_ADMIN"])
    result = run(["check", "--live"], stack.env)
    failing = [line for line in okta_lines(result.stdout) if line.startswith("FAIL")]
    assert [line.split(" not allowed")[0] for line in failing] == [
        "FAIL okta admin role: offboarding (suspend, unsuspend, deactivate, end sessions)",
        "FAIL okta admin role: access grants (add and remove group members)",
    ]


def test_a_service_app_without_an_admin_role_is_told_what_to_assign(stack: Stack) -> None:
    env, public = service_app_env(stack, ALL_SCOPES)
    stack.okta.register_service_app(APP, public, ALL_SCOPES.split(","), admin_roles=["READ_ONLY_ADMIN"])
    result = run(["check", "--live"], env)
    failing = [line for line in okta_lines(result.stdout) if line.startswith("FAIL")]
    assert failing == [
        "FAIL okta admin role: offboarding (suspend, unsuspend, deactivate, end sessions) not allowed "
        "(roles: READ_ONLY_ADMIN): assign Organization Administrator to the service app (Admin roles tab)",
        "FAIL okta admin role: access grants (add and remove group members) not allowed (roles: READ_ONLY_ADMIN): "
        "assign Organization Administrator (or Group Membership Administrator) to the service app (Admin roles tab)",
    ], result.stdout
