"""In-process fake of Microsoft's side of a Teams bot: Entra ID tokens, Bot Framework signing keys, Connector.

``FakeBotFramework`` serves, on 127.0.0.1 (free port):

- ``login_url`` + ``/{tenant}/oauth2/v2.0/token``: OAuth2 client credentials for ``app_id`` /
  ``app_password`` (tenant: ``tenant_id`` or ``botframework.com``), answering like Entra ID (``access_token``,
  ``expires_in``; 401 ``invalid_client`` for a wrong secret, 400 ``unauthorized_client`` for an unknown
  app). Tokens are opaque and live ``token_lifetime`` seconds.
- ``openid_url``: the Bot Framework OpenID metadata, whose ``jwks_uri`` lists the fake's RSA signing keys
  (generated at start, endorsed for ``msteams``). ``inbound_auth`` signs tokens with them the way the Bot
  Framework does (iss, aud, serviceurl, nbf, exp); ``deliver`` POSTs a signed activity to a bot.
- ``service_url`` (``.../teams/``): the Connector API v3. POST ``v3/conversations`` starts a channel thread
  (``channelData.channel``) or a 1:1 chat (``members``); POST ``v3/conversations/{id}/activities[/{replyTo}]``
  posts into a thread (``{channel};messageid={root}``) or a chat; PUT ``.../activities/{id}`` updates. Each
  needs a token from the token endpoint; answers are shaped like the recordings in tests/fixtures/teams.

State a test can read: ``threads`` (channel id -> root posts in order, each with replies and update
history), ``chats``, ``calls``. Faults: ``fail_next``, ``hang_next`` (no answer until the fake stops),
``drop_next`` (connection closed without an answer). ``rate_windows`` counts posts per conversation and
answers 429 with Retry-After when a window is full, like Teams' per-thread limits.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import itertools
import json
import secrets
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.loopback import LoopbackServer
from tests.fakes.polling import describe, poll

JsonDict = dict[str, Any]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "teams"
ISSUER = "https://api.botframework.com"
SCOPE = "https://api.botframework.com/.default"
MESSAGE_ID = ";messageid="
TEAMS_RATE_WINDOWS = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
"""Teams' documented per-bot, per-thread limits: (seconds, messages)."""
_UNAUTHORIZED = {"message": "Authorization has been denied for this request."}


def recording(name: str) -> JsonDict:
    """A recorded request or reply from tests/fixtures/teams (e.g. ``"channel_message"``)."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _error(code: str, message: str) -> JsonDict:
    return {"error": {"code": code, "message": message}}


@dataclass
class Call:
    """One request as the fake received it."""

    method: str
    path: str
    """Decoded path, e.g. ``/teams/v3/conversations/19:x@thread.skype/activities``."""
    raw_path: str
    """The path as sent (percent-encoding kept)."""
    body: Any
    at: float
    status: int = 0
    """0 while the fake has not answered (or never will: hang, drop)."""


@dataclass
class Post:
    """A message the bot posted: its activity as it stands now, earlier versions, thread replies."""

    id: str
    conversation_id: str
    activity: JsonDict
    history: list[JsonDict] = field(default_factory=list)
    replies: list[Post] = field(default_factory=list)


@dataclass
class Chat:
    """A 1:1 chat the bot opened."""

    id: str
    user_id: str
    tenant_id: str | None
    posts: list[Post] = field(default_factory=list)


@dataclass
class _Fault:
    path_contains: str
    kind: str  # "status", "hang", "drop"
    times: int
    status: int = 0
    retry_after: float | None = None
    body: Any = None
    apply: bool = True


@dataclass
class _Key:
    kid: str
    private: rsa.RSAPrivateKey
    endorsements: list[str] | None
    published: bool = True

    def jwk(self) -> JsonDict:
        numbers = self.private.public_key().public_numbers()
        out: JsonDict = {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _b64_int(numbers.n),
                         "e": _b64_int(numbers.e)}
        if self.endorsements is not None:
            out["endorsements"] = list(self.endorsements)
        return out


def _b64_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Delivered(NamedTuple):
    """The bot's answer to a delivered activity."""

    status: int
    body: Any


