"""In-process fake of Slack's Web API and Socket Mode endpoint, plus inbound-payload helpers.

``FakeSlack`` serves ``http://127.0.0.1:PORT/api/<method>`` (give ``fake.api_url`` to slack_sdk's
``AsyncWebClient(base_url=...)``) and the Socket Mode WebSocket at ``/link/``. It records every
call and answers in Slack's wire format: HTTP 200 ``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``, and HTTP 429 with ``Retry-After`` when a channel's
chat.postMessage bucket is empty.

File uploads follow Slack's current flow: files.getUploadURLExternal hands out an upload URL on this
server (``/upload/v1/<token>``) and a file id, the bytes are POSTed there (raw or multipart), and
files.completeUploadExternal makes the file (``files``), sharing it only when given channels. A
message whose image block names an unknown or non-image ``slack_file`` is refused with
``invalid_blocks``, as Slack does.

The module-level helpers build and sign the requests Slack sends *into* an app (interactivity,
events). Payload shapes follow Slack's own SDK test fixtures (bolt-python, python-slack-sdk).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import math
import re
import secrets
import string
import time
import urllib.parse
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from aiohttp import BodyPartReader, WSCloseCode, WSMsgType, web

from tests.fakes.polling import describe, poll

JsonDict = dict[str, Any]

TEAM_ID = "T0FAKE"
TEAM_NAME = "Fake"
APP_ID = "A0FAKE"
BOT_ID = "B0BOT"
BOT_USER_ID = "U0BOT"
BOT_USER_NAME = "webcare"
TRIGGER_TTL_S = 3.0
MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yaml"
BOT_SCOPES = tuple(yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["oauth_config"]["scopes"]["bot"])
"""What installing the app from its manifest grants the bot token."""

_JSON_STRING_FIELDS = ("blocks", "attachments", "metadata", "view", "files")
_DELAYED_METHODS = frozenset({"chat.postMessage", "chat.update"})
_ID_ALPHABET = string.ascii_uppercase + string.digits


@dataclass
class Call:
    """One Web API request as the fake received it."""

    method: str
    args: JsonDict
    at: float
    status: int = 200
    error: str | None = None


class _ApiError(Exception):
    """A Slack error answer: ``{"ok": false, "error": ...}`` with an HTTP status (and more fields)."""

    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None,
                 extra: JsonDict | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


def _invalid_blocks(message: str) -> _ApiError:
    """Slack's answer to a block it cannot use, with the reason and JSON pointer."""
    return _ApiError("invalid_blocks", extra={"errors": [message],
                                              "response_metadata": {"messages": [f"[ERROR] {message}"]}})


@dataclass
class _Upload:
    """A file between files.getUploadURLExternal and files.completeUploadExternal."""

    file_id: str
    filename: str
    length: int
    alt_txt: str
    data: bytes | None = None


_IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "png", "image/png"), (b"\xff\xd8\xff", "jpg", "image/jpeg"),
                (b"GIF87a", "gif", "image/gif"), (b"GIF89a", "gif", "image/gif"))


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _ts_arg(args: JsonDict, name: str, default: str) -> Decimal:
    try:
        return Decimal(str(args.get(name) or default))
    except InvalidOperation:
        raise _ApiError(f"invalid_ts_{name}") from None


def _ts_key(message: JsonDict) -> Decimal:
    return Decimal(message["ts"])


