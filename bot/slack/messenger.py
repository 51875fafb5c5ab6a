"""Everything the workflows say in Slack goes through here (slack_sdk only, no Bolt).

429s are retried after their Retry-After (`RateLimitRetry`), except for the methods that spend a trigger_id
(`views.open`, `views.push`: the wait would outlive the trigger); 5xx twice by ServerErrorRetry. Other failures
surface as `SlackCallError` for the caller's step to retry or record, so workflows never see slack_sdk's own
exceptions. Posts made by a durable step go through a `PostLedger`, so a step that runs
again does not post them twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack.post_ledger import CLOCK_SKEW, Intent, PostLedger, text_hash

CHANNEL_NAMES_FOR = 300.0  # seconds a channel's name is trusted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackUser:
    id: str
    email: str
    name: str


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


# Methods whose `trigger_id` is good for 3 s from the user's click. A 429's Retry-After is whole seconds, so a retry
# would come too late to use it (and keep Slack waiting for the ack): the caller tells the user to try again instead.
TRIGGER_METHODS = frozenset({"views.open", "views.push"})


def spends_a_trigger(request: HttpRequest) -> bool:
    """Such a call is never sent twice: a retry after a 5xx or a lost connection may find the first one opened the
    modal (`exchanged_trigger_id`), and after a 429 it comes too late."""
    return request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] in TRIGGER_METHODS


class ServerErrorRetry(ServerErrorRetryHandler):
    """Slack's 5xx and gateway timeouts, retried in the call (0.5 s, then 1 s): left to the calling step, one
    failed call would repeat every call of that step, and a few in a row exhaust the step's attempts."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in (500, 502, 503, 504) and not spends_a_trigger(request)


class _SparingTriggers(RetryHandler):
    """A retry handler that never sends a call spending a trigger_id twice (put it first among the bases)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return not spends_a_trigger(request) and super()._can_retry(
            state=state, request=request, response=response, error=error
        )


class ConnectionRetry(_SparingTriggers, ConnectionErrorRetryHandler):
    """A lost connection retried in the call, except for a method that spends a trigger_id."""


class RateLimitRetry(_SparingTriggers, RateLimitErrorRetryHandler):
    """Slack's 429s retried after their Retry-After, except for a method that spends a trigger_id."""


# Slack's own words for "try again later" (its 5xx bodies and the errors its docs list as transient)
_PASSING_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})


class SlackCallError(Exception):
    """A Slack Web API call that failed after the client's own retries.

    `error` is Slack's error code (`channel_not_found`, `internal_error`, ...); `passing` tells a failure worth trying
    again (a 5xx, a 429, a timeout) from a final one (a user who left, a channel the bot is not in): a step must not
    swallow the first kind, or a blip loses a message for good."""

    def __init__(self, method: str, error: str, status: int) -> None:
        super().__init__(f"Slack {method} failed: {error} (HTTP {status})")
        self.method = method
        self.error = error
        self.status = status

    def __reduce__(self) -> tuple[type[SlackCallError], tuple[str, str, int]]:
        # DBOS pickles a failed step's error and unpickles it when it replays the workflow (after a restart)
        return (type(self), (self.method, self.error, self.status))

    @property
    def passing(self) -> bool:
        return self.status >= 500 or self.status == 429 or self.error in _PASSING_ERRORS


@contextmanager
def _calling(method: str) -> Iterator[None]:
    try:
        yield
    except SlackApiError as exc:
        status = int(getattr(exc.response, "status_code", 0) or 0)
        raise SlackCallError(method, str(exc.response.get("error") or "unknown_error"), status) from exc


def make_client(token: str, base_url: str) -> WebClient:
    client = WebClient(token=token, base_url=base_url if base_url.endswith("/") else base_url + "/", timeout=15)
    # In place of slack_sdk's default (a ConnectionErrorRetryHandler, which would send views.open twice).
    client.retry_handlers = [
        RateLimitRetry(max_retry_count=5),
        ConnectionRetry(max_retry_count=2),
        ServerErrorRetry(max_retry_count=2),
    ]
    return client