class FakeBotFramework(LoopbackServer):
    """A recording fake of Entra ID's token endpoint, the Bot Framework's signing keys and the Connector."""

    def __init__(self, *, app_id: str | None = None, app_password: str = "fake-app-password",
                 tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47", port: int = 0) -> None:
        super().__init__(port)
        self.app_id = app_id or str(uuid.uuid4())
        self.app_password = app_password
        self.tenant_id = tenant_id
        self.channel_id = "19:097e6717fd7245bdbeba6baa13840db8@thread.skype"
        """The channel the bot is installed in (recorded id); `channels` may hold more."""
        self.team_id = self.channel_id
        self.channels: set[str] = {self.channel_id}
        """Channels of teams the bot is installed in; a thread elsewhere is refused with 403."""
        self.token_lifetime = 3599
        self.threads: dict[str, list[Post]] = defaultdict(list)
        self.chats: dict[str, Chat] = {}
        self.calls: list[Call] = []
        self.tokens: dict[str, float] = {}
        """Issued access tokens -> expiry (time.time())."""
        self.token_requests = 0
        self.rate_windows: tuple[tuple[float, int], ...] = TEAMS_RATE_WINDOWS
        self.rate_counts: dict[str, int] = defaultdict(int)
        """Posts accepted per conversation (a thread counts under its `channel;messageid=root` id)."""
        self.rate_retry_after = 2.0
        self.rate_limited = 0
        self._sent_at: dict[str, deque[float]] = defaultdict(deque)
        self._faults: list[_Fault] = []
        self._release = asyncio.Event()
        self._ids = itertools.count(int(time.time() * 1000))
        self._keys: dict[str, _Key] = {}
        self.kid = self.add_key()
        """The kid the fake signs with by default."""

    # --- lifecycle and addresses ---

    def routes(self, app: web.Application) -> None:
        """Token endpoint, OpenID metadata and keys, Connector API."""
        self._release = asyncio.Event()
        app.router.add_post("/login/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/openid/v1/.well-known/openidconfiguration", self._metadata)
        app.router.add_get("/openid/keys", self._jwks)
        app.router.add_post("/teams/v3/conversations", self._create_conversation)
        app.router.add_post("/teams/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/teams/v3/conversations/{cid}/activities/{reply_to}", self._send)
        app.router.add_put("/teams/v3/conversations/{cid}/activities/{aid}", self._update)

    async def stop(self) -> None:
        """Release hanging calls and shut the server down."""
        self._release.set()
        await super().stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def login_url(self) -> str:
        """Give as the connector's login_url (Entra ID's is https://login.microsoftonline.com)."""
        return f"{self.base_url}/login"

    @property
    def openid_url(self) -> str:
        """Give as BOT_OPENID_METADATA_URL."""
        return f"{self.base_url}/openid/v1/.well-known/openidconfiguration"

    @property
    def service_url(self) -> str:
        """The serviceUrl of activities from this fake (like https://smba.trafficmanager.net/amer/)."""
        return f"{self.base_url}/teams/"

    @property
    def bot_id(self) -> str:
        """The bot's Teams id: ``28:<app id>``."""
        return f"28:{self.app_id}"

    # --- signing keys and inbound requests ---

    def add_key(self, *, endorsements: list[str] | None = None, published: bool = True) -> str:
        """Generate an RSA signing key (endorsed for msteams unless told); return its kid."""
        kid = f"fake-{secrets.token_hex(6)}"
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._keys[kid] = _Key(kid, private, ["msteams"] if endorsements is None else endorsements, published)
        return kid

    def rotate_key(self) -> str:
        """Replace the published keys by a new one (as Microsoft rotates them); return the new kid."""
        for key in self._keys.values():
            key.published = False
        self.kid = self.add_key()
        return self.kid

    def inbound_auth(self, activity: JsonDict, *, kid: str | None = None, header_kid: str | None = None,
                     **overrides: Any) -> str:
        """A ``Bearer`` header as the Bot Framework signs it for `activity`.

        `overrides` replace claims (``iss``, ``aud``, ``serviceurl``, ``exp``, ``nbf``; None drops one);
        `kid` picks the signing key, `header_kid` names another kid in the token header.
        """
        now = int(time.time())
        claims: JsonDict = {"serviceurl": activity.get("serviceUrl"), "nbf": now - 5, "exp": now + 3600,
                            "iss": ISSUER, "aud": self.app_id}
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key = self._keys[kid or self.kid]
        token = jwt.encode(claims, key.private, algorithm="RS256",
                           headers={"kid": header_kid or key.kid, "x5t": key.kid})
        return f"Bearer {token}"

    async def deliver(self, bot_url: str, activity: JsonDict, *, auth: str | None = "sign",
                      **overrides: Any) -> Delivered:
        """Sign `activity` and POST it to the bot's /api/messages (`auth`: a header to send, or None)."""
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Microsoft-SkypeBotApi (Microsoft-BotFramework/3.0)"}
        if auth == "sign":
            headers["Authorization"] = self.inbound_auth(activity, **overrides)
        elif auth is not None:
            headers["Authorization"] = auth
        async with aiohttp.ClientSession() as session, \
                session.post(bot_url, data=json.dumps(activity), headers=headers) as response:
            text = await response.text()
            try:
                body: Any = json.loads(text) if text else None
            except ValueError:
                body = text
            return Delivered(response.status, body)

    # --- activities from the recordings ---

    def from_recording(self, name: str) -> JsonDict:
        """A recorded inbound activity, re-addressed to this fake and bot (serviceUrl, recipient, tenant)."""
        activity = copy.deepcopy(recording(name)["body"])
        activity["serviceUrl"] = self.service_url
        activity["recipient"] = {"id": self.bot_id, "name": "webcare"}
        activity["conversation"]["tenantId"] = self.tenant_id
        activity["channelData"]["tenant"] = {"id": self.tenant_id}
        return activity

    def channel_message(self, text: str, *, channel_id: str | None = None,
                        user: JsonDict | None = None) -> JsonDict:
        """A new channel post that @mentions the bot, from a user with aadObjectId (recorded shape)."""
        channel = channel_id or self.channel_id
        activity = self.from_recording("channel_message")
        message_id = self.next_id()
        mention = "<at>webcare</at>"
        activity.update(id=message_id, text=f"{mention} {text}", timestamp=_now_iso(),
                        localTimestamp=_now_iso())
        activity["attachments"][0]["content"] = f"<div><div>{mention} {text}</div>\n</div>"
        activity["conversation"]["id"] = f"{channel}{MESSAGE_ID}{message_id}"
        activity["entities"][0]["mentioned"] = {"id": self.bot_id, "name": "webcare"}
        activity["entities"][0]["text"] = mention
        activity["channelData"].update(teamsChannelId=channel, channel={"id": channel})
        if user:
            activity["from"] = user
        return activity

    def card_submit(self, value: JsonDict, *, reply_to_id: str, conversation_id: str | None = None,
                    user: JsonDict | None = None) -> JsonDict:
        """An Adaptive Card Action.Submit click: ``type: message`` with `value` and `replyToId`."""
        activity = self.from_recording("card_submit")
        activity.update(id=f"f:{self.next_id()}", value=value, replyToId=reply_to_id, timestamp=_now_iso(),
                        localTimestamp=_now_iso())
        if conversation_id:
            activity["conversation"]["id"] = conversation_id
            channel = conversation_id.split(MESSAGE_ID, 1)[0]
            activity["channelData"]["channel"] = {"id": channel}
        if user:
            activity["from"] = user
        return activity

    def bot_added(self, *, team_name: str = "Webcare") -> JsonDict:
        """conversationUpdate: the bot was added to the team (membersAdded holds the bot's id)."""
        activity = self.from_recording("team_member_added")
        activity.update(id=f"f:{uuid.uuid4()}", timestamp=_now_iso(),
                        membersAdded=[{"id": self.bot_id}], recipient={"id": self.bot_id, "name": "webcare"})
        activity["conversation"]["id"] = self.team_id
        activity["channelData"]["team"] = {"id": self.team_id, "name": team_name,
                                           "aadGroupId": str(uuid.uuid4())}
        activity["channelData"]["eventType"] = "teamMemberAdded"
        return activity

    def next_id(self) -> str:
        """A new message id (Teams uses millisecond timestamps)."""
        return str(next(self._ids))

    # --- test helpers ---

    def fail_next(self, path_contains: str, status: int, retry_after: float | None = None, times: int = 1,
                  body: Any = None) -> None:
        """Answer the next `times` requests whose path contains `path_contains` with `status`."""
        self._faults.append(_Fault(path_contains, "status", times, status, retry_after, body))

    def hang_next(self, path_contains: str, *, apply: bool = True, times: int = 1) -> None:
        """Never answer the next matching request (until the fake stops); `apply`: do its work first."""
        self._faults.append(_Fault(path_contains, "hang", times, apply=apply))

    def drop_next(self, path_contains: str, *, apply: bool = True, times: int = 1) -> None:
        """Close the connection instead of answering the next matching request (after its work, if `apply`)."""
        self._faults.append(_Fault(path_contains, "drop", times, apply=apply))

    def requests_to(self, path_contains: str) -> list[Call]:
        """The recorded calls whose decoded path contains `path_contains`."""
        return [c for c in self.calls if path_contains in c.path]

    def find_post(self, activity_id: str) -> Post | None:
        """A post (thread root, reply or chat message) by id."""
        posts = [p for roots in self.threads.values() for p in roots]
        posts += [r for p in list(posts) for r in p.replies]
        posts += [p for chat in self.chats.values() for p in chat.posts]
        return next((p for p in posts if p.id == activity_id), None)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Poll ``predicate`` every 20 ms until truthy and return it; AssertionError on timeout."""
        def report(error: Exception | None) -> str:
            recent = ", ".join(f"{c.method} {c.path}={c.status}" for c in self.calls[-10:])
            return (f"timed out after {timeout}s waiting for {what or describe(predicate)}; "
                    f"last error {error!r}; recent calls: {recent}")

        return await poll(predicate, timeout=timeout, report=report)

    # --- request plumbing ---

    async def _record(self, request: web.Request) -> Call:
        text = await request.text()
        body: Any = text
        if request.content_type == "application/json" and text:
            body = json.loads(text)
        elif request.content_type == "application/x-www-form-urlencoded":
            body = dict(await request.post())
        call = Call(request.method, request.path, request.raw_path, body, time.time())
        self.calls.append(call)
        return call

    def _fault_for(self, call: Call) -> _Fault | None:
        for fault in self._faults:
            if fault.path_contains in call.path:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _serve(self, request: web.Request, work: Callable[[Call], web.Response],
                     *, needs_token: bool = True) -> web.StreamResponse:
        call = await self._record(request)
        fault = self._fault_for(call)
        if fault is not None and fault.kind == "status":
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            body = fault.body if fault.body is not None else _error("ServiceError", f"injected {fault.status}")
            return self._answer(call, web.json_response(body, status=fault.status, headers=headers))
        if needs_token and not self._authorized(request):
            return self._answer(call, web.json_response(_UNAUTHORIZED, status=401))
        response = work(call) if fault is None or fault.apply else None
        if fault is not None and fault.kind == "hang":
            await self._release.wait()
            raise web.HTTPServiceUnavailable()
        if fault is not None and fault.kind == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=204)
        assert response is not None
        return self._answer(call, response)

    @staticmethod
    def _answer(call: Call, response: web.Response) -> web.Response:
        call.status = response.status
        return response

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and self.tokens.get(token, 0) > time.time()

    # --- token endpoint, OpenID ---

    async def _token(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._issue_token, needs_token=False)

    def _issue_token(self, call: Call) -> web.Response:
        self.token_requests += 1
        form = call.body if isinstance(call.body, dict) else {}
        tenant = call.path.split("/")[2]
        if tenant not in (self.tenant_id, "botframework.com"):
            return web.json_response({"error": "invalid_request",
                                      "error_description": f"AADSTS90002: Tenant '{tenant}' not found."},
                                     status=400)
        if form.get("grant_type") != "client_credentials" or form.get("scope") != SCOPE:
            return web.json_response({"error": "invalid_request",
                                      "error_description": "AADSTS900144: bad grant_type or scope."},
                                     status=400)
        if form.get("client_id") != self.app_id:
            return web.json_response({"error": "unauthorized_client", "error_description":
                                      f"AADSTS700016: Application with identifier '{form.get('client_id')}' "
                                      "was not found in the directory."}, status=400)
        if form.get("client_secret") != self.app_password:
            return web.json_response({"error": "invalid_client", "error_description":
                                      "AADSTS7000215: Invalid client secret provided."}, status=401)
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.time() + self.token_lifetime
        return web.json_response({"token_type": "Bearer", "expires_in": self.token_lifetime,
                                  "ext_expires_in": self.token_lifetime, "access_token": token})

    async def _metadata(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda call: web.json_response({
            "issuer": ISSUER, "authorization_endpoint": f"{self.base_url}/openid/authorize",
            "jwks_uri": f"{self.base_url}/openid/keys", "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"]}), needs_token=False)

    async def _jwks(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda call: web.json_response(
            {"keys": [k.jwk() for k in self._keys.values() if k.published]}), needs_token=False)

    # --- Connector ---

    async def _create_conversation(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, self._create)

    def _create(self, call: Call) -> web.Response:
        body = call.body if isinstance(call.body, dict) else {}
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        if channel:
            return self._new_thread(channel, body)
        members = body.get("members") or []
        if len(members) != 1 or not members[0].get("id"):
            return web.json_response(_error("BadArgument", "Exactly one member is required."), status=400)
        tenant = body.get("tenantId") or ((body.get("channelData") or {}).get("tenant") or {}).get("id")
        if not tenant:
            return web.json_response(_error("BadArgument", "Tenant id is required."), status=400)
        user_id = members[0]["id"]
        chat = next((c for c in self.chats.values() if c.user_id == user_id), None)
        if chat is None:
            chat = Chat(id=f"a:{secrets.token_urlsafe(48)}", user_id=user_id, tenant_id=tenant)
            self.chats[chat.id] = chat
        return web.json_response({"id": chat.id}, status=201)

    def _new_thread(self, channel: str, body: JsonDict) -> web.Response:
        if channel not in self.channels:
            return web.json_response(_error("BotNotInConversationRoster",
                                            "The bot is not part of the conversation roster."), status=403)
        limited = self._rate(channel)
        if limited is not None:
            return limited
        message_id = self.next_id()
        conversation_id = f"{channel}{MESSAGE_ID}{message_id}"
        activity = dict(body.get("activity") or {}, id=message_id)
        self.threads[channel].append(Post(message_id, conversation_id, activity))
        return web.json_response({"id": conversation_id, "activityId": message_id}, status=201)

    async def _send(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda call: self._post(request.match_info["cid"], call))

    def _post(self, conversation_id: str, call: Call) -> web.Response:
        activity = call.body if isinstance(call.body, dict) else {}
        if MESSAGE_ID in conversation_id:
            channel, root_id = conversation_id.split(MESSAGE_ID, 1)
            root = next((p for p in self.threads.get(channel, []) if p.id == root_id), None)
            if root is None:
                return web.json_response(_error("ConversationNotFound", "Conversation not found."), status=404)
            posts = root.replies
        elif conversation_id in self.chats:
            posts = self.chats[conversation_id].posts
        else:
            return web.json_response(_error("ConversationNotFound", "Conversation not found."), status=404)
        limited = self._rate(conversation_id)
        if limited is not None:
            return limited
        activity_id = self.next_id()
        posts.append(Post(activity_id, conversation_id, dict(activity, id=activity_id)))
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, lambda call: self._replace(
            request.match_info["cid"], request.match_info["aid"], call))

    def _replace(self, conversation_id: str, activity_id: str, call: Call) -> web.Response:
        post = self.find_post(activity_id)
        if post is None or post.conversation_id != conversation_id:
            return web.json_response(_error("NotFound", "Activity not found."), status=404)
        post.history.append(post.activity)
        post.activity = dict(call.body if isinstance(call.body, dict) else {}, id=activity_id)
        return web.json_response({"id": activity_id}, status=200)

    def _rate(self, conversation_id: str) -> web.Response | None:
        """Count a post in the conversation; 429 when one of `rate_windows` is full."""
        now = time.monotonic()
        sent = self._sent_at[conversation_id]
        longest = max((seconds for seconds, _ in self.rate_windows), default=0.0)
        while sent and now - sent[0] > longest:
            sent.popleft()
        for seconds, limit in self.rate_windows:
            if sum(1 for at in sent if now - at <= seconds) >= limit:
                self.rate_limited += 1
                return web.json_response(_error("ThrottledRequest", "Too many requests."), status=429,
                                         headers={"Retry-After": f"{self.rate_retry_after:g}"})
        sent.append(now)
        self.rate_counts[conversation_id] += 1
        return None


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
