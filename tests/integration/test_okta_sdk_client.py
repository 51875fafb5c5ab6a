"""The adapter's slim SDK client against the SDK's own `okta.client.Client`: same operations, same state.

If an SDK upgrade changes `Client.__init__` or moves an operation to another API class, these fail
instead of the adapter quietly behaving differently from the SDK."""

from __future__ import annotations

import ast
import inspect
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import bot.providers.okta as adapter_module
from bot.providers.okta_sdk_client import API_CLASSES, SlimOktaClient

# `Client` sets these for its own getters (`get_scopes`, ...), which nothing else reads.
ONLY_IN_CLIENT = {"_client_id", "_scopes", "_private_key", "_oauth_token_renewal_offset"}


def _adapter_operations() -> set[str]:
    """The SDK methods `OktaSdkDirectory` calls: the first argument of its `_call` / `_transition` calls."""
    tree = ast.parse(Path(inspect.getfile(adapter_module)).read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("_call", "_transition")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def test_every_operation_of_the_adapter_is_the_sdk_clients_own_method() -> None:
    from okta.client import Client

    operations = _adapter_operations()
    assert "get_user" in operations and "revoke_user_sessions" in operations  # the scan works
    assert operations == {name for names in API_CLASSES.values() for name in names}
    for api, names in API_CLASSES.items():
        assert all(name in vars(api) for name in names), api
    # Not just the operations: every attribute the slim client inherits (the `_*_serialize`
    # helpers, ApiClient's methods) resolves to the very function `Client` would use.
    own = set(vars(SlimOktaClient))
    for name in dir(SlimOktaClient):
        if name not in own and not (name.startswith("__") and name.endswith("__")):
            assert inspect.getattr_static(SlimOktaClient, name) is inspect.getattr_static(Client, name), name


def _state(value: Any, seen: set[int] | None = None) -> Any:
    """A comparable picture of an SDK object graph: the SDK's (and our) objects by type and
    attributes, containers by content, anything else by type (a logging formatter by its format)."""
    seen = set() if seen is None else seen
    if isinstance(value, str | int | float | bool | type(None)):
        return value
    if isinstance(value, type):
        return f"<class {value.__module__}.{value.__qualname__}>"
    if id(value) in seen:
        return "<seen>"
    seen.add(id(value))
    if isinstance(value, dict):
        return {k: _state(v, seen) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_state(v, seen) for v in value]
    if isinstance(value, logging.Formatter):
        return ("Formatter", value._fmt)
    kind = type(value)
    if kind.__module__.split(".")[0] in ("okta", "bot") and hasattr(value, "__dict__"):
        return (kind.__qualname__, {k: _state(v, seen) for k, v in vars(value).items()})
    return f"<{kind.__module__}.{kind.__qualname__}>"


def _private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize("mode", ["SSWS", "PrivateKey"])
def test_slim_client_is_built_like_the_sdk_client(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from okta.client import Client

    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    auth: dict[str, Any] = (
        {"authorizationMode": "SSWS", "token": "a-token"}
        if mode == "SSWS"
        else {"authorizationMode": "PrivateKey", "clientId": "0oa-x", "privateKey": _private_key(), "scopes": ["a"]}
    )
    config = {  # as `OktaSdkDirectory` passes it
        "orgUrl": "http://okta.invalid",
        **auth,
        "requestTimeout": 30.0,
        "rateLimit": {"maxRetries": 0},
        "httpClient": adapter_module._http_client_class(),
    }
    real, slim = Client(dict(config)), SlimOktaClient(dict(config))

    real_state, slim_state = _state(real), _state(slim)
    assert set(real_state[1]) - set(slim_state[1]) == ONLY_IN_CLIENT
    assert {k: v for k, v in real_state[1].items() if k not in ONLY_IN_CLIENT} == slim_state[1]
    headers = slim.get_request_executor()._default_headers
    assert headers["User-Agent"].startswith("okta-sdk-python/")
    assert ("Authorization" in headers) == (mode == "SSWS")
    assert (slim.get_request_executor()._oauth is not None) == (mode == "PrivateKey")


def test_the_slim_client_does_not_load_every_sdk_model() -> None:
    """The point of the slim client: `okta.client` loads ~1,000 models (+75 MB resident)."""
    probe = (
        "import sys, bot.providers.okta_sdk_client\n"
        "print('okta.client' in sys.modules, sum(m.startswith('okta.models.') for m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root
    ).stdout.split()
    assert out[0] == "False"
    assert int(out[1]) < 300, out
