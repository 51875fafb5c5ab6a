"""A typed slash command becomes what Slack sends with should_escape: escaped text, mentions as ids."""

from __future__ import annotations

from engops.sandbox.console.composer import escaped_command_text
from engops.sandbox.directory import demo_directory
from engops.sandbox.slack import SlackStandIn


def test_mentions_channels_emails_and_links_become_slack_markup() -> None:
    slack = SlackStandIn.from_directory(demo_directory())
    general = slack.channel("#general").id
    assert escaped_command_text("@alice bob@example.com", slack) == (
        "<@U00000003|alice> <mailto:bob@example.com|bob@example.com>"
    )
    assert escaped_command_text("see https://x.test/a?b=1&c=2 in #general", slack) == (
        f"see <https://x.test/a?b=1&amp;c=2> in <#{general}|general>"
    )


def test_unknown_names_stay_and_markup_is_escaped() -> None:
    slack = SlackStandIn.from_directory(demo_directory())
    assert escaped_command_text("@nobody #nowhere <@U00000003> & @here", slack) == (
        "@nobody #nowhere &lt;@U00000003&gt; &amp; <!here>"
    )
