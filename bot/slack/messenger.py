"""Everything the workflows say in Slack goes through here (slack_sdk only, no Bolt).

429s are retried by slack_sdk's RateLimitErrorRetryHandler (honours Retry-After); other
failures surface as SlackApiError for the caller's step to retry or record.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

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


def make_client(token: str, base_url: str) -> WebClient:
    client = WebClient(token=token, base_url=base_url if base_url.endswith("/") else base_url + "/", timeout=15)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
    return client


class Messenger:
    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._dm_channels: dict[str, str] = {}
        self._users: dict[str, SlackUser] = {}
        self._lock = threading.Lock()

    # --- people ------------------------------------------------------------------------
    def user(self, slack_id: str) -> SlackUser:
        with self._lock:
            cached = self._users.get(slack_id)
        if cached:
            return cached
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
            data = self.client.users_lookupByEmail(email=email)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
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
        channel = str(self.client.conversations_open(users=slack_id)["channel"]["id"])
        with self._lock:
            self._dm_channels[slack_id] = channel
        return channel

    def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, thread_ts: str | None = None
    ) -> Posted:
        resp = self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False
        )
        return Posted(channel=str(resp["channel"]), ts=str(resp["ts"]))

    def dm(self, slack_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> Posted:
        return self.post(self.dm_channel(slack_id), text, blocks)

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def ephemeral(self, channel: str, user: str, text: str) -> None:
        self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    def respond(self, response_url: str, text: str, *, replace_original: bool = False) -> None:
        """Answer through an interaction's response_url (ephemeral to the clicker)."""
        from slack_sdk.webhook import WebhookClient

        WebhookClient(response_url, timeout=10).send(
            text=text, response_type="ephemeral", replace_original=replace_original
        )

    def permalink(self, channel: str, ts: str) -> str:
        return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])

    def thread_messages(self, channel: str, ts: str, limit: int = 500) -> list[dict[str, Any]]:
        """The thread a message belongs to (its parent first), via conversations.replies, up to `limit`."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(messages) < limit:
            resp = self.client.conversations_replies(channel=channel, ts=ts, cursor=cursor, limit=min(200, limit))
            messages.extend(resp.get("messages") or [])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                break
        return messages[:limit]

    def update_view(self, view_id: str, view: dict[str, Any]) -> None:
        self.client.views_update(view_id=view_id, view=view)

    def publish_home(self, slack_id: str, view: dict[str, Any]) -> None:
        self.client.views_publish(user_id=slack_id, view=view)

    def ping(self) -> str:
        resp = self.client.auth_test()
        return f"team {resp.get('team')} as {resp.get('user')}"