def _random_id(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class FakeSlack:
    """A recording fake of Slack's Web API and Socket Mode, bound to 127.0.0.1 on a free port."""

    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        post_rate_per_s: float = 1.0,
        post_burst: int = 3,
        response_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.post_rate_per_s = post_rate_per_s
        self.post_burst = post_burst
        self.response_delay = response_delay
        self.trigger_ttl = TRIGGER_TTL_S
        self.scopes = list(BOT_SCOPES)
        """What the bot token was granted: every answer says so in `X-OAuth-Scopes`, as Slack's do."""
        self.calls: list[Call] = []
        self.messages: dict[str, list[JsonDict]] = defaultdict(list)
        self.updates: list[JsonDict] = []
        self.ephemerals: list[JsonDict] = []
        self.views: dict[str, JsonDict] = {}
        self.users: dict[str, JsonDict] = {}
        self.ratelimited = 0
        self.socket_sent: list[JsonDict] = []
        self.socket_acks: dict[str, JsonDict] = {}
        self.socket_connect_count = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._buckets: dict[str, tuple[float, float]] = {}
        self._triggers: dict[str, float | None] = {}
        self._last_ts_us = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._bind_port = port
        self._methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "apps.connections.open": self._apps_connections_open,
            "conversations.open": self._conversations_open,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.delete": self._files_delete,
        }
        self.usergroups: dict[str, list[str]] = {}
        """User groups the fake knows (id -> member ids); tests fill it in."""
        self.files: dict[str, JsonDict] = {}
        """Completed uploads (file id -> Slack file object); a test may delete one."""
        self.file_data: dict[str, bytes] = {}
        """The bytes of each completed upload."""
        self.upload_error: str | None = None
        """Set to make files.getUploadURLExternal fail, e.g. ``"file_uploads_disabled"``."""
        self.upload_status = 200
        """HTTP status the upload URL answers (not 200: the upload failed, as Slack documents)."""
        self.upload_delay = 0.0
        """Seconds the upload URL waits before answering (a slow upload)."""
        self.refuse_files = False
        """Set to refuse every image block that shows a file (invalid_blocks), as for one not processed yet."""
        self.upload_posts: list[JsonDict] = []
        """Each POST to an upload URL: file id, bytes received, content type, status answered."""
        self._uploads: dict[str, _Upload] = {}
        self.responses: list[JsonDict] = []
        """What the app sent to response_urls (slash commands), in order."""

    # --- lifecycle ---

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/respond/{token}", self._handle_response_url)
        app.router.add_post("/upload/v1/{token}", self._handle_upload)
        app.router.add_get("/link/", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._bind_port)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close open WebSockets and shut the server down (never hangs)."""
        if self._runner is None:
            return
        await asyncio.gather(
            *(
                ws.close(code=WSCloseCode.GOING_AWAY, message=b"fake stopping")
                for ws in list(self._sockets)
            ),
            return_exceptions=True,
        )
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:PORT/``."""
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}/"

    @property
    def api_url(self) -> str:
        """Web API base URL with trailing slash, for ``AsyncWebClient(base_url=...)``."""
        return self.base_url + "api/"

    # --- inspection helpers ---

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one Web API method, in arrival order."""
        return [call for call in self.calls if call.method == method]

    def issue_trigger_id(self) -> str:
        """Issue a trigger_id that views.open/push accept once, within ``trigger_ttl`` (3 s)."""
        trigger_id = f"{int(time.time() * 1000)}.{len(self._triggers) + 1}.{uuid.uuid4().hex}"
        self._triggers[trigger_id] = time.monotonic()
        return trigger_id

    async def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = ""
    ) -> Any:
        """Poll ``predicate`` every 20 ms until truthy and return it; AssertionError on timeout."""
        return await poll(predicate, timeout=timeout,
                          report=lambda error: self._timeout_report(predicate, timeout, what, error))

    def _timeout_report(
        self, predicate: Callable[[], Any], timeout: float, what: str, error: Exception | None
    ) -> str:
        recent = ", ".join(f"{c.method}={c.status}:{c.error or 'ok'}" for c in self.calls[-10:])
        lines = [
            f"FakeSlack.wait_for timed out after {timeout}s: {what or describe(predicate)}",
            f"  last calls ({len(self.calls)} total): {recent or 'none'}",
            f"  messages per channel: { {ch: len(msgs) for ch, msgs in self.messages.items()} }",
            f"  socket connections: {self.socket_connections}, acks: {len(self.socket_acks)}",
        ]
        if error is not None:
            lines.append(f"  predicate last raised: {error!r}")
        return "\n".join(lines)

    # --- Socket Mode ---

    async def socket_send(
        self,
        envelope_type: str,
        payload: JsonDict,
        accepts_response_payload: bool = True,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> str:
        """Send an envelope to the newest connected Socket Mode client; return its envelope_id."""
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise AssertionError("FakeSlack.socket_send: no Socket Mode client is connected")
        envelope: JsonDict = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":  # only Events API envelopes carry retry info on the wire
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        self.socket_sent.append(envelope)
        await open_sockets[-1].send_json(envelope)
        return str(envelope["envelope_id"])

    @property
    def socket_connections(self) -> int:
        """Number of currently open Socket Mode connections."""
        return sum(not ws.closed for ws in self._sockets)

    async def wait_socket_connected(self, timeout: float = 10.0) -> None:
        """Wait until at least one Socket Mode client is connected."""
        await self.wait_for(
            lambda: self.socket_connections, timeout, "a Socket Mode client to connect"
        )

    async def wait_socket_ack(self, envelope_id: str, timeout: float = 5.0) -> JsonDict:
        """Wait for the client's ack of ``envelope_id`` and return it."""
        await self.wait_for(
            lambda: envelope_id in self.socket_acks, timeout, f"ack of {envelope_id}"
        )
        return self.socket_acks[envelope_id]

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=1.0)  # bounds the close handshake so stop() cannot hang
        await ws.prepare(request)
        self._sockets.append(ws)
        self.socket_connect_count += 1
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "connection_info": {"app_id": APP_ID},
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._record_ack(msg.data)
        finally:
            self._sockets.remove(ws)
        return ws

    def _record_ack(self, data: str) -> None:
        try:
            ack = json.loads(data)
        except ValueError:
            return
        if isinstance(ack, dict) and ack.get("envelope_id"):
            self.socket_acks[str(ack["envelope_id"])] = ack

    # --- Web API plumbing ---

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body_error: str | None = None
        try:
            args = await _read_args(request)
        except ValueError:
            args, body_error = {}, "invalid_json"
        token = _bearer_token(request) or args.pop("token", None)
        args.pop("token", None)
        call = Call(method=method, args=args, at=time.monotonic())
        self.calls.append(call)
        try:
            handler = self._methods.get(method)
            if handler is None:
                raise _ApiError("unknown_method")
            if body_error:
                raise _ApiError(body_error)
            self._check_auth(method, token)
            response = web.json_response({"ok": True, **handler(args)},
                                         headers={"X-OAuth-Scopes": ",".join(self.scopes)})
        except _ApiError as exc:
            call.status, call.error = exc.status, exc.error
            return web.json_response(
                {"ok": False, "error": exc.error, **exc.extra}, status=exc.status, headers=exc.headers
            )
        except Exception:
            call.status = 500  # a bug in the fake itself: make it visible in the record
            raise
        if method in _DELAYED_METHODS and self.response_delay > 0:
            # Already stored: the window where Slack posted but the client never saw the answer.
            await asyncio.sleep(self.response_delay)
        return response

    def _check_auth(self, method: str, token: str | None) -> None:
        if not token:
            raise _ApiError("not_authed")
        needs_app_token = method == "apps.connections.open"
        wanted = self.app_token if needs_app_token else self.bot_token
        other = self.bot_token if needs_app_token else self.app_token
        if token == other:
            raise _ApiError("not_allowed_token_type")
        if token != wanted:
            raise _ApiError("invalid_auth")

    def _next_ts(self) -> str:
        self._last_ts_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _take_post_token(self, channel: str) -> None:
        now = time.monotonic()
        tokens, last = self._buckets.get(channel, (float(self.post_burst), now))
        tokens = min(float(self.post_burst), tokens + (now - last) * self.post_rate_per_s)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            self.ratelimited += 1
            wait = (1.0 - tokens) / self.post_rate_per_s if self.post_rate_per_s > 0 else 60.0
            retry_after = str(max(1, math.ceil(wait)))
            raise _ApiError("ratelimited", status=429, headers={"Retry-After": retry_after})
        self._buckets[channel] = (tokens - 1.0, now)

    def _find_message(self, channel: str, ts: Any) -> JsonDict | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == str(ts)), None)

    def _consume_trigger(self, trigger_id: str) -> None:
        if trigger_id not in self._triggers:
            raise _ApiError("invalid_trigger_id")
        issued_at = self._triggers[trigger_id]
        if issued_at is None or time.monotonic() - issued_at > self.trigger_ttl:
            raise _ApiError("expired_trigger_id")
        self._triggers[trigger_id] = None

    # --- Web API methods ---

    def _auth_test(self, args: JsonDict) -> JsonDict:
        return {
            "url": "https://fake.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JsonDict) -> JsonDict:
        channel = _require_channel(args)
        if not args.get("text") and not args.get("blocks"):
            raise _ApiError("no_text")
        self._check_images(args.get("blocks"))
        self._take_post_token(channel)
        message: JsonDict = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": args.get("text") or "",
            "ts": self._next_ts(),
        }
        for key in ("blocks", "attachments", "metadata"):
            if args.get(key):
                message[key] = args[key]
        if args.get("thread_ts"):
            self._attach_reply(channel, message, str(args["thread_ts"]))
        self.messages[channel].append(message)
        return {"channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _attach_reply(self, channel: str, reply: JsonDict, thread_ts: str) -> None:
        reply["thread_ts"] = thread_ts
        parent = self._find_message(channel, thread_ts)
        reply["parent_user_id"] = parent.get("user", BOT_USER_ID) if parent else BOT_USER_ID
        if parent is None:
            return
        parent["thread_ts"] = parent["ts"]
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        parent["reply_users"] = sorted({*parent.get("reply_users", []), reply["user"]})
        parent["reply_users_count"] = len(parent["reply_users"])
        parent["latest_reply"] = reply["ts"]

    def _chat_update(self, args: JsonDict) -> JsonDict:
        channel = _require_channel(args)
        message = self._find_message(channel, args.get("ts"))
        if message is None:
            raise _ApiError("message_not_found")
        self._check_images(args.get("blocks"))
        if "text" in args:
            message["text"] = args["text"] or ""
        for key in ("blocks", "attachments", "metadata"):  # Slack: omitted keeps, empty removes
            if key in args:
                if args[key]:
                    message[key] = args[key]
                else:
                    message.pop(key, None)
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        self.updates.append({"channel": channel, **copy.deepcopy(message)})
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, args: JsonDict) -> JsonDict:
        channel = _require_channel(args)
        if not args.get("user"):
            raise _ApiError("user_not_found")
        if not args.get("text") and not args.get("blocks"):
            raise _ApiError("no_text")
        message_ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": args["user"],
                "text": args.get("text") or "",
                "blocks": args.get("blocks") or [],
                "thread_ts": args.get("thread_ts"),
                "message_ts": message_ts,
            }
        )
        return {"message_ts": message_ts}

    def _views_open(self, args: JsonDict) -> JsonDict:
        self._consume_trigger(str(args.get("trigger_id")))
        return {"view": self._store_view(_require_view(args))}

    def _views_push(self, args: JsonDict) -> JsonDict:
        self._consume_trigger(str(args.get("trigger_id")))
        return {"view": self._store_view(_require_view(args))}

    def _views_update(self, args: JsonDict) -> JsonDict:
        view = _require_view(args)
        external_id = args.get("external_id")
        by_external = (
            v for v in self.views.values() if external_id and v["external_id"] == external_id
        )
        current = self.views.get(str(args.get("view_id"))) or next(by_external, None)
        if current is None:
            raise _ApiError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise _ApiError("hash_conflict")
        return {"view": self._store_view(view, current)}

    def _store_view(self, view: JsonDict, current: JsonDict | None = None) -> JsonDict:
        view_id = current["id"] if current else _random_id("V")
        stored: JsonDict = {
            "team_id": TEAM_ID,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "clear_on_close": False,
            "notify_on_close": False,
            "external_id": "",
            "submit": None,
            "close": None,
            **view,
            "id": view_id,
            "hash": f"{int(time.time())}.{_random_id('', 8)}",
            "previous_view_id": None,
            "root_view_id": current["root_view_id"] if current else view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        self.views[view_id] = stored
        return copy.deepcopy(stored)

    def _conversations_history(self, args: JsonDict) -> JsonDict:
        channel = _require_channel(args)
        messages = self.messages.get(channel, [])
        top_level = [m for m in messages if m.get("thread_ts", m["ts"]) == m["ts"]]
        return _paged(sorted(_in_window(top_level, args), key=_ts_key, reverse=True), args)

    def _conversations_replies(self, args: JsonDict) -> JsonDict:
        channel = _require_channel(args)
        parent = self._find_message(channel, args.get("ts"))
        if parent is None:
            raise _ApiError("thread_not_found")
        replies = [m for m in self.messages[channel] if m.get("thread_ts") == parent["ts"]]
        replies = [m for m in replies if m is not parent]
        return _paged([parent, *sorted(_in_window(replies, args), key=_ts_key)], args)

    def _users_info(self, args: JsonDict) -> JsonDict:
        user_id = str(args.get("user") or "")
        if not user_id:
            raise _ApiError("user_not_found")
        return {"user": copy.deepcopy(self.users.get(user_id) or _plausible_user(user_id))}

    def _conversations_open(self, args: JsonDict) -> JsonDict:
        users = str(args.get("users") or "")
        if not users or "," in users:
            raise _ApiError("not_enough_users" if not users else "invalid_arguments")
        if not users.startswith(("U", "W")):
            raise _ApiError("user_not_found")
        return {"channel": {"id": "D" + users[1:]}, "already_open": True}

    def _usergroups_users_list(self, args: JsonDict) -> JsonDict:
        group = str(args.get("usergroup") or "")
        if group not in self.usergroups:
            raise _ApiError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    # --- files: getUploadURLExternal -> POST the bytes -> completeUploadExternal ---

    def _files_get_upload_url_external(self, args: JsonDict) -> JsonDict:
        if self.upload_error:
            raise _ApiError(self.upload_error)
        filename = str(args.get("filename") or "")
        length = str(args.get("length") or "")
        if not filename or not length.isdigit():
            raise _ApiError("invalid_arguments")
        if int(length) == 0:
            raise _ApiError("missing_argument")  # Slack: "typically only when the length is 0"
        alt_txt = str(args.get("alt_txt") or "")
        if len(alt_txt) > 1000:
            raise _ApiError("alt_txt_too_large")
        upload = _Upload(file_id=_random_id("F"), filename=filename, length=int(length), alt_txt=alt_txt)
        token = uuid.uuid4().hex
        self._uploads[token] = upload
        return {"upload_url": f"{self.base_url}upload/v1/{token}", "file_id": upload.file_id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL: raw bytes or a multipart form; HTTP 200 when stored, as Slack documents."""
        upload = self._uploads.get(request.match_info["token"])
        data = b""
        if request.content_type.startswith("multipart/"):
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader):
                    data = await part.read()
                    break
        else:
            data = await request.read()
        if self.upload_delay > 0:
            await asyncio.sleep(self.upload_delay)
        status = 404 if upload is None else self.upload_status
        self.upload_posts.append({"file_id": upload.file_id if upload else None, "size": len(data),
                                  "content_type": request.content_type, "status": status})
        if upload is None or status != 200:
            return web.Response(status=status, text="upload failed")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}")

    def _files_complete_upload_external(self, args: JsonDict) -> JsonDict:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise _ApiError("invalid_arguments")
        pending = {u.file_id: (token, u) for token, u in self._uploads.items() if u.data is not None}
        if any(str(e.get("id")) not in pending for e in entries):
            raise _ApiError("file_not_found")  # never issued, never uploaded, or already completed
        channels = [c for c in [args.get("channel_id"), *str(args.get("channels") or "").split(",")] if c]
        files = []
        for entry in entries:
            token, upload = pending[str(entry["id"])]
            del self._uploads[token]
            data = upload.data or b""
            file = self._file_object(upload, data, str(entry.get("title") or upload.filename))
            self.files[file["id"]], self.file_data[file["id"]] = file, data
            files.append(file)
        for channel in dict.fromkeys(channels):
            self._share(channel, files, args)
        return {"files": copy.deepcopy(files)}

    def _files_delete(self, args: JsonDict) -> JsonDict:
        """files.delete: `file` (an id); file_not_found for one this workspace does not hold."""
        file_id = str(args.get("file") or "")
        if not file_id:
            raise _ApiError("invalid_arguments")
        if file_id not in self.files:
            raise _ApiError("file_not_found")
        del self.files[file_id], self.file_data[file_id]
        return {}

    def _file_object(self, upload: _Upload, data: bytes, title: str) -> JsonDict:
        filetype, mimetype = next(((ft, mt) for magic, ft, mt in _IMAGE_TYPES if data.startswith(magic)),
                                  ("binary", "application/octet-stream"))
        now = int(time.time())
        path = f"{TEAM_ID}-{upload.file_id}/{urllib.parse.quote(upload.filename)}"
        return {
            "id": upload.file_id, "created": now, "timestamp": now, "name": upload.filename,
            "title": title, "mimetype": mimetype, "filetype": filetype, "pretty_type": filetype.upper(),
            "user": BOT_USER_ID, "user_team": TEAM_ID, "editable": False, "size": len(data),
            "mode": "hosted", "is_external": False, "external_type": "", "is_public": False,
            "public_url_shared": False, "display_as_bot": False, "username": "",
            "url_private": f"https://files.slack.com/files-pri/{path}",
            "url_private_download": f"https://files.slack.com/files-pri/{path.replace('/', '/download/', 1)}",
            "permalink": f"https://fake.slack.com/files/{BOT_USER_ID}/{upload.file_id}/{upload.filename}",
            "alt_txt": upload.alt_txt, "file_access": "visible", "has_rich_preview": False,
            "channels": [], "groups": [], "ims": [], "shares": {}, "comments_count": 0,
        }

    def _share(self, channel: str, files: list[JsonDict], args: JsonDict) -> None:
        """completeUploadExternal with a channel: a message with the files, in the thread if asked."""
        message: JsonDict = {
            "type": "message", "subtype": "file_share", "user": BOT_USER_ID, "bot_id": BOT_ID,
            "text": str(args.get("initial_comment") or ""), "ts": self._next_ts(), "upload": True,
            "files": [copy.deepcopy(f) for f in files],
        }
        if args.get("thread_ts"):
            self._attach_reply(channel, message, str(args["thread_ts"]))
        self.messages[channel].append(message)
        kind = "public" if channel.startswith("C") else "private"
        for file in files:
            file["channels" if kind == "public" else "groups"].append(channel)
            file["shares"].setdefault(kind, {})[channel] = [{"ts": message["ts"]}]

    def _check_images(self, blocks: Any) -> None:
        """Refuse image blocks and elements whose slack_file is not an image file the app can see."""
        if not isinstance(blocks, list):
            return
        for i, block in enumerate(blocks):
            if not isinstance(block, dict):
                continue
            images = [(f"/blocks/{i}", block)] if block.get("type") == "image" else []
            if isinstance(block.get("accessory"), dict) and block["accessory"].get("type") == "image":
                images.append((f"/blocks/{i}/accessory", block["accessory"]))
            if block.get("type") == "context":
                images += [(f"/blocks/{i}/elements/{j}", el) for j, el in enumerate(block.get("elements") or [])
                           if isinstance(el, dict) and el.get("type") == "image"]
            for pointer, image in images:
                self._check_image(pointer, image)

    def _check_image(self, pointer: str, image: JsonDict) -> None:
        if not image.get("alt_text"):
            raise _invalid_blocks(f"missing required field: alt_text [json-pointer:{pointer}]")
        source = image.get("slack_file")
        if ("image_url" in image) == (source is not None):
            raise _invalid_blocks(f"must provide exactly one of image_url, slack_file [json-pointer:{pointer}]")
        if source is None:
            return
        if not isinstance(source, dict) or ("id" in source) == ("url" in source):
            raise _invalid_blocks(f"invalid slack file [json-pointer:{pointer}/slack_file]")
        if "id" in source:
            if not re.fullmatch(r"F[A-Z0-9]{8,}", str(source["id"])):
                raise _invalid_blocks("input must match regex pattern: ^[F][A-Z0-9]{8,}$ "
                                      f"[json-pointer:{pointer}/slack_file/id]")
            file = self.files.get(str(source["id"]))
        else:
            file = next((f for f in self.files.values()
                         if source["url"] in (f["url_private"], f["permalink"])), None)
        if file is None or not file["mimetype"].startswith("image/") or self.refuse_files:
            raise _invalid_blocks(f"invalid slack file [json-pointer:{pointer}/slack_file]")

    def dm_messages(self, user_id: str) -> list[JsonDict]:
        """Messages the app posted in its direct conversation with `user_id`."""
        return self.messages.get("D" + user_id[1:], [])

    def response_url(self) -> str:
        """A response_url for a slash command payload, answered by this fake."""
        return f"{self.base_url}respond/{uuid.uuid4().hex}"

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        self.responses.append(await request.json())
        return web.Response(text="ok")

    def _apps_connections_open(self, args: JsonDict) -> JsonDict:
        return {"url": f"ws://127.0.0.1:{self._port}/link/?ticket={uuid.uuid4()}&app_id={APP_ID}"}


# --- request parsing and response shaping (module-private) ---


async def _read_args(request: web.Request) -> JsonDict:
    args: JsonDict = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.read()
        body = json.loads(raw) if raw.strip() else {}
        if isinstance(body, dict):
            args.update(body)
    elif request.body_exists:
        args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for key in _JSON_STRING_FIELDS:  # form bodies carry structured fields as JSON strings
        if isinstance(args.get(key), str) and args[key].strip()[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() or None


def _require_channel(args: JsonDict) -> str:
    if not args.get("channel"):
        raise _ApiError("channel_not_found")
    return str(args["channel"])


def _require_view(args: JsonDict) -> JsonDict:
    view = args.get("view")
    if not isinstance(view, dict):
        raise _ApiError("invalid_arguments")
    return view


def _in_window(messages: list[JsonDict], args: JsonDict) -> list[JsonDict]:
    oldest = _ts_arg(args, "oldest", "0")
    latest = _ts_arg(args, "latest", "9999999999.999999")
    if _truthy(args.get("inclusive")):
        return [m for m in messages if oldest <= Decimal(m["ts"]) <= latest]
    return [m for m in messages if oldest < Decimal(m["ts"]) < latest]


def _paged(messages: list[JsonDict], args: JsonDict) -> JsonDict:
    cursor = str(args.get("cursor") or "")
    try:
        start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
    except ValueError:
        raise _ApiError("invalid_cursor") from None
    limit = int(args["limit"]) if str(args.get("limit") or "").isdigit() else 0
    limit = limit if limit > 0 else 100
    page = messages[start : start + limit]
    more = start + limit < len(messages)
    next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
    with_metadata = _truthy(args.get("include_all_metadata"))
    return {
        "messages": [_as_listed(m, with_metadata) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": next_cursor},
    }


def _as_listed(message: JsonDict, with_metadata: bool) -> JsonDict:
    listed = copy.deepcopy(message)
    if not with_metadata:
        listed.pop("metadata", None)
    return listed


def _plausible_user(user_id: str) -> JsonDict:
    is_bot = user_id == BOT_USER_ID
    name = BOT_USER_NAME if is_bot else f"user.{user_id.lower()}"
    real_name = "Webcare" if is_bot else f"Test User {user_id}"
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": name,
        "deleted": False,
        "real_name": real_name,
        "tz": "Europe/Amsterdam",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "is_admin": False,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": 1700000000,
        "profile": {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": name,
            "display_name_normalized": name,
            "team": TEAM_ID,
        },
    }


# --- helpers for requests Slack sends INTO the app ---


def sign_slack_request(
    signing_secret: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Return Slack's signature headers for ``body`` (v0: HMAC-SHA256 of ``v0:{ts}:{body}``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(
        signing_secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256
    ).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def form_encode_payload(payload: JsonDict) -> bytes:
    """Encode an interactivity payload as Slack posts it: ``payload=<urlencoded JSON>``."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


def _user_ref(user_id: str, team_id: str) -> JsonDict:
    name = f"user.{user_id.lower()}"
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _bot_message_stub(ts: str) -> JsonDict:
    return {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "", "ts": ts}


def _action_ts() -> str:
    return f"{time.time():.6f}"


def block_action_body(
    *,
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    trigger_id: str,
    team_id: str = TEAM_ID,
    block_id: str = "actions",
    message: JsonDict | None = None,
) -> JsonDict:
    """Build a ``block_actions`` payload for a button click on a channel message."""
    return {
        "type": "block_actions",
        "user": _user_ref(user_id, team_id),
        "api_app_id": APP_ID,
        "token": "fake-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": f"channel-{channel_id.lower()}"},
        "message": message or _bot_message_stub(message_ts),
        "state": {"values": {}},
        "response_url": f"https://hooks.slack.com/actions/{team_id}/1/fake",
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "Button", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _action_ts(),
            }
        ],
    }


