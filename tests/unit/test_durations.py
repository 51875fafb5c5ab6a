from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.durations import describe_duration, describe_until, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("8h", timedelta(hours=8)),
        ("7d", timedelta(days=7)),
        ("90d", timedelta(days=90)),
        ("1d", timedelta(days=1)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0m", "must be longer than zero"),
        ("0d", "must be longer than zero"),
        ("-1d", "expected a number and a unit (m, h or d), like 30m, 8h or 7d"),
        ("1.5h", "expected a number and a unit"),
        (" 8h", "expected a number and a unit"),
        ("8h ", "expected a number and a unit"),
        ("8 h", "expected a number and a unit"),
        ("8h30m", "expected a number and a unit"),
        ("", "expected a number and a unit"),
        ("8", "expected a number and a unit"),
        ("h", "expected a number and a unit"),
        ("45s", "unknown unit 's' (use m, h or d)"),
        ("2w", "unknown unit 'w' (use m, h or d)"),
        ("8H", "unknown unit 'H' (use m, h or d)"),
        ("8hours", "unknown unit 'hours' (use m, h or d)"),
        ("99999999999d", "too long"),
    ],
)
def test_parse_duration_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value).startswith(f"invalid duration {text!r}: ")
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=30), "30d"),
        (timedelta(hours=48), "2d"),
        (timedelta(hours=8), "8h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(minutes=60), "1h"),
        (timedelta(days=1, hours=1), "25h"),
    ],
)
def test_format_duration_uses_the_largest_exact_unit(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


@pytest.mark.parametrize(
    ("duration", "reason"),
    [
        (timedelta(0), "longer than zero"),
        (timedelta(hours=-1), "longer than zero"),
        (timedelta(seconds=30), "not a whole number of minutes"),
        (timedelta(minutes=1, microseconds=1), "not a whole number of minutes"),
    ],
)
def test_format_duration_rejects(duration: timedelta, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        format_duration(duration)


@given(count=st.integers(min_value=1, max_value=10**6), unit=st.sampled_from("mhd"))
def test_written_durations_round_trip(count: int, unit: str) -> None:
    duration = parse_duration(f"{count}{unit}")
    written = format_duration(duration)
    assert parse_duration(written) == duration
    assert format_duration(parse_duration(written)) == written  # canonical
    assert int(written[:-1]) <= count  # never a smaller unit than the one given


@given(minutes=st.integers(min_value=1, max_value=10**8))
def test_whole_minute_durations_round_trip(minutes: int) -> None:
    duration = timedelta(minutes=minutes)
    written = format_duration(duration)
    assert parse_duration(written) == duration
    next_unit = {"m": timedelta(hours=1), "h": timedelta(days=1)}.get(written[-1])
    assert next_unit is None or duration % next_unit  # a larger unit would not have been exact


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(hours=3, minutes=20, seconds=59), "3h 20m"),
        (timedelta(days=2, hours=4, minutes=5), "2d 4h"),
        (timedelta(days=2, minutes=5), "2d"),
        (timedelta(hours=1), "1h"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=59), "less than a minute"),
        (timedelta(0), "less than a minute"),
    ],
)
def test_describe_duration(duration: timedelta, text: str) -> None:
    assert describe_duration(duration) == text


def test_describe_until() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert describe_until(now + timedelta(hours=3, minutes=20), now) == "in 3h 20m"
    assert describe_until(now - timedelta(days=1, hours=2), now) == "1d 2h ago"
    assert describe_until(now, now) == "in less than a minute"
