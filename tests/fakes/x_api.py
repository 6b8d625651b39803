"""In-process fake of the X API v2 endpoints webcare-bot uses, on 127.0.0.1 (free port).

``FakeX`` speaks X's wire format, as recorded in tweepy's cassettes (shared/fixtures/x) and X's
documentation: ``{"data": ..., "includes": {"users": [...]}, "meta": {"result_count", "newest_id",
"oldest_id", "next_token"}}``, only the fields asked for (``tweet.fields``, ``user.fields``,
``expansions=author_id``), snowflake ids that encode the creation time, and error bodies in X's
problem format (``{"title", "detail", "type", "status"}``), including the 403 "duplicate content"
refusal of a repeated tweet text.

Reads take ``Authorization: Bearer <token>``; user-context endpoints (``/2/users/me``, posting,
likes) take an OAuth 1.0a header naming the configured consumer key (the signature is not checked).
Every answer carries ``x-rate-limit-limit/remaining/reset``; each endpoint has a window that counts
down, answers 429 when it is used up, and can be set from a test (``set_rate``). Like X, only the
newest ``timeline_cap`` mentions of an account can be read. Every request is recorded in ``calls``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer
from tests.fakes.polling import describe, poll

JsonDict = dict[str, Any]

TWITTER_EPOCH_MS = 1288834974657
WINDOW_S = 15 * 60
DAILY_POSTS = 10_000
LIMITS = {  # per 15-minute window, from X's rate-limit table
    "users.by_username": 300, "users.me": 75, "users.mentions": 450, "tweets.create": 100,
    "users.tweets": 1500, "users.likes": 50,
}
TWEET_FIELDS = {"created_at", "author_id", "conversation_id", "in_reply_to_user_id", "referenced_tweets",
                "lang", "public_metrics"}
USER_FIELDS = {"verified", "public_metrics", "created_at", "description"}
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class Call:
    """One request as the fake received it."""

    method: str
    path: str
    endpoint: str
    query: dict[str, str]
    json: JsonDict | None
    auth: str | None
    """"bearer", "oauth1" or None."""
    at: float
    status: int = 0


@dataclass
class Rate:
    """One endpoint's rate-limit window."""

    limit: int
    remaining: int
    reset_at: float
    force_429: int = 0


@dataclass
class _User:
    id: str
    username: str
    name: str
    followers: int = 0
    verified: bool = False

    def render(self, fields: set[str]) -> JsonDict:
        out: JsonDict = {"id": self.id, "name": self.name, "username": self.username}
        if "verified" in fields:
            out["verified"] = self.verified
        if "public_metrics" in fields:
            out["public_metrics"] = {"followers_count": self.followers, "following_count": 12,
                                     "tweet_count": 345, "listed_count": 1, "like_count": 10}
        if "description" in fields:
            out["description"] = ""
        return out


@dataclass
class _Tweet:
    id: str
    text: str
    author_id: str
    created_at: datetime
    conversation_id: str
    in_reply_to_user_id: str | None = None
    referenced: list[JsonDict] = field(default_factory=list)
    lang: str = "nl"
    mentions: set[str] = field(default_factory=set)
    """Ids of the users this tweet mentions."""

    def render(self, fields: set[str]) -> JsonDict:
        out: JsonDict = {"edit_history_tweet_ids": [self.id], "id": self.id, "text": self.text}
        values: JsonDict = {
            "created_at": self.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "author_id": self.author_id, "conversation_id": self.conversation_id,
            "in_reply_to_user_id": self.in_reply_to_user_id,
            "referenced_tweets": self.referenced or None, "lang": self.lang,
            "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0, "quote_count": 0,
                               "bookmark_count": 0, "impression_count": 7},
        }
        for name in fields & TWEET_FIELDS:
            if values[name] is not None:
                out[name] = values[name]
        return out


class _ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str, type_: str = "about:blank",
                 extra: JsonDict | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.body: JsonDict = {"title": title, "detail": detail, "type": type_, "status": status,
                               **(extra or {})}
        if extra and "errors" in extra:
            self.body.pop("status")


