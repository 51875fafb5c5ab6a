"""What intake by emoji (SPEC §6.4) says in the reacted message's thread: when the team classifier is unsure, the
question which of the two likeliest teams should take the escalation (one button per team), and the question once
answered. Pure Block Kit builders; user text is escaped here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.escape import escape, mention, truncate

PICK_TEAM = "intake_pick_team"  # action ids `intake_pick_team_0`, `intake_pick_team_1`, ... (one per button)
PICK_BLOCK = "intake-pick"
BUTTON_LABEL_MAX = 75  # Slack's limit on a button's text
VALUE_MAX = 2000  # Slack's limit on a button's value
QUOTE_MAX = 200


@dataclass(frozen=True)
class TeamOffer:
    key: str  # the team's key in `teams:`
    name: str
    blurb: str = ""  # what the team takes, in a line ("" when the policy says nothing)


@dataclass(frozen=True)
class Guess:
    """What the team classifier thought when it was unsure: its likeliest team, the runner-up, how sure it was of
    the first, and the words it went by (kept with the request once a team is picked, so triage learns from it)."""

    team: str
    runner_up: str
    confidence: float | None = None
    matched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pick:
    """A button of the question: the team, the thread and message it files, and what the classifier thought."""

    team: str
    thread_ts: str
    message_ts: str
    guess: Guess


WORD_MAX = 40  # a word the classifier went by, as carried in a button's value


def pick_value(pick: Pick) -> str:
    data = {
        "team": pick.team,
        "thread": pick.thread_ts,
        "message": pick.message_ts,
        "guess": pick.guess.team,
        "runner_up": pick.guess.runner_up,
        "confidence": pick.guess.confidence,
        "matched": [word[:WORD_MAX] for word in pick.guess.matched[:3]],
    }
    return json.dumps(data, separators=(",", ":"))


def read_pick(value: object) -> Pick | None:
    """The pick a button's value names; None for anything else."""
    if not isinstance(value, str) or len(value) > VALUE_MAX:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    parts = [data.get(key) for key in ("team", "thread", "message", "guess", "runner_up")]
    if not all(isinstance(part, str) and part for part in parts):
        return None
    team, thread, message, first, second = (str(part) for part in parts)
    confidence, matched = data.get("confidence"), data.get("matched")
    guess = Guess(
        first,
        second,
        float(confidence) if isinstance(confidence, (int, float)) and not isinstance(confidence, bool) else None,
        tuple(str(w)[:WORD_MAX] for w in matched[:3]) if isinstance(matched, list) else (),
    )
    return Pick(team, thread, message, guess)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, 2900)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, 2900)}]}


def _quote(summary: str) -> str:
    return f"“{escape(truncate(summary, QUOTE_MAX))}”"


def team_question(
    *,
    reactor_slack_id: str,
    author_slack_id: str | None,
    summary: str,
    offered: Sequence[TeamOffer],
    guess: Guess,
    thread_ts: str,
    message_ts: str,
) -> tuple[str, list[dict[str, Any]]]:
    """Posted in the thread instead of filing in a guessed tracker: a help-desk member picks one of the `offered`
    teams (the classifier's two likeliest, likeliest first)."""
    names = " or ".join(f"*{escape(team.name)}*" for team in offered)
    reactor = mention(reactor_slack_id, "the help desk")
    author = mention(author_slack_id, "someone")
    intro = (
        f":thinking_face: {reactor}, I'm not sure which team should take this escalation: {names}. "
        "Pick the one that fits and I'll file the thread there."
    )
    buttons = [
        {
            "type": "button",
            "action_id": f"{PICK_TEAM}_{index}",
            "text": {"type": "plain_text", "text": truncate(team.name, BUTTON_LABEL_MAX)},
            "value": pick_value(Pick(team.key, thread_ts, message_ts, guess)),
        }
        for index, team in enumerate(offered)
    ]
    blocks = [
        _section(intro),
        _context(f"The message by {author}: {_quote(summary)}"),
        {"type": "actions", "block_id": PICK_BLOCK, "elements": buttons},
    ]
    blurbs = [f"*{escape(team.name)}*: {escape(truncate(team.blurb, 300))}" for team in offered if team.blurb]
    if blurbs:
        blocks.append(_context("\n".join(blurbs)))
    text = f"Which team should take this escalation: {' or '.join(escape(team.name) for team in offered)}?"
    return text, blocks


def team_picked(*, picker_slack_id: str, team_name: str, ref: str) -> tuple[str, list[dict[str, Any]]]:
    """The question once answered (its buttons gone)."""
    text = f":white_check_mark: {mention(picker_slack_id, 'someone')} picked *{escape(team_name)}*: filed as *{ref}*."
    return text, [_section(text)]


def already_filed(ref: str) -> tuple[str, list[dict[str, Any]]]:
    """The question when the thread was filed meanwhile."""
    text = f":white_check_mark: This thread is already filed as *{ref}*."
    return text, [_section(text)]


def cannot_file(why: str) -> tuple[str, list[dict[str, Any]]]:
    """The question when the thread cannot be filed from it any more (the message is gone, ...)."""
    text = f":warning: I can't file this thread any more: {escape(why)}"
    return text, [_section(text)]


def not_filed(reaction: str | None, *, pick: bool) -> tuple[str, list[dict[str, Any]]]:
    """Said in the thread when an attempt to file it failed (Slack or the database did not answer): nothing is filed,
    and what to do to try again."""
    if pick:
        again = "pick the team again"
    elif reaction:
        again = f"react with :{reaction}: again (take yours back first if it is still there)"
    else:
        again = "react again"
    text = f":warning: I could not file this thread: something did not answer. To try again, {again}."
    return text, [_section(text)]
