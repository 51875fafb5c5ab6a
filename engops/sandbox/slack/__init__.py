"""Local stand-in for the Slack Web API, `response_url`s, modals and the App Home.

- `api`: the Web API over HTTP (`SlackStandIn`, `METHODS`) and the response_url endpoint
- `workspace`: the state (people, conversations, messages, modal stacks, App Homes) and what Slack does to it
- `model`: the records it holds (`SlackUser`, `Channel`, `Message`, `Ephemeral`, `ViewRecord`, ...)
- `arguments`: Web API arguments and message/view content as Slack reads and refuses them
- `blocks`: reading Block Kit (elements, labels, options, `state.values`); `checks`: what Slack refuses in it
- `text`: blocks rendered as the text a person reads
- `scopes`: the OAuth scopes each Web API method needs, and Slack's `missing_scope` answer
- `errors`: `SlackError` (an API error) and `SlackProtocolError` (an app answer Slack would not accept)
"""

from engops.sandbox.slack.api import METHODS, SlackStandIn
from engops.sandbox.slack.blocks import button_labels
from engops.sandbox.slack.errors import SlackProtocolError
from engops.sandbox.slack.model import Message
from engops.sandbox.slack.text import blocks_as_text, message_as_text

__all__ = [
    "METHODS",
    "Message",
    "SlackProtocolError",
    "SlackStandIn",
    "blocks_as_text",
    "button_labels",
    "message_as_text",
]
