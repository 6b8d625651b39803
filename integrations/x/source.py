"""Mentions of one of our X accounts, polled: GET /2/users/:id/mentions since the cursor.

The cursor (stored by the core with the mentions, in one transaction) is
`{"user_id": "<our account's id>", "since_id": "<newest tweet id handled>", "polled_at": "<ISO time
of the last complete poll>"}`. X tweet ids are snowflakes (the creation time is in the high bits),
so the backfill window is an id too: a poll asks for everything newer than the later of the two,
newest first, page by page. The cursor only moves when the page chain was read to its end (or to
our page limit, which is X's own cap of about 800 mentions): a rate limit or an error half-way
keeps it, and the next poll reads again (the core drops mentions it already has). What could not be
reached is reported as `PollResult.gap`, which the core puts on the new cards: mentions beyond the
cap, and, after a downtime longer than the backfill window, mentions between the last complete poll
and the window (one small probe asks X whether there were any, so a quiet account raises no alarm).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.i18n import Translator
from bot.ports import PermanentError, PollResult, RateLimited
from bot.schemas import MentionIn
from integrations.x.client import XAnswer, XClient

log = logging.getLogger(__name__)

SOURCE = "x"
PAGE_SIZE = 100
"""The largest page the mentions timeline gives."""
MAX_PAGES = 8
"""X serves only the ~800 newest mentions of an account: reading further is impossible anyway."""
TWITTER_EPOCH_MS = 1288834974657
GAP_TEXT = {
    "nl": {
        "window": "X-vermeldingen tussen {start} en {end} zijn niet opgehaald (langer geleden dan de "
                  "inhaalperiode van {window}); kijk ze na op x.com.",
        "limit": "X-vermeldingen van vóór {end} zijn mogelijk niet opgehaald (X geeft er maximaal "
                 "{count}); kijk de periode {start} – {end} na op x.com.",
    },
    "en": {
        "window": "X mentions between {start} and {end} were not fetched (older than the {window} "
                  "catch-up window); check them on x.com.",
        "limit": "X mentions from before {end} may be missing (X returns at most {count}); check "
                 "{start} – {end} on x.com.",
    },
}


def snowflake_at(moment: datetime) -> int:
    """The smallest X id that a tweet created at `moment` can have."""
    return max(0, int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22


def snowflake_time(tweet_id: str | int) -> datetime:
    """When the tweet with this id was created (to the millisecond)."""
    return datetime.fromtimestamp(((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) / 1000, UTC)


def parse_handles(value: str | None) -> list[str]:
    """Our X handles from organisation.accounts.x: one, or a comma-separated list (`@` optional)."""
    seen: dict[str, str] = {}
    for part in (value or "").split(","):
        handle = part.strip().lstrip("@")
        if handle:
            seen.setdefault(handle.lower(), handle)
    return list(seen.values())


FIRST_LOOKBACK = timedelta(days=1)


class XMentionsPoller:
    """Polls the mentions of one of our accounts; the core schedules it and keeps its cursor."""

    def __init__(self, *, client: XClient, handle: str, interval: timedelta, backfill: timedelta,
                 t: Translator, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES,
                 now: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.handle = handle.strip().lstrip("@")
        self.key = f"x:mentions:{self.handle.lower()}"
        self.interval = interval
        self.backfill = backfill
        self.page_size = page_size
        self.max_pages = max_pages
        self._t = t
        self._now = now or (lambda: datetime.now(UTC))

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        """Fetch the mentions newer than the cursor (within the backfill window)."""
        now = self._now()
        new_cursor = dict(cursor)
        try:
            user_id = str(cursor.get("user_id") or "") or await self._resolve_user()
        except RateLimited as exc:
            return PollResult(cursor=new_cursor, next_in=timedelta(seconds=exc.retry_after))
        new_cursor["user_id"] = user_id
        since_id = _as_int(cursor.get("since_id"))
        # The very first poll looks back one day at most: connecting X must not flood the channel
        # with a week of old mentions. After that, downtime is caught up within `backfill`.
        lookback = self.backfill if since_id is not None else min(self.backfill, FIRST_LOOKBACK)
        window_floor = snowflake_at(now - lookback)
        floor = max(since_id or 0, window_floor)

        tweets: list[dict[str, Any]] = []
        users: dict[str, dict[str, Any]] = {}
        answer: XAnswer | None = None
        token: str | None = None
        pages = 0
        interrupted: RateLimited | None = None
        while True:
            try:
                answer = await self.client.mentions(user_id, since_id=str(floor), pagination_token=token,
                                                    max_results=self.page_size)
            except RateLimited as exc:
                interrupted = exc
                break
            pages += 1
            tweets += [t for t in answer.data or [] if isinstance(t, dict)]
            users |= answer.included_users()
            token = answer.meta.get("next_token")
            if not token or pages >= self.max_pages:
                break
            if answer.rate.exhausted:  # the next page would be refused: finish after the reset
                interrupted = RateLimited(answer.rate.seconds_to_reset() or 1.0, "X mentions rate limit")
                break

        mentions = self._mentions(tweets, users, user_id)
        if interrupted is not None:  # read again after the reset; the core skips what it already has
            log.info("X mentions of @%s: rate limited after %d page(s); again in %.0fs",
                     self.handle, pages, interrupted.retry_after)
            return PollResult(mentions=mentions, cursor=new_cursor,
                              next_in=timedelta(seconds=max(1.0, interrupted.retry_after)))

        gap = None
        if token or len(tweets) >= self.page_size * self.max_pages:
            # X stops at its cap (or we stopped at ours) before reaching the floor
            oldest = min((int(t["id"]) for t in tweets), default=floor)
            gap = self._gap("limit", start=snowflake_time(floor), end=snowflake_time(oldest),
                            count=len(tweets))
        elif self._downtime(cursor, since_id, window_floor, now) and await self._missed(
                user_id, since_id or 0, window_floor):
            polled_at = _as_time(cursor.get("polled_at"))
            start = polled_at or snowflake_time(since_id or window_floor)
            gap = self._gap("window", start=start, end=snowflake_time(window_floor), count=0)
        newest = max((int(t["id"]) for t in tweets), default=floor)
        new_cursor["since_id"] = str(newest)
        new_cursor["polled_at"] = now.isoformat()
        return PollResult(mentions=mentions, cursor=new_cursor, gap=gap,
                          next_in=self._next_in(answer))

    async def _resolve_user(self) -> str:
        answer = await self.client.user_by_username(self.handle)
        data = answer.data
        if not isinstance(data, dict) or "id" not in data:
            raise PermanentError(f"X account @{self.handle} not found (organisation.accounts.x)")
        return str(data["id"])

    def _downtime(self, cursor: dict[str, Any], since_id: int | None, window_floor: int,
                  now: datetime) -> bool:
        """Whether we were away longer than the backfill window (so the window cut something off)."""
        if since_id is None or since_id >= window_floor:
            return False
        polled_at = _as_time(cursor.get("polled_at"))
        return polled_at is None or polled_at < now - self.backfill

    async def _missed(self, user_id: str, since_id: int, until_id: int) -> bool:
        """Whether X has mentions between the cursor and the window (one small request)."""
        try:
            probe = await self.client.mentions(user_id, since_id=str(since_id), until_id=str(until_id),
                                               max_results=5)
        except RateLimited:
            return True  # unknown: better to say so once
        return bool(probe.data) or bool(probe.meta.get("result_count"))

    def _next_in(self, answer: XAnswer | None) -> timedelta | None:
        if answer is None or not answer.rate.exhausted:
            return None
        wait = answer.rate.seconds_to_reset()
        return max(self.interval, timedelta(seconds=wait)) if wait is not None else None

    def _gap(self, kind: str, *, start: datetime, end: datetime, count: int) -> str:
        texts = GAP_TEXT.get(self._t.locale, GAP_TEXT["en"])
        return texts[kind].format(start=self._t.datetime(start), end=self._t.datetime(end),
                                  window=self._t.ago(self.backfill), count=count)

    def _mentions(self, tweets: list[dict[str, Any]], users: dict[str, dict[str, Any]],
                  user_id: str) -> list[MentionIn]:
        """Oldest first, so that a reply arrives after the tweet it answers."""
        out = []
        for tweet in sorted(tweets, key=lambda t: int(t["id"])):
            if str(tweet.get("author_id")) == user_id or _retweet(tweet):
                continue  # our own tweet, or a retweet of one we have: nothing new to answer
            try:
                out.append(to_mention(tweet, users.get(str(tweet.get("author_id"))), account=self.handle))
            except (KeyError, ValueError) as exc:  # one odd tweet must not stop the others
                log.warning("X tweet %s skipped: %s", tweet.get("id"), exc)
        return out


def to_mention(tweet: dict[str, Any], user: dict[str, Any] | None, *, account: str) -> MentionIn:
    """Map an X API v2 tweet (and its expanded author) to the mention schema."""
    user = user or {}
    username = user.get("username")
    replied_to = next((r.get("id") for r in tweet.get("referenced_tweets") or []
                       if r.get("type") == "replied_to"), None)
    metrics = user.get("public_metrics") or {}
    tweet_id = str(tweet["id"])
    created = tweet.get("created_at") or snowflake_time(tweet_id).isoformat()
    author = {"id": tweet.get("author_id") or user.get("id"), "handle": username, "name": user.get("name"),
              "followers": metrics.get("followers_count"), "verified": bool(user.get("verified"))}
    fields: dict[str, Any] = {
        "source": SOURCE, "id": tweet_id, "thread_id": tweet.get("conversation_id") or tweet_id,
        "in_reply_to": replied_to, "venue": "own",
        "url": f"https://x.com/{username or 'i/web'}/status/{tweet_id}",
        "author": _present(author), "text": tweet.get("text") or "", "created_at": created,
        "lang": _language(tweet.get("lang")), "account": account,
    }
    # absent rather than null: the schema's optional ids do not accept an explicit None
    return MentionIn.model_validate(_present(fields))


def _retweet(tweet: dict[str, Any]) -> bool:
    return any(r.get("type") == "retweeted" for r in tweet.get("referenced_tweets") or [])


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _language(code: Any) -> str | None:
    """X's language code, without its placeholders: `und` (undetermined), `zxx`, `q*` (media, hashtags)."""
    if not isinstance(code, str) or code in ("und", "zxx") or code.startswith("q"):
        return None
    return code


def _as_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
