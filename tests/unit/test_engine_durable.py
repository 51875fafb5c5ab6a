"""`patiently`: a step that comes back `Unanswered` is asked again after each pause (durable sleeps), until it
answers or the pauses run out; an answer ends the asking at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from workflows.engine import durable
from workflows.engine.durable import Unanswered, patiently

BUSY = Unanswered("Okta did not answer")


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened, in order: each try of the step, and each pause (`DBOS.sleep` as `patiently` sees it)."""
    happened: list[str] = []

    class DBOS:
        @staticmethod
        def sleep(seconds: float) -> None:
            happened.append(f"slept {seconds:g}s")

    monkeypatch.setattr(durable, "DBOS", DBOS)
    return happened


def step(timeline: list[str], *outcomes: str | Unanswered) -> Callable[[], str | Unanswered]:
    """A step that answers from a script, one outcome per try."""
    script = list(outcomes)

    def attempt() -> str | Unanswered:
        outcome = script.pop(0)
        timeline.append(f"asked -> {outcome}")
        return outcome

    return attempt


def test_the_first_answer_is_taken_without_a_pause(timeline: list[str]) -> None:
    assert patiently(step(timeline, "planned"), [2.0, 5.0]) == "planned"
    assert timeline == ["asked -> planned"]


def test_unanswered_is_asked_again_after_each_pause_until_it_answers(timeline: list[str]) -> None:
    assert patiently(step(timeline, BUSY, BUSY, "planned", "never asked"), [2.0, 5.0, 10.0, 20.0]) == "planned"
    assert timeline == [f"asked -> {BUSY}", "slept 2s", f"asked -> {BUSY}", "slept 5s", "asked -> planned"]


def test_when_the_pauses_run_out_the_last_unanswered_is_the_outcome(timeline: list[str]) -> None:
    last = Unanswered("Okta still did not answer")
    assert patiently(step(timeline, BUSY, BUSY, last), [2.0, 5.0]) == last
    assert timeline == [f"asked -> {BUSY}", "slept 2s", f"asked -> {BUSY}", "slept 5s", f"asked -> {last}"]


def test_no_pauses_means_one_try(timeline: list[str]) -> None:
    assert patiently(step(timeline, BUSY, "planned"), []) == BUSY
    assert timeline == [f"asked -> {BUSY}"]


def test_a_refusal_is_an_answer_not_a_reason_to_wait(timeline: list[str]) -> None:
    """Only `Unanswered` is waited out: a step's own failure text ("the group does not exist") ends it."""
    assert patiently(step(timeline, "the group does not exist", "planned"), [2.0]) == "the group does not exist"
    assert timeline == ["asked -> the group does not exist"]