class Messenger:
    def __init__(self, client: WebClient, ledger: PostLedger | None = None) -> None:
        self.client = client
        self.ledger = ledger
        self._dm_channels: dict[str, str] = {}
        self._channel_names: dict[str, tuple[float, str | None]] = {}  # channel -> (read at, name)
        self._users: dict[str, SlackUser] = {}
        self._lock = threading.Lock()

    # --- people ------------------------------------------------------------------------
    def user(self, slack_id: str) -> SlackUser:
        with self._lock:
            cached = self._users.get(slack_id)
        if cached:
            return cached
        with _calling("users.info"):
            data = self.client.users_info(user=slack_id)["user"]
        user = SlackUser(
            id=data["id"],
            email=str(data.get("profile", {}).get("email", "")).lower(),
            name=data.get("real_name") or data.get("name", ""),
        )
        with self._lock:
            self._users[slack_id] = user
        return user

    def user_by_email(self, email: str) -> SlackUser | None:
        try:
            with _calling("users.lookupByEmail"):
                data = self.client.users_lookupByEmail(email=email)["user"]
        except SlackCallError as exc:
            if exc.error == "users_not_found":
                return None
            raise
        user = SlackUser(id=data["id"], email=email.lower(), name=data.get("real_name") or data.get("name", ""))
        with self._lock:
            self._users[user.id] = user
        return user

    # --- messages ------------------------------------------------------------------------
    def dm_channel(self, slack_id: str) -> str:
        with self._lock:
            channel = self._dm_channels.get(slack_id)
        if channel:
            return channel
        with _calling("conversations.open"):
            channel = str(self.client.conversations_open(users=slack_id)["channel"]["id"])
        with self._lock:
            self._dm_channels[slack_id] = channel
        return channel

    def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, thread_ts: str | None = None
    ) -> Posted:
        key = self.ledger.key_for(channel, thread_ts) if self.ledger else None
        if self.ledger is None or key is None:
            return self._post(channel, text, blocks, thread_ts)
        earlier = self.ledger.claim(key, channel, thread_ts, text)
        if earlier is not None:
            found = self._already_posted(earlier)
            if found is not None:
                log.info(
                    "%s %s already posted by an earlier run of its step; not posting it again", found.channel, found.ts
                )
                self.ledger.record(key, found.channel, found.ts)
                return found
        posted = self._post(channel, text, blocks, thread_ts)
        self.ledger.record(key, posted.channel, posted.ts)
        return posted

    def _post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, thread_ts: str | None) -> Posted:
        with _calling("chat.postMessage"):
            resp = self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
            )
        return Posted(channel=str(resp["channel"]), ts=str(resp["ts"]))

    def _already_posted(self, earlier: Intent) -> Posted | None:
        """The message an earlier run of the step posted without recording it: a bot message in the
        conversation (or thread) with the same text, since the intent. None when it is not there."""
        if earlier.ts and earlier.posted_channel:
            return Posted(earlier.posted_channel, earlier.ts)
        assert self.ledger is not None
        channel = self.ledger.conversation_id(earlier.channel)
        if channel is None:
            return None  # a #name never posted to before: it cannot be read back; post (at least once)
        oldest = f"{(earlier.since - CLOCK_SKEW).timestamp():.6f}"
        cursor: str | None = None
        try:
            for _ in range(5):  # newest pages first; a re-run comes soon after the intent
                with _calling("conversations.history"):
                    if earlier.thread_ts:
                        resp = self.client.conversations_replies(
                            channel=channel, ts=earlier.thread_ts, oldest=oldest, limit=200, cursor=cursor
                        )
                    else:
                        resp = self.client.conversations_history(
                            channel=channel, oldest=oldest, limit=200, cursor=cursor
                        )
                for message in resp.get("messages") or []:
                    if (
                        message.get("bot_id")
                        and message.get("ts") != earlier.thread_ts
                        and text_hash(str(message.get("text") or "")) == earlier.text_hash
                    ):
                        return Posted(channel, str(message["ts"]))
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except SlackCallError as exc:
            log.warning("cannot read back %s to avoid a repeated post: %s", channel, exc.error)
        return None

    def dm(self, slack_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> Posted:
        return self.post(self.dm_channel(slack_id), text, blocks)

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        with _calling("chat.update"):
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        with _calling("chat.postEphemeral"):
            self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    def respond(self, response_url: str, text: str, *, replace_original: bool = False) -> None:
        """Answer through an interaction's response_url (ephemeral to the clicker)."""
        from slack_sdk.webhook import WebhookClient

        WebhookClient(response_url, timeout=10).send(
            text=text, response_type="ephemeral", replace_original=replace_original
        )

    def permalink(self, channel: str, ts: str) -> str:
        with _calling("chat.getPermalink"):
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])

    def channel_name(self, channel: str) -> str | None:
        """A channel's name ("it-help"); None for a DM or group DM. Cached for `CHANNEL_NAMES_FOR` seconds (a rename
        is seen within that)."""
        now = time.monotonic()
        with self._lock:
            cached = self._channel_names.get(channel)
        if cached is not None and now - cached[0] < CHANNEL_NAMES_FOR:
            return cached[1]
        with _calling("conversations.info"):
            info = self.client.conversations_info(channel=channel)["channel"]
        name = None if info.get("is_im") or info.get("is_mpim") else str(info.get("name") or "") or None
        with self._lock:
            self._channel_names[channel] = (now, name)
        return name

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message `ts` (in the channel or in a thread), or None when it is gone."""
        try:
            with _calling("conversations.replies"):
                found = self.client.conversations_replies(
                    channel=channel, ts=ts, oldest=ts, latest=ts, inclusive=True, limit=2
                ).get("messages")
            message = next((m for m in found or [] if m.get("ts") == ts), None)
            if message is None:  # where the thread's parent comes first whatever the bounds: read the thread
                message = next((m for m in self.thread_messages(channel, ts, limit=1000) if m.get("ts") == ts), None)
        except SlackCallError as exc:
            if exc.error in ("thread_not_found", "message_not_found"):
                return None
            raise
        return dict(message) if message is not None else None

    def react(self, channel: str, ts: str, name: str) -> None:
        with _calling("reactions.add"):
            self.client.reactions_add(channel=channel, timestamp=ts, name=name)

    def thread_messages(self, channel: str, ts: str, limit: int = 500) -> list[dict[str, Any]]:
        """The thread a message belongs to (its parent first), via conversations.replies, up to `limit`."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(messages) < limit:
            with _calling("conversations.replies"):
                resp = self.client.conversations_replies(channel=channel, ts=ts, cursor=cursor, limit=min(200, limit))
            messages.extend(resp.get("messages") or [])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                break
        return messages[:limit]

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> None:
        """`view_hash`: only if the view is still the one that hash names (else `hash_conflict`)."""
        with _calling("views.update"):
            self.client.views_update(view_id=view_id, view=view, hash=view_hash)

    def publish_home(self, slack_id: str, view: dict[str, Any]) -> None:
        with _calling("views.publish"):
            self.client.views_publish(user_id=slack_id, view=view)

    def ping(self) -> str:
        with _calling("auth.test"):
            resp = self.client.auth_test()
        return f"team {resp.get('team')} as {resp.get('user')}"
