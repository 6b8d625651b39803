"""Replies and likes on X, as the account of X_ACCESS_TOKEN (OAuth 1.0a user context).

X takes no idempotency key, so two things stand in for one. The per-account reply quota (100 per
15 minutes, DOMAIN.md) is kept here as a sliding window: when it is used up, `send_reply` raises
RateLimited *before* calling X, and the outbox holds the reply until a slot frees (the card shows
when). And X refuses the same text twice with a 403 "duplicate content": after a crash or a lost
answer that means our reply may already be out, so the sink looks among our latest tweets for one
replying to the same mention with the same text and returns its id; only when there is none is the
403 a permanent failure.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.ports import (
    Capabilities,
    DeliveryError,
    MentionTarget,
    OutboundReply,
    PermanentError,
    RateLimited,
    UnknownOutcome,
)
from integrations.x.client import XClient, XForbidden

log = logging.getLogger(__name__)

MAX_LENGTH = 280
_URL = re.compile(r"https?://\S+")


class XReplySink:
    """Sends replies (POST /2/tweets) and likes (POST /2/users/:id/likes) for source "x"."""

    capabilities = Capabilities(reply=True, max_length=MAX_LENGTH, like=True, hide=False)

    def __init__(self, *, client: XClient, quota: int, window: timedelta,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.quota = quota
        self.window = window.total_seconds()
        self._clock = clock
        self._sent: dict[str, deque[float]] = defaultdict(deque)
        self._me: dict[str, Any] | None = None

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """Post the reply under the mention; return the new tweet's id."""
        me = await self.account()
        self._check_account(reply.account, me)
        slot = self._reserve(me)
        try:
            answer = await self.client.post_reply(text=reply.text, in_reply_to=reply.mention_id)
        except XForbidden as exc:
            self._release(me, slot)
            if not exc.duplicate:
                raise
            existing = await self._find_existing(me, reply)
            if existing is None:
                raise PermanentError(f"X refused duplicate text: {exc.detail}") from exc
            log.info("X reply to %s was already posted as %s", reply.mention_id, existing)
            return existing
        except UnknownOutcome:
            raise  # it may have gone out: keep the slot counted
        except DeliveryError:
            self._release(me, slot)
            raise
        data = answer.data if isinstance(answer.data, dict) else {}
        return str(data["id"]) if data.get("id") is not None else None

    async def like(self, target: MentionTarget) -> None:
        """Like the mentioned tweet as our account."""
        me = await self.account()
        await self.client.like_tweet(str(me["id"]), target.mention_id)

    async def account(self) -> dict[str, Any]:
        """Our posting account (GET /2/users/me), looked up once."""
        if self._me is None:
            answer = await self.client.me()
            if not isinstance(answer.data, dict) or "id" not in answer.data:
                raise PermanentError("X did not say which account X_ACCESS_TOKEN belongs to")
            self._me = answer.data
        return self._me

    def _check_account(self, handle: str | None, me: dict[str, Any]) -> None:
        username = str(me.get("username") or "")
        if handle and username and handle.lstrip("@").lower() != username.lower():
            log.warning("reply to a mention of @%s goes out as @%s (the account of X_ACCESS_TOKEN)",
                        handle, username)

    # --- the reply quota: a sliding window per posting account ---

    def _reserve(self, me: dict[str, Any]) -> float:
        """Take a slot in the quota window, or raise RateLimited with the wait until one frees."""
        now = self._clock()
        sent = self._sent[str(me["id"])]
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        if len(sent) >= self.quota:
            wait = sent[0] + self.window - now
            raise RateLimited(max(0.1, wait), f"X reply quota of @{me.get('username')} "
                                              f"({self.quota} per {self.window:g}s) used up")
        sent.append(now)
        return now

    def _release(self, me: dict[str, Any], slot: float) -> None:
        """Give back a slot whose reply certainly did not go out."""
        sent = self._sent[str(me["id"])]
        if slot in sent:
            sent.remove(slot)

    # --- after a 403 duplicate: is our reply already there? ---

    async def _find_existing(self, me: dict[str, Any], reply: OutboundReply) -> str | None:
        answer = await self.client.recent_tweets(str(me["id"]))
        wanted = _comparable(reply.text)
        for tweet in answer.data or []:
            replied_to = {r.get("id") for r in tweet.get("referenced_tweets") or []
                          if r.get("type") == "replied_to"}
            if str(reply.mention_id) in replied_to and _comparable(tweet.get("text") or "") == wanted:
                return str(tweet["id"])
        return None


def _comparable(text: str) -> str:
    """Text as X stores it, comparable with what we sent: entities decoded, links (t.co) blanked."""
    return " ".join(_URL.sub("<url>", html.unescape(text)).split())
