"""The X API v2 client: tweepy's `AsyncClient`, pointed at X_API_URL, rate-limit state on every answer.

Why `XClient` overrides `AsyncClient.request`: tweepy builds every URL in that one method
(`"https://api.twitter.com" + route`), signs it there (OAuth 1.0a) and maps statuses to exceptions
there. The other seams do not fit. A session whose `_request` rewrites the host would send an OAuth
1.0a signature computed over another URL (the signature base string contains scheme, host and
port), which X or any signature-checking proxy must refuse; `return_type` only changes what is built
from the answer. So `request` is overridden with tweepy's own steps (oauthlib signing of the sorted
query, its colon encoding) on `base_url + route`, and everything else stays tweepy's: the endpoint
methods and their parameter processing. Tweepy is asked for the raw `aiohttp.ClientResponse`
(`return_type`), so the `x-rate-limit-*` headers of successful answers are read as well as those of
a 429, and failures become the core's DeliveryError subclasses in one place: 429 → RateLimited
(until `x-rate-limit-reset`, or the reset of a used-up 24-hour window), 5xx and refused
connections → TransientError, timeouts of writes → UnknownOutcome (of reads → TransientError),
other 4xx → XHTTPError (a PermanentError carrying X's `detail`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from oauthlib.oauth1 import Client as OAuthClient
from tweepy.asynchronous import AsyncClient
from yarl import URL

from bot.ports import PermanentError, RateLimited, TransientError, UnknownOutcome

DEFAULT_API_URL = "https://api.twitter.com"
USER_FIELDS = ["name", "username", "verified", "public_metrics"]
TWEET_FIELDS = ["created_at", "author_id", "conversation_id", "in_reply_to_user_id", "referenced_tweets",
                "lang", "public_metrics"]
DAY_WINDOWS = ("x-app-limit-24hour", "x-user-limit-24hour")
RATE_LIMIT_FALLBACK_S = 60.0
"""How long to wait on a 429 that carries no `x-rate-limit-reset` (X always sends one)."""


@dataclass(frozen=True)
class RateInfo:
    """The `x-rate-limit-*` headers of one answer (None where absent)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    """When the window resets, in epoch seconds."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateInfo:
        """Read the rate-limit headers of a response."""
        return cls(limit=_int(headers.get("x-rate-limit-limit")),
                   remaining=_int(headers.get("x-rate-limit-remaining")),
                   reset_at=_int(headers.get("x-rate-limit-reset")))

    def seconds_to_reset(self, now: float | None = None) -> float | None:
        """Seconds until the window resets (never negative), or None when unknown."""
        if self.reset_at is None:
            return None
        return max(0.0, self.reset_at - (time.time() if now is None else now))

    @property
    def exhausted(self) -> bool:
        """No request is left in this window."""
        return self.remaining is not None and self.remaining <= 0


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float:
    """Seconds to wait after a 429: until the latest reset of the windows that are used up.

    Posting has a 24-hour window per app and per user besides the 15-minute one
    (`x-app-limit-24hour-*`, `x-user-limit-24hour-*`); a 429 from those must wait for their reset.
    """
    now = time.time() if now is None else now
    resets = [_int(headers.get(f"{prefix}-reset")) for prefix in DAY_WINDOWS
              if _int(headers.get(f"{prefix}-remaining")) == 0]
    resets.append(_int(headers.get("x-rate-limit-reset")))
    known = [r for r in resets if r is not None]
    return max(1.0, max(known) - now) if known else RATE_LIMIT_FALLBACK_S


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class XAnswer:
    """A successful answer: the JSON body and the rate-limit state that came with it."""

    status: int
    body: dict[str, Any]
    rate: RateInfo = field(default_factory=RateInfo)

    @property
    def data(self) -> Any:
        """The body's `data` (an object or a list), or None."""
        return self.body.get("data")

    @property
    def meta(self) -> dict[str, Any]:
        """The body's `meta` (result_count, newest_id, oldest_id, next_token)."""
        meta = self.body.get("meta")
        return meta if isinstance(meta, dict) else {}

    def included_users(self) -> dict[str, dict[str, Any]]:
        """The expanded users (`includes.users`) by id."""
        includes = self.body.get("includes") or {}
        return {str(u["id"]): u for u in includes.get("users", []) if isinstance(u, dict) and "id" in u}


class XHTTPError(PermanentError):
    """X refused the request (a 4xx other than 429); `detail` is X's own explanation."""

    def __init__(self, status: int, body: dict[str, Any], rate: RateInfo, what: str) -> None:
        self.status = status
        self.title = str(body.get("title") or "")
        self.detail = _detail(body)
        self.rate = rate
        super().__init__(f"X answered {status} to {what}: {self.detail or self.title or 'no detail'}")


class XUnauthorized(XHTTPError):
    """401: the token is missing, revoked or wrong."""


class XForbidden(XHTTPError):
    """403: not allowed (no write access, protected account, duplicate text, ...)."""

    @property
    def duplicate(self) -> bool:
        """X refused the tweet because we posted the same text recently."""
        return "duplicate" in self.detail.lower()


