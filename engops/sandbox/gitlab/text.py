"""GitLab-flavoured text, as GitLab's pipeline reads it: which lines sit in code or quotes, quick
actions (extracted from their own lines, outside code and quotes), `@all` / `@here` mentions, label
and user references, and GitLab's fuzzy search. Pure functions, no state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Every command name GitLab's extractor knows (it extracts all of them, then runs the available ones).
# fmt: off
QUICK_ACTION_NAMES = frozenset((
    "close", "reopen", "title", "label", "labels", "unlabel", "remove_label", "relabel", "todo", "done", "subscribe",
    "unsubscribe", "react", "award", "severity", "confidential", "assign", "unassign", "reassign", "assign_reviewer",
    "request_review", "unassign_reviewer", "milestone", "remove_milestone", "due", "remove_due_date", "weight",
    "clear_weight", "estimate", "estimate_time", "remove_estimate", "remove_time_estimate", "spend", "spent",
    "spend_time", "remove_time_spent", "lock", "unlock", "duplicate", "move", "clone", "copy_metadata", "board_move",
    "create_merge_request", "zoom", "remove_zoom", "epic", "remove_epic", "iteration", "remove_iteration",
    "health_status", "clear_health_status", "promote", "promote_to_incident", "relate", "unrelate", "blocks",
    "blocked_by", "page", "add_contacts", "remove_contacts", "timeline", "invite_email", "remove_email", "status",
    "type", "set_parent", "remove_parent", "add_child", "remove_child", "merge", "approve", "unapprove", "rebase",
    "draft", "ready", "target_branch", "submit_review", "q", "checkin_reminder",
))
# fmt: on
SUBSTITUTIONS = {"shrug": "¯\\＿(ツ)＿/¯", "tableflip": "(╯°□°)╯︵ ┻━┻"}
_COMMAND_LINE = re.compile(r"^/(?P<cmd>[A-Za-z_]+)(?:[ ](?P<arg>[^\n]*))?\s*$")
_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MASS_MENTION = re.compile(r"(?<![A-Za-z0-9_.+\-/@])@(?P<who>all|here)(?![A-Za-z0-9_\-]|\.[A-Za-z0-9_])", re.IGNORECASE)
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LABEL_REF = re.compile(r'~"(?P<quoted>[^"]+)"|~(?P<tilde>[^\s~"]+)|(?P<plain>[^\s~"]+)')


@dataclass(frozen=True)
class MarkdownLine:
    text: str
    in_code: bool  # fenced code block (``` or ~~~), incl. its fences
    in_quote: bool  # `>` quote line or inside a GitLab `>>>` block


def scan_markdown(text: str) -> list[MarkdownLine]:
    """Classify each line of `text` the way GitLab's markdown pipeline sees it (the parts that matter).

    An unclosed fence runs to the end of the text, as in CommonMark. Other places GitLab also leaves
    alone (list continuations, HTML blocks, inline code spanning lines) are treated as plain text
    here, so the stand-in errs on the side of executing.
    """
    raw = text.split("\n")
    lines: list[MarkdownLine] = []
    fence: tuple[str, int] | None = None
    in_multiline_quote = False
    for n, line in enumerate(raw):
        indent = len(line) - len(line.lstrip(" "))
        stripped = line.strip()
        if fence is not None:
            char, length = fence
            if indent <= 3 and stripped and set(stripped) == {char} and len(stripped) >= length:
                fence = None
            lines.append(MarkdownLine(line, True, False))
            continue
        # GitLab's `>>>` block quote needs its closing `>>>`; unclosed, it is plain text.
        if line.rstrip() == ">>>" and (in_multiline_quote or ">>>" in (r.rstrip() for r in raw[n + 1 :])):
            in_multiline_quote = not in_multiline_quote
            lines.append(MarkdownLine(line, False, True))
            continue
        if in_multiline_quote:
            lines.append(MarkdownLine(line, False, True))
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened["fence"][0] == "`" and "`" in opened["info"]):
            fence = (opened["fence"][0], len(opened["fence"]))
            lines.append(MarkdownLine(line, True, False))
            continue
        lines.append(MarkdownLine(line, False, indent <= 3 and stripped.startswith(">")))
    return lines


def extract_quick_actions(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Return (text without quick-action lines, [(command, argument), ...]) like GitLab's extractor."""
    commands: list[tuple[str, str]] = []
    kept: list[str] = []
    for line in scan_markdown(text.replace("\r", "")):
        match = None if (line.in_code or line.in_quote) else _COMMAND_LINE.match(line.text)
        name = match["cmd"].lower() if match else ""
        if match and name in QUICK_ACTION_NAMES:
            commands.append((name, (match["arg"] or "").strip()))
            continue
        if match and name in SUBSTITUTIONS:
            kept.append(f"{(match['arg'] or '').strip()} {SUBSTITUTIONS[name]}".strip())
            continue
        kept.append(line.text)
    return "\n".join(kept).rstrip(), commands


def mass_mention_lines(text: str) -> list[str]:
    """Lines that would notify everyone (`@all`, `@here`) outside code blocks and code spans."""
    found = []
    for line in scan_markdown(text.replace("\r", "")):
        if not line.in_code and _MASS_MENTION.search(_INLINE_CODE.sub("", line.text)):
            found.append(line.text)
    return found


def parse_label_refs(argument: str) -> list[str]:
    names = []
    for m in _LABEL_REF.finditer(argument):
        names.append((m["quoted"] or m["tilde"] or m["plain"]).strip())
    return [n for n in names if n]


def parse_user_refs(argument: str) -> list[str]:
    return [word.lstrip("@") for word in argument.replace(",", " ").split() if word.lstrip("@")]


def fuzzy_match(query: str, haystack: str) -> bool:
    """GitLab's `fuzzy_search`: every word of 3+ chars (or "quoted phrase") is a substring; else exact."""
    query = " ".join(query.split())
    if not query:
        return True
    quoted = re.findall(r'"[^"]+"', query)
    rest = query
    for q in quoted:
        rest = rest.replace(q, "", 1)
    words = [w for w in rest.split() + [q[1:-1] for q in quoted] if len(w) >= 3]
    hay = haystack.lower()
    if not words:
        return hay == query.lower()
    return all(w.lower() in hay for w in words)
