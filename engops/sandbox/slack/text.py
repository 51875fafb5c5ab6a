"""Blocks rendered as plain text: what a person reads, for tests reading DMs and the console's text view."""

from __future__ import annotations

from typing import Any

from engops.sandbox.slack.blocks import button_labels, text_of


def _rich_text(elements: list[Any]) -> str:
    parts: list[str] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        kind = el.get("type")
        if kind in ("text", "link"):
            parts.append(str(el.get("text") or el.get("url", "")))
        elif kind == "user":
            parts.append(f"<@{el.get('user_id')}>")
        elif kind == "channel":
            parts.append(f"<#{el.get('channel_id')}>")
        elif kind == "emoji":
            parts.append(f":{el.get('name')}:")
        elif "elements" in el:
            parts.append(_rich_text(el["elements"]))
    return "".join(parts)


def blocks_as_text(blocks: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            if block.get("text"):
                lines.append(text_of(block["text"]))
            lines.extend(text_of(f) for f in block.get("fields", []))
        elif kind == "context":
            lines.append(" ".join(text_of(e) if e.get("type") != "image" else "" for e in block["elements"]).strip())
        elif kind == "divider":
            lines.append("---")
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements", [])))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "input":
            lines.append(f"{text_of(block.get('label'))}:")
        labels = [f"[{label}]" for label in button_labels([block])]
        if labels:
            lines.append(" ".join(labels))
    return "\n".join(line for line in lines if line)


def message_as_text(text: str, blocks: list[dict[str, Any]]) -> str:
    """What a person reads: the blocks when there are any (Slack then shows `text` only in notifications)."""
    return blocks_as_text(blocks) if blocks else text