def view_submission_body(
    *,
    callback_id: str,
    private_metadata: str,
    values: dict[str, dict[str, Any]],
    user_id: str,
    view_id: str = "V0FAKE",
    team_id: str = TEAM_ID,
) -> JsonDict:
    """Build a ``view_submission`` payload; a bare string leaf means a plain_text_input value."""
    state = {
        block_id: {
            action_id: v if isinstance(v, dict) else {"type": "plain_text_input", "value": v}
            for action_id, v in actions.items()
        }
        for block_id, actions in values.items()
    }
    blocks = [
        {
            "type": "input",
            "block_id": block_id,
            "label": {"type": "plain_text", "text": block_id},
            "optional": False,
            "element": {"type": element["type"], "action_id": action_id},
        }
        for block_id, actions in state.items()
        for action_id, element in actions.items()
    ]
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake"},
        "user": _user_ref(user_id, team_id),
        "api_app_id": APP_ID,
        "token": "fake-verification-token",
        "trigger_id": f"{int(time.time() * 1000)}.0.{uuid.uuid4().hex}",
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks,
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state},
            "hash": f"{int(time.time())}.fakehash",
            "title": {"type": "plain_text", "text": "Webcare"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel"},
            "submit": {"type": "plain_text", "text": "Submit"},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_callback_body(
    event: JsonDict, *, event_id: str, team_id: str = TEAM_ID, api_app_id: str = APP_ID
) -> JsonDict:
    """Wrap ``event`` in an Events API ``event_callback`` envelope."""
    event_time = int(float(event.get("event_ts") or event.get("ts") or time.time()))
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event.get('type', 'event')}-{team_id}-{event.get('channel', '')}",
    }


def slash_command_body(*, command: str, text: str, user_id: str, channel_id: str, response_url: str,
                       trigger_id: str, team_id: str = TEAM_ID) -> bytes:
    """A slash command as Slack posts it: form-encoded fields (not a JSON payload)."""
    return urllib.parse.urlencode({
        "token": "fake-verification-token", "team_id": team_id, "team_domain": "fake",
        "channel_id": channel_id, "channel_name": f"channel-{channel_id.lower()}", "user_id": user_id,
        "user_name": f"user.{user_id.lower()}", "command": command, "text": text,
        "api_app_id": APP_ID, "is_enterprise_install": "false", "response_url": response_url,
        "trigger_id": trigger_id,
    }).encode()
