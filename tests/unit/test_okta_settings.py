"""The Okta settings of SPEC §4 as a user writes them, and what the adapter reads from Okta's answers."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from bot.providers.okta import _next_cursor
from bot.settings import Mode, SettingsError, load_settings

ORG = {"OKTA_CLIENT_ORGURL": "https://acme.okta.com", "OKTA_CLIENT_CLIENTID": "0oa1", "OKTA_CLIENT_PRIVATEKEY": "k"}


@pytest.mark.parametrize(
    "text",
    [
        "okta.users.manage,okta.groups.manage",  # as the Okta SDK reads OKTA_CLIENT_SCOPES
        "okta.users.manage, okta.groups.manage",
        "okta.users.manage okta.groups.manage",  # OAuth's own form
        " okta.users.manage,,okta.groups.manage okta.users.manage ",
    ],
)
def test_scopes_are_comma_or_space_separated(text: str) -> None:
    settings = load_settings({**ORG, "OKTA_CLIENT_SCOPES": text})
    assert settings.okta_scopes == ["okta.users.manage", "okta.groups.manage"]
    assert settings.problems_for(Mode.CHECK) == []


def test_a_client_id_without_scopes_is_a_problem_naming_the_variable() -> None:
    assert load_settings({**ORG, "OKTA_CLIENT_SCOPES": " , "}).problems_for(Mode.CHECK) == [
        "OKTA_CLIENT_SCOPES: required with OKTA_CLIENT_CLIENTID"
    ]


def test_kid_and_dpop_settings() -> None:
    settings = load_settings({**ORG, "OKTA_CLIENT_SCOPES": "okta.users.read", "OKTA_CLIENT_KID": "kid-1"})
    assert (settings.okta_client_kid, settings.okta_client_dpop) == ("kid-1", False)
    assert load_settings({**ORG, "OKTA_CLIENT_DPOP": "TRUE"}).okta_client_dpop is True
    assert load_settings({**ORG, "OKTA_CLIENT_DPOP": "false"}).okta_client_dpop is False
    with pytest.raises(SettingsError) as bad:
        load_settings({**ORG, "OKTA_CLIENT_DPOP": "yes"})
    assert bad.value.problems == ["OKTA_CLIENT_DPOP: Value error, must be true or false, got 'yes'"]


@pytest.mark.parametrize(
    "links",
    [
        ['<https://o/api/v1/users?limit=2>; rel="self"', '<https://o/api/v1/users?after=00u2&limit=2>; rel="next"'],
        ['<https://o/api/v1/users?after=00u2&limit=2>; rel="next"', '<https://o/api/v1/users?limit=2>; rel="self"'],
        ['<https://o/api/v1/users?limit=2>; rel="self", <https://o/api/v1/users?after=00u2&limit=2>; rel="next"'],
    ],
)
def test_the_next_cursor_is_found_in_any_link_header(links: list[str]) -> None:
    assert _next_cursor(CIMultiDict(("Link", link) for link in links)) == "00u2"


def test_no_next_link_is_the_last_page() -> None:
    assert _next_cursor(CIMultiDict([("Link", '<https://o/api/v1/users>; rel="self"')])) is None
    assert _next_cursor(CIMultiDict()) is None
