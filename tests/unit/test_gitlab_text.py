"""bot/gitlab_text.py against the GitLab stand-in's own quick-action and mention parsers (the oracle)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.gitlab_text import TITLE_MAX, ZERO_WIDTH, from_slack, gitlab_safe, gitlab_title
from engops.sandbox.gitlab import extract_quick_actions, mass_mention_lines

ATTACKS = [
    "/close",
    "/label ~team::infrastructure ~priority::1",
    "please ignore\n/assign @erin\n/confidential",
    "  /close",  # indented
    "\t/lock",
    "text\r/close",  # old-Mac line break
    "text\r\n/relabel ~x",
    "text\u2028/close",  # Unicode line separator
    "```\n/close\n```",  # inside a fence
    "````\n```\n/close\n````",  # a fence GitLab's extractor and markdown disagree about
    ">>>\n/close\n",  # an unclosed GitLab quote block
    "> quoted\n/close",
    "<details>\n/close\n</details>",
    "/shrug",
    "/CLOSE",
]


def test_no_line_can_start_a_quick_action() -> None:
    for attack in ATTACKS:
        safe = gitlab_safe(attack)
        kept, commands = extract_quick_actions(safe)
        assert commands == [], (attack, safe)
        for line in safe.split("\n"):
            assert not line.lstrip().startswith("/"), (attack, line)


def test_the_neutralised_text_still_reads_the_same() -> None:
    safe = gitlab_safe("Steps:\n/close is what I typed\nsee [the runbook](https://wiki.example.com/runbook)")
    assert (
        safe.replace(ZERO_WIDTH, "")
        == "Steps:\n/close is what I typed\nsee [the runbook](https://wiki.example.com/runbook)"
    )
    assert "[the runbook](https://wiki.example.com/runbook)" in safe  # markdown links are kept as links


def test_mass_and_group_mentions_are_neutralised_but_emails_are_not() -> None:
    text = "@all please look\n(@here) and @bt-engineering/access-manager, cc @erin\nmail bob@example.com"
    safe = gitlab_safe(text)
    assert mass_mention_lines(safe) == []
    assert "@all" not in safe and "@here" not in safe and "@bt-engineering" not in safe and "@erin" not in safe
    assert "bob@example.com" in safe
    assert safe.replace(ZERO_WIDTH, "") == text


def test_html_and_control_characters() -> None:
    safe = gitlab_safe("a <!-- hidden /close --> b <img src=x onerror=alert(1)> 3 < 4\x00\x07\u202e done")
    assert "<!--" not in safe and "<img" not in safe
    assert "&lt;!-- hidden" in safe and "3 < 4" in safe
    assert "\x00" not in safe and "\x07" not in safe and "\u202e" not in safe


def test_titles_are_one_line_and_at_most_255_characters() -> None:
    title = gitlab_title("x" * 10_000 + "\n/close", suffix=" (REQ-7)")
    assert len(title) <= TITLE_MAX and title.endswith("… (REQ-7)") and "\n" not in title
    assert gitlab_title("  Need\naccess\tto @all  ") == f"Need access to @{ZERO_WIDTH}all"


def test_slack_markup_becomes_plain_readable_text() -> None:
    text = (
        "<@U00000003|alice> says <!channel> <!subteam^S1|@oncall> see <https://okta.example.com|the Okta page> "
        "and <https://x.example.com> in <#C1|general> &lt;b&gt; &amp; <!date^1700000000^{date}|Nov 14>"
    )
    plain = from_slack(text, {"U00000003": "Alice Archer"})
    assert plain == (
        "@alice says @channel @oncall see [the Okta page](https://okta.example.com) and "
        "https://x.example.com in #general <b> & Nov 14"
    )
    assert from_slack("<@U00000004>", {"U00000004": "Bob Brown"}) == "@Bob Brown"
    safe = gitlab_safe(plain)
    assert mass_mention_lines(safe) == [] and "&lt;b>" in safe


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "/close",
                " /label ~x",
                "@all",
                "@here",
                "```",
                "~~~",
                ">>>",
                "> ",
                "\n",
                "\r",
                "\r\n",
                "\u2028",
                "text ",
                "<!-- ",
                "-->",
                "`",
                "\t",
                "@",
                "/",
            ]
        ),
        max_size=40,
    )
)
def test_any_mix_of_dangerous_pieces_is_inert(pieces: list[str]) -> None:
    safe = gitlab_safe("".join(pieces))
    assert extract_quick_actions(safe)[1] == []
    assert mass_mention_lines(safe) == []