def _detail(body: dict[str, Any]) -> str:
    if body.get("detail"):
        return str(body["detail"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or "")
    return str(body.get("text") or "")


class XClient(AsyncClient):  # type: ignore[misc]  # tweepy is untyped
    """Tweepy's AsyncClient on `base_url`: bearer token for reads, OAuth 1.0a user context for writes.

    Created when the app is built; its aiohttp session exists between `open()` and `close()`
    (the plugin calls both from `cleanup_ctx`).
    """

    def __init__(self, *, base_url: str = DEFAULT_API_URL, timeout: float = 10.0,
                 bearer_token: str | None = None, consumer_key: str | None = None,
                 consumer_secret: str | None = None, access_token: str | None = None,
                 access_token_secret: str | None = None) -> None:
        super().__init__(bearer_token, consumer_key, consumer_secret, access_token, access_token_secret,
                         return_type=aiohttp.ClientResponse)
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None

    # --- lifecycle ---

    async def open(self) -> None:
        """Create the HTTP session."""
        if self.session is None:
            self.session = aiohttp.ClientSession()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self.session is not None:
            await self.session.close()
            self.session = None

    @property
    def can_read(self) -> bool:
        """A bearer token is set (app-only reads)."""
        return bool(self.bearer_token)

    @property
    def can_write(self) -> bool:
        """All four OAuth 1.0a values are set (posting as our account)."""
        return all((self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret))

    # --- the one place that talks HTTP (tweepy's endpoint methods all end here) ---

    async def request(self, method: str, route: str, params: dict[str, Any] | None = None,
                      json: dict[str, Any] | None = None, user_auth: bool = False) -> aiohttp.ClientResponse:
        """Send one API request to `base_url + route`; map failures to DeliveryError subclasses."""
        if self.session is None:
            raise TransientError("the X client is not open (app not running)")
        what = f"{method} {route}"
        url = self.base_url + route
        headers = {"User-Agent": self.user_agent}
        if json is not None:
            headers["Content-Type"] = "application/json"
        target: URL
        if user_auth:
            if not self.can_write:
                raise PermanentError("X user context needs X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and "
                                     "X_ACCESS_SECRET")
            oauth = OAuthClient(self.consumer_key, self.consumer_secret, self.access_token,
                                self.access_token_secret)
            signed = str(URL(url).with_query(sorted((params or {}).items())))
            signed, headers, _ = oauth.sign(signed, method, headers=headers)
            # as tweepy does: oauthlib signs colons percent-encoded, aiohttp would not encode them
            before, _, query = signed.partition("?")
            target = URL(f"{before}?{query.replace(':', '%3A')}" if query else before, encoded=True)
            params = None
        else:
            if not self.can_read:
                raise PermanentError("X reads need X_BEARER_TOKEN")
            headers["Authorization"] = f"Bearer {self.bearer_token}"
            target = URL(url)
        try:
            async with self.session.request(method, target, params=params, json=json, headers=headers,
                                            timeout=self.timeout) as response:
                await response.read()
        except aiohttp.ClientConnectorError as exc:  # never reached X: safe to try again
            raise TransientError(f"X unreachable ({what}): {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            if method == "GET":
                raise TransientError(f"X did not answer {what}: {exc!r}") from exc
            raise UnknownOutcome(f"X did not answer {what}: {exc!r}") from exc
        if 200 <= response.status < 300:
            return response
        rate = RateInfo.from_headers(response.headers)
        body = await _body(response)
        if response.status == 429:
            raise RateLimited(retry_after(response.headers), f"X rate limit on {what}")
        if response.status >= 500:
            raise TransientError(f"X answered {response.status} to {what}: {_detail(body)}")
        error = {401: XUnauthorized, 403: XForbidden}.get(response.status, XHTTPError)
        raise error(response.status, body, rate, what)

    # --- the calls the integration makes ---

    async def user_by_username(self, username: str) -> XAnswer:
        """GET /2/users/by/username/:username (bearer)."""
        return await _answer(await self.get_user(username=username, user_fields=USER_FIELDS))

    async def me(self) -> XAnswer:
        """GET /2/users/me (user context): the account our access token posts as."""
        return await _answer(await self.get_me(user_auth=True, user_fields=USER_FIELDS))

    async def mentions(self, user_id: str, *, since_id: str | None = None, until_id: str | None = None,
                       pagination_token: str | None = None, max_results: int = 100) -> XAnswer:
        """GET /2/users/:id/mentions, newest first, with the authors expanded (bearer)."""
        return await _answer(await self.get_users_mentions(
            user_id, since_id=since_id, until_id=until_id, pagination_token=pagination_token,
            max_results=max_results, expansions=["author_id"], user_fields=USER_FIELDS,
            tweet_fields=TWEET_FIELDS))

    async def post_reply(self, *, text: str, in_reply_to: str) -> XAnswer:
        """POST /2/tweets as our account, replying to `in_reply_to`."""
        return await _answer(await self.create_tweet(text=text, in_reply_to_tweet_id=in_reply_to,
                                                     user_auth=True))

    async def recent_tweets(self, user_id: str, *, max_results: int = 100) -> XAnswer:
        """GET /2/users/:id/tweets (user context): our own latest tweets, with what they reply to."""
        return await _answer(await self.get_users_tweets(
            user_id, max_results=max_results, tweet_fields=["created_at", "referenced_tweets"],
            user_auth=True))

    async def like_tweet(self, user_id: str, tweet_id: str) -> XAnswer:
        """POST /2/users/:id/likes as our account."""
        return await _answer(await self.request("POST", f"/2/users/{user_id}/likes", params={},
                                                json={"tweet_id": str(tweet_id)}, user_auth=True))


async def _body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {"text": (await response.text(errors="replace"))[:300]}
    return body if isinstance(body, dict) else {}


async def _answer(response: aiohttp.ClientResponse) -> XAnswer:
    return XAnswer(status=response.status, body=await _body(response),
                   rate=RateInfo.from_headers(response.headers))
