"""Request parameters as GitLab's API (Grape) reads them: query, form and JSON body merged, each
value coerced to what the endpoint declares, and the 400 GitLab answers when it cannot be.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request

from engops.sandbox.gitlab.errors import bad_request


def merged_params(request: Request) -> dict[str, Any]:
    """Query string, form and JSON body merged, like Grape's `params`; `key[]` makes a list."""
    params: dict[str, Any] = {}

    def put(key: str, values: list[str]) -> None:
        if key.endswith("[]"):
            params[key[:-2]] = values
        else:
            params[key] = values[-1]

    for key in request.args:
        put(key, request.args.getlist(key))
    for key in request.form:
        put(key, request.form.getlist(key))
    if request.mimetype == "application/json" and request.get_data():
        try:
            body = json.loads(request.get_data())
        except ValueError:
            raise bad_request(
                "The provided content-type 'application/json' is not supported or body is invalid JSON"
            ) from None
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        params.update(body)
    return params


def str_param(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise bad_request(f"{key} is invalid")
    return value


def bool_param(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "1", "yes", "t"):
        return True
    if str(value).lower() in ("false", "0", "no", "f"):
        return False
    raise bad_request(f"{key} is invalid")


def parse_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"{key} is invalid")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"{key} is invalid") from None


def int_list_param(params: dict[str, Any], key: str) -> list[int]:
    value = params.get(key)
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [parse_int(v, key) for v in items if str(v).strip() != ""]


def label_list(value: Any) -> list[str]:
    """GitLab's CommaSeparatedToArray: a string or a list, every element split on commas."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, str):
            raise bad_request("labels is invalid")
        out += [part.strip() for part in item.split(",") if part.strip()]
    return out


def parse_time(value: str, key: str) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_request(f"{key} is invalid") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def labels_match(have: list[str], wanted: str) -> bool:
    if wanted.lower() == "none":
        return not have
    if wanted.lower() == "any":
        return bool(have)
    lowered = {t.lower() for t in have}
    return all(t.strip().lower() in lowered for t in wanted.split(",") if t.strip())