def _invalid(parameter: str, value: str, message: str) -> _ApiError:
    return _ApiError(400, "Invalid Request", "One or more parameters to your request was invalid.",
                     "https://api.twitter.com/2/problems/invalid-request",
                     {"errors": [{"parameters": {parameter: [value]}, "message": message}]})


class FakeX(LoopbackServer):
    """A recording fake of the X API v2 (users, mentions timeline, tweets, likes)."""

    def __init__(self, *, bearer_token: str = "x-bearer", consumer_key: str = "x-key",
                 account: str = "testbedrijf", account_id: str = "1500000000000000001",
                 timeline_cap: int = 800, port: int = 0) -> None:
        self.bearer_token = bearer_token
        self.consumer_key = consumer_key
        self.timeline_cap = timeline_cap
        self.calls: list[Call] = []
        self.users: dict[str, _User] = {}
        self.tweets: dict[str, _Tweet] = {}
        self.likes: list[tuple[str, str]] = []
        self.rates: dict[str, Rate] = {}
        self.daily = Rate(limit=DAILY_POSTS, remaining=DAILY_POSTS, reset_at=time.time() + 86400)
        """The app's 24-hour window for posting (`x-app-limit-24hour-*`)."""
        self.down = False
        self.response_delay = 0.0
        self._seq = itertools.count()
        self._user_ids = itertools.count(1000)
        self._tokens: dict[str, int] = {}
        super().__init__(port)
        self.account = self.add_user(account, name=account.capitalize(), followers=5000, verified=True,
                                     id=account_id)
        self.me = self.account
        """The account the OAuth 1.0a access token belongs to."""

    # --- lifecycle ---

    def routes(self, app: web.Application) -> None:
        """X API v2 endpoints the bot uses."""
        app.router.add_get("/2/users/by/username/{username}", self._by_username)
        app.router.add_get("/2/users/me", self._me)
        app.router.add_get("/2/users/{id}/mentions", self._mentions)
        app.router.add_get("/2/users/{id}/tweets", self._user_tweets)
        app.router.add_post("/2/tweets", self._create_tweet)
        app.router.add_post("/2/users/{id}/likes", self._like)

    @property
    def api_url(self) -> str:
        """The base URL to give as X_API_URL."""
        return f"http://127.0.0.1:{self.port}"

    # --- test helpers ---

    def add_user(self, username: str, *, name: str | None = None, followers: int = 0,
                 verified: bool = False, id: str | None = None) -> _User:
        """Create (or return) an X user."""
        if username.lower() in self.users:
            return self.users[username.lower()]
        user = _User(id=id or str(next(self._user_ids)), username=username, name=name or username,
                     followers=followers, verified=verified)
        self.users[username.lower()] = user
        return user

    def add_tweet(self, *, author: str, text: str, created_at: datetime | None = None,
                  in_reply_to: str | None = None, lang: str = "nl") -> JsonDict:
        """Publish a tweet (a mention when its text names @account); returns it in full wire format."""
        user = self.users.get(author.lower()) or self.add_user(author)
        created = created_at or datetime.now(UTC)
        tweet_id = self._snowflake(created)
        parent = self.tweets.get(in_reply_to) if in_reply_to else None
        if in_reply_to and parent is None:
            raise KeyError(f"no tweet {in_reply_to} to reply to")
        names = {m.lower() for m in re.findall(r"@(\w{1,15})", text)}
        tweet = _Tweet(
            id=tweet_id, text=text, author_id=user.id, created_at=created,
            conversation_id=parent.conversation_id if parent else tweet_id,
            in_reply_to_user_id=parent.author_id if parent else None,
            referenced=[{"type": "replied_to", "id": parent.id}] if parent else [], lang=lang,
            mentions={u.id for n, u in self.users.items() if n in names},
        )
        if parent is not None:  # a reply mentions the author it answers
            tweet.mentions.add(parent.author_id)
        self.tweets[tweet_id] = tweet
        return tweet.render(TWEET_FIELDS)

    def add_retweet(self, *, author: str, of: str) -> JsonDict:
        """`author` retweets tweet `of`: X lists it among the mentions of whoever the original names."""
        original = self.tweets[of]
        user = self.add_user(author)
        created = datetime.now(UTC)
        original_author = next(u for u in self.users.values() if u.id == original.author_id)
        text = f"RT @{original_author.username}: {original.text}"[:140]
        tweet = _Tweet(id=self._snowflake(created), text=text, author_id=user.id, created_at=created,
                       conversation_id="",
                       referenced=[{"type": "retweeted", "id": original.id}], lang=original.lang,
                       mentions=set(original.mentions) | {original.author_id})
        tweet.conversation_id = tweet.id
        self.tweets[tweet.id] = tweet
        return tweet.render(TWEET_FIELDS)

    def add_mention(self, text: str | None = None, *, author: str = "klant", followers: int = 120,
                    verified: bool = False, created_at: datetime | None = None,
                    in_reply_to: str | None = None, lang: str = "nl") -> JsonDict:
        """A customer's tweet mentioning our account."""
        self.add_user(author, name=author.capitalize(), followers=followers, verified=verified)
        body = text if text is not None else "Waar blijft mijn pakket?"
        if f"@{self.account.username.lower()}" not in body.lower():
            body = f"@{self.account.username} {body}"
        return self.add_tweet(author=author, text=body, created_at=created_at, in_reply_to=in_reply_to,
                              lang=lang)

    def set_rate(self, endpoint: str, *, remaining: int | None = None, reset_in: float | None = None,
                 limit: int | None = None, force_429: int = 0) -> Rate:
        """Set an endpoint's window (e.g. "users.mentions"); `force_429` answers 429 that many times."""
        rate = self._rate(endpoint)
        if limit is not None:
            rate.limit = limit
        if remaining is not None:
            rate.remaining = remaining
        if reset_in is not None:
            rate.reset_at = time.time() + reset_in
        rate.force_429 = force_429
        return rate

    def set_daily(self, *, remaining: int, reset_in: float) -> None:
        """Set the app's 24-hour posting window (POST /2/tweets answers 429 when it is used up)."""
        self.daily.remaining = remaining
        self.daily.reset_at = time.time() + reset_in

    def calls_to(self, endpoint: str, *, status: int | None = None) -> list[Call]:
        """Recorded calls of one endpoint (e.g. "users.mentions"), in arrival order."""
        return [c for c in self.calls if c.endpoint == endpoint and (status is None or c.status == status)]

    def replies_to(self, tweet_id: str) -> list[JsonDict]:
        """Tweets posted as replies to `tweet_id`."""
        return [t.render(TWEET_FIELDS) for t in self.tweets.values()
                if any(r["id"] == tweet_id for r in t.referenced)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Poll `predicate` until truthy and return it; AssertionError on timeout."""
        def report(error: Exception | None) -> str:
            recent = ", ".join(f"{c.endpoint}={c.status}" for c in self.calls[-8:])
            return (f"FakeX.wait_for timed out after {timeout}s: {what or describe(predicate)}; "
                    f"last calls: {recent or 'none'}; last error {error!r}")

        return await poll(predicate, timeout=timeout, report=report)

    # --- internals ---

    def _snowflake(self, created: datetime) -> str:
        ms = int(created.timestamp() * 1000) - TWITTER_EPOCH_MS
        return str((ms << 22) | (next(self._seq) % (1 << 22)))

    def _rate(self, endpoint: str) -> Rate:
        rate = self.rates.get(endpoint)
        now = time.time()
        if rate is None or rate.reset_at <= now:
            limit = rate.limit if rate else LIMITS.get(endpoint, 100)
            rate = self.rates[endpoint] = Rate(limit=limit, remaining=limit, reset_at=now + WINDOW_S,
                                               force_429=rate.force_429 if rate else 0)
        return rate

    async def _serve(self, request: web.Request, endpoint: str, *, user_auth_only: bool,
                     handler: Callable[[web.Request, Call], JsonDict], ok: int = 200) -> web.Response:
        body: JsonDict | None = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
        auth = self._auth_kind(request)
        call = Call(method=request.method, path=request.path, endpoint=endpoint, query=dict(request.query),
                    json=body, auth=auth, at=time.monotonic())
        self.calls.append(call)
        if self.response_delay:
            await asyncio.sleep(self.response_delay)
        rate = self._rate(endpoint)
        try:
            if self.down:
                raise _ApiError(503, "Service Unavailable", "Service Unavailable")
            self._check_auth(request, auth, user_auth_only=user_auth_only)
            daily = endpoint == "tweets.create"
            if rate.force_429 > 0 or rate.remaining <= 0 or (daily and self.daily.remaining <= 0):
                rate.force_429 = max(0, rate.force_429 - 1)
                raise _ApiError(429, "Too Many Requests", "Too Many Requests")
            rate.remaining -= 1
            if daily:
                self.daily.remaining -= 1
            data = handler(request, call)
            status = ok
        except _ApiError as exc:
            data, status = exc.body, exc.status
        headers = {"x-rate-limit-limit": str(rate.limit), "x-rate-limit-remaining": str(max(0, rate.remaining)),
                   "x-rate-limit-reset": str(math.ceil(rate.reset_at)),
                   "x-access-level": "read-write" if auth == "oauth1" else "read"}
        if endpoint == "tweets.create":
            headers |= {"x-app-limit-24hour-limit": str(self.daily.limit),
                        "x-app-limit-24hour-remaining": str(max(0, self.daily.remaining)),
                        "x-app-limit-24hour-reset": str(math.ceil(self.daily.reset_at))}
        call.status = status
        return web.json_response(data, status=status, headers=headers,
                                 content_type="application/json")

    def _auth_kind(self, request: web.Request) -> str | None:
        value = request.headers.get("Authorization", "")
        if value.startswith("Bearer "):
            return "bearer"
        if value.startswith("OAuth "):
            return "oauth1"
        return None

    def _check_auth(self, request: web.Request, auth: str | None, *, user_auth_only: bool) -> None:
        value = request.headers.get("Authorization", "")
        if auth == "bearer" and not user_auth_only and value == f"Bearer {self.bearer_token}":
            return
        if auth == "bearer" and user_auth_only:
            raise _ApiError(403, "Unsupported Authentication",
                            "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint."
                            "  Supported authentication types are [OAuth 1.0a User Context, "
                            "OAuth 2.0 User Context].", "https://api.twitter.com/2/problems/unsupported-authentication")
        if auth == "oauth1":
            params = {k: urllib.parse.unquote(v) for k, v in _OAUTH_PARAM.findall(value)}
            required = {"oauth_consumer_key", "oauth_token", "oauth_signature", "oauth_nonce",
                        "oauth_timestamp", "oauth_signature_method"}
            if required <= params.keys() and params["oauth_consumer_key"] == self.consumer_key:
                return
        raise _ApiError(401, "Unauthorized", "Unauthorized")

    def _fields(self, request: web.Request, name: str) -> set[str]:
        return {f for f in request.query.get(name, "").split(",") if f}

    def _page_size(self, request: web.Request) -> int:
        raw = request.query.get("max_results", "10")
        if not raw.isdigit() or not 5 <= int(raw) <= 100:
            raise _invalid("max_results", raw,
                           f"The `max_results` query parameter value [{raw}] is not between 5 and 100")
        return int(raw)

    def _id_param(self, request: web.Request, name: str) -> int | None:
        raw = request.query.get(name)
        if raw is None:
            return None
        if not raw.isdigit():
            raise _invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not valid")
        return int(raw)

    def _timeline(self, request: web.Request, tweets: list[_Tweet]) -> JsonDict:
        """One page of a timeline (newest first), with X's filters, pagination and expansions."""
        size = self._page_size(request)
        since, until = self._id_param(request, "since_id"), self._id_param(request, "until_id")
        token = request.query.get("pagination_token")
        if token is not None:
            if token not in self._tokens:
                raise _invalid("pagination_token", token, "The `pagination_token` query parameter value "
                               f"[{token}] is not valid")
            until = self._tokens[token] if until is None else min(until, self._tokens[token])
        start, end = request.query.get("start_time"), request.query.get("end_time")
        chosen = []
        for t in sorted(tweets, key=lambda t: int(t.id), reverse=True):
            if since is not None and int(t.id) <= since:
                continue
            if until is not None and int(t.id) >= until:
                continue
            stamp = t.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            if (start and stamp < start) or (end and stamp >= end):
                continue
            chosen.append(t)
        page = chosen[:size]
        tweet_fields = self._fields(request, "tweet.fields")
        expansions = self._fields(request, "expansions")
        out: JsonDict = {}
        if page:
            out["data"] = [t.render(tweet_fields | ({"author_id"} if "author_id" in expansions else set()))
                           for t in page]
            if "author_id" in expansions:
                by_id = {u.id: u for u in self.users.values()}
                authors = dict.fromkeys(t.author_id for t in page)
                user_fields = self._fields(request, "user.fields")
                out["includes"] = {"users": [by_id[a].render(user_fields) for a in authors if a in by_id]}
        meta: JsonDict = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
        if len(chosen) > size:
            next_token = "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(45))
            self._tokens[next_token] = int(page[-1].id)
            meta["next_token"] = next_token
        out["meta"] = meta
        return out

    def _user_by_id(self, user_id: str) -> _User:
        for user in self.users.values():
            if user.id == user_id:
                return user
        raise _ApiError(404, "Not Found Error", f"Could not find user with id: [{user_id}].",
                        "https://api.twitter.com/2/problems/resource-not-found")

    # --- endpoints ---

    async def _by_username(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, call: Call) -> JsonDict:
            name = request.match_info["username"]
            user = self.users.get(name.lower())
            if user is None:
                return {"errors": [{"value": name, "detail": f"Could not find user with username: [{name}].",
                                    "title": "Not Found Error", "resource_type": "user",
                                    "parameter": "username", "resource_id": name,
                                    "type": "https://api.twitter.com/2/problems/resource-not-found"}]}
            return {"data": user.render(self._fields(request, "user.fields"))}

        return await self._serve(request, "users.by_username", user_auth_only=False, handler=handle)

    async def _me(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, call: Call) -> JsonDict:
            return {"data": self.me.render(self._fields(request, "user.fields"))}

        return await self._serve(request, "users.me", user_auth_only=True, handler=handle)

    async def _mentions(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, call: Call) -> JsonDict:
            user = self._user_by_id(request.match_info["id"])
            newest = sorted((t for t in self.tweets.values() if user.id in t.mentions),
                            key=lambda t: int(t.id), reverse=True)[: self.timeline_cap]
            return self._timeline(request, newest)

        return await self._serve(request, "users.mentions", user_auth_only=False, handler=handle)

    async def _user_tweets(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, call: Call) -> JsonDict:
            user = self._user_by_id(request.match_info["id"])
            return self._timeline(request, [t for t in self.tweets.values() if t.author_id == user.id])

        return await self._serve(request, "users.tweets", user_auth_only=False, handler=handle)

    async def _create_tweet(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, call: Call) -> JsonDict:
            body = call.json or {}
            text = body.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _invalid("text", str(text), "Your Tweet text is empty")
            if len(text) > 280:
                raise _ApiError(403, "Forbidden", "You are not permitted to perform this action.")
            if any(t.author_id == self.me.id and t.text == text for t in self.tweets.values()):
                raise _ApiError(403, "Forbidden",
                                "You are not allowed to create a Tweet with duplicate content.")
            reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
            if reply_to is not None and reply_to not in self.tweets:
                raise _invalid("reply.in_reply_to_tweet_id", str(reply_to),
                               "The Tweet you are replying to does not exist or is not visible.")
            tweet = self.add_tweet(author=self.me.username, text=text, in_reply_to=reply_to)
            return {"data": {"edit_history_tweet_ids": [tweet["id"]], "id": tweet["id"], "text": text}}

        return await self._serve(request, "tweets.create", user_auth_only=True, handler=handle, ok=201)

    async def _like(self, request: web.Request) -> web.Response:
        def handle(request: web.Request, call: Call) -> JsonDict:
            if request.match_info["id"] != self.me.id:
                raise _ApiError(403, "Forbidden", "You are not allowed to like Tweets on behalf of this user.")
            tweet_id = str((call.json or {}).get("tweet_id"))
            if tweet_id not in self.tweets:
                raise _invalid("tweet_id", tweet_id, "The tweet you are trying to like does not exist.")
            if (self.me.id, tweet_id) not in self.likes:
                self.likes.append((self.me.id, tweet_id))
            return {"data": {"liked": True}}

        return await self._serve(request, "users.likes", user_auth_only=True, handler=handle)
