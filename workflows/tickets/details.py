"""What an IT request or an escalation keeps in `Request.details` (the keys release 2 wrote, unchanged): how it
was triaged, where it came from, and how filing it went. The filing steps read it to pick up where an earlier run
stopped, so some keys mean something by being there at all (`thread`, `transcript`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from bot.db.details import RequestDetails
from workflows.tickets import triage


class _Stored(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class Origin(_Stored):
    """Where the form was opened (all None from the shortcut, which has no channel)."""

    channel: str | None = None  # a channel or DM id
    name: str | None = None  # the channel's name (triage routes by it)
    message_ts: str | None = None  # the escalated message
    thread_ts: str | None = None  # the thread it is in (its own ts when it starts none)


class SlackThread(_Stored):
    """Where the request's updates are posted."""

    channel: str
    ts: str
    # "yes" (release 2's word) when the bot posted the thread's first message, which it updates once filed
    ours: Literal["yes"] | None = Field(default=None, exclude_if=lambda v: v is None)


class TranscriptMessage(_Stored):
    name: str  # the author's Slack name ("" on the line saying the rest was left out)
    at: str  # "2026-12-07 15:30 UTC" ("" likewise)
    text: str  # plain text, Slack markup made plain


class IssueRef(_Stored):
    """A GitLab issue, as the request keeps it (`filing_record.issue_info`)."""

    project: str
    iid: int
    web_url: str
    title: str
    ref: str  # project#iid


class Duplicate(IssueRef):
    """An open issue of the same requester offered instead of filing a new one."""

    request_id: int  # the request that was filed as that issue


class Offer(_Stored):
    """The DM offering the duplicate, with its buttons."""

    channel: str
    ts: str
    closed: bool = Field(default=False, exclude_if=lambda v: not v)  # its buttons gave way to the answer


class TicketDetails(RequestDetails):
    kinds: ClassVar[tuple[str, ...]] = ("it_request", "escalation")

    team: str  # (the base's field) every ticket is routed to a team
    team_how: str = "default"  # how triage chose it: chosen | asked | channel | model | keywords | default
    # The keywords (keywords), or the classifier's words (model), that chose it; asked: those of the classifier's guess
    team_matched: list[str] = []
    # The team classifier's view (model, asked; left out otherwise): its calibrated probability of its likeliest team,
    # its second likeliest team, and (asked) its likeliest one; the requester picked `team` between the last two.
    team_confidence: float | None = Field(default=None, exclude_if=lambda v: v is None)
    team_runner_up: str | None = Field(default=None, exclude_if=lambda v: v is None)
    team_guess: str | None = Field(default=None, exclude_if=lambda v: v is None)
    urgency: str = triage.DEFAULT_URGENCY  # a key of triage.URGENCIES
    reference: str = ""  # a ticket or link the requester gave
    origin: Origin = Origin()
    requester_name: str | None = None  # their Slack name, for the issue text (looked up when filing starts)
    # Where updates go: None when there is no thread (DMs only). Left out until decided, so a retry decides once.
    thread: SlackThread | None = None
    permalink: str | None = None  # the escalated message, or the thread the bot started
    # Escalations: the escalated thread, read once (None: not read yet; [] with transcript_error: it could not be)
    transcript: list[TranscriptMessage] | None = Field(default=None, exclude_if=lambda v: v is None)
    transcript_error: str | None = None  # Slack's error code
    create_started: bool = False  # the issue may exist: a retry looks for it before filing another
    skip_duplicate_check: bool = False  # the requester chose to file a new issue anyway
    duplicate: Duplicate | None = None
    offer: Offer | None = None
    chosen: Literal["add", "new"] | None = None  # the requester's answer to the offer: add to it, or file anew
    issue: IssueRef | None = None  # the issue it was filed as, or added to
    dris_missing: list[str] = []  # the team's DRIs GitLab does not know (so not assigned)
    announced: bool = False  # the issue link was posted and DMed
    # The team triage chose, kept when a DRI or a move in GitLab first changes `team` (`corrections.retriage`)
    team_triaged: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @property
    def thread_decided(self) -> bool:
        return "thread" in self.model_fields_set

    @model_serializer(mode="wrap")
    def _thread_left_out_until_decided(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.thread_decided:
            data.pop("thread", None)
        return data
