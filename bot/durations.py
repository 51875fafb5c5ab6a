"""Durations as written in the policy and in commands: a positive whole number and a unit, `30m`, `8h`, `7d`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

UNITS: dict[str, timedelta] = {
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
}
_DURATION = re.compile(r"(?P<count>[0-9]+)(?P<unit>[a-zA-Z]+)")
_EXPECTED = "a number and a unit (m, h or d), like 30m, 8h or 7d"


def parse_duration(text: str) -> timedelta:
    """`"8h"` -> `timedelta(hours=8)`. Raises ValueError saying what is wrong and what is expected."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: expected {_EXPECTED}")
    count, unit = int(match["count"]), match["unit"]
    if unit not in UNITS:
        raise ValueError(f"invalid duration {text!r}: unknown unit {unit!r} (use m, h or d)")
    if count == 0:
        raise ValueError(f"invalid duration {text!r}: must be longer than zero")
    try:
        return count * UNITS[unit]
    except OverflowError:
        raise ValueError(f"invalid duration {text!r}: too long") from None


def parse_optional_duration(text: str | None) -> timedelta | None:
    """A duration as typed in a form: empty or only whitespace is no duration (no end date, SPEC §5); anything
    else must be a valid duration (ValueError otherwise)."""
    if text is None or not text.strip():
        return None
    return parse_duration(text.strip())


def looks_like_duration(word: str) -> bool:
    """A word meant as a duration (it starts with a digit): it must then be one, never be read as other text."""
    return word[:1].isdigit()


def format_duration(duration: timedelta) -> str:
    """The shortest policy spelling: `timedelta(hours=48)` -> `"2d"`, `timedelta(minutes=90)` -> `"90m"`."""
    if duration <= timedelta(0):
        raise ValueError(f"cannot write {duration} as a duration: it must be longer than zero")
    for unit, size in UNITS.items():  # largest unit first
        count, rest = divmod(duration, size)
        if not rest:
            return f"{count}{unit}"
    raise ValueError(f"cannot write {duration} as a duration: it is not a whole number of minutes")


def describe_duration(duration: timedelta) -> str:
    """Approximate, for people: the largest unit that fits and the next one, rounded down: `"3h 20m"`, `"2d"`."""
    units = list(UNITS.items())  # largest first
    first = next((i for i, (_, size) in enumerate(units) if duration >= size), None)
    if first is None:
        return "less than a minute"
    parts: list[str] = []
    rest = duration
    for unit, size in units[first : first + 2]:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def describe_until(moment: datetime, now: datetime) -> str:
    """`"in 3h 20m"` for a moment ahead of `now`, `"3h 20m ago"` for one behind it."""
    if moment >= now:
        return f"in {describe_duration(moment - now)}"
    return f"{describe_duration(now - moment)} ago"
