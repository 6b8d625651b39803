"""In-process fake of Meta's Graph API (comments, likes, hides, WhatsApp messages) on loopback,
plus builders that make and sign webhook deliveries the way Meta sends them.

``FakeGraph`` serves ``http://127.0.0.1:PORT/v21.0/...`` (give ``fake.base_url`` as META_GRAPH_URL).
It records every call, checks the token (Bearer header or ``access_token``), answers in Graph's wire
format, keeps what was created (replies, likes, hidden flags, WhatsApp messages), enforces the
WhatsApp 24-hour customer-service window from the deliveries built with it, and can be told to
fail the next calls with any status and Graph error body.

Payload shapes follow Meta's webhook reference (Page `feed`, Instagram `comments`, WhatsApp
`messages`) and, for WhatsApp, the sample bodies in /work/shared/fixtures/meta (CP4M, MIT).
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.signing import sign
from tests.fakes.loopback import LoopbackServer
from tests.fakes.polling import describe, poll

JsonDict = dict[str, Any]
VERSION = "v21.0"
WINDOW = timedelta(hours=24)


@dataclass
class GraphCall:
    """One request as the fake received it."""

    method: str
    path: str
    """Relative to the version, e.g. ``123_456/comments``."""
    params: dict[str, str]
    body: JsonDict
    token: str | None
    status: int = 200
    answer: JsonDict = field(default_factory=dict)


@dataclass
class Failure:
    """An error to answer instead of the next matching call."""

    status: int
    code: int
    message: str
    subcode: int | None = None
    type: str = "OAuthException"
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str | None = None


def graph_error_body(code: int, message: str, *, subcode: int | None = None,
                     type: str = "OAuthException") -> JsonDict:
    """Graph's error body: ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``."""
    error: JsonDict = {"message": message, "type": type, "code": code,
                       "fbtrace_id": "A" + secrets.token_hex(10)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


class FakeGraph(LoopbackServer):
    """A recording fake of the Graph API endpoints webcare-bot uses."""

    def __init__(self, *, page_token: str, whatsapp_token: str, page_id: str, instagram_id: str,
                 phone_id: str, page_name: str = "Testbedrijf", version: str = VERSION) -> None:
        self.page_token = page_token
        self.whatsapp_token = whatsapp_token
        self.page_id = page_id
        self.instagram_id = instagram_id
        self.phone_id = phone_id
        self.page_name = page_name
        self.version = version
        self.calls: list[GraphCall] = []
        self.replies: dict[str, list[JsonDict]] = {}
        """Comment replies by the comment they answer (Facebook and Instagram)."""
        self.likes: set[str] = set()
        self.hidden: dict[str, bool] = {}
        self.whatsapp: list[JsonDict] = []
        """WhatsApp messages sent, as the request bodies."""
        self.deleted: set[str] = set()
        """Object ids that no longer exist (Graph answers code 100, subcode 33)."""
        self.last_inbound: dict[str, datetime] = {}
        """When each WhatsApp customer last wrote to us (the 24-hour window)."""
        self.enforce_window = True
        self.whatsapp_answer: JsonDict | None = None
        """Answer WhatsApp sends with this body instead of the generated one."""
        self.failures: list[Failure] = []
        self._ids = itertools.count(1000)
        super().__init__()

    # --- lifecycle ---

    def routes(self, app: web.Application) -> None:
        """Every Graph path under the version prefix."""
        app.router.add_route("*", f"/{self.version}/{{path:.+}}", self._handle)

    @property
    def base_url(self) -> str:
        """The Graph base URL with version, e.g. ``http://127.0.0.1:PORT/v21.0`` (META_GRAPH_URL)."""
        return f"http://127.0.0.1:{self.port}/{self.version}"

    # --- test controls ---

    def fail(self, status: int, code: int, message: str, *, subcode: int | None = None,
             times: int = 1, headers: dict[str, str] | None = None, path_contains: str | None = None,
             type: str = "OAuthException") -> None:
        """Answer the next `times` calls (whose path contains `path_contains`) with this error."""
        for _ in range(times):
            self.failures.append(Failure(status=status, code=code, message=message, subcode=subcode,
                                         type=type, headers=headers or {}, path_contains=path_contains))

    def calls_to(self, method: str, path: str) -> list[GraphCall]:
        """Recorded calls with this method and path (relative to the version)."""
        return [c for c in self.calls if c.method == method and c.path == path]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll `predicate` until truthy and return it; AssertionError on timeout."""
        return await poll(predicate, timeout=timeout, report=lambda error: (
            f"FakeGraph: condition not met ({describe(predicate)}); last error {error!r}; recent calls "
            f"{[(c.method, c.path, c.status) for c in self.calls[-10:]]}"))

    # --- server ---

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"].strip("/")
        body = await _body(request)
        params = dict(request.query)
        token = _token(request, params, body)
        call = GraphCall(method=request.method, path=path, params=params, body=body, token=token)
        self.calls.append(call)
        status, answer, headers = self._answer(call)
        call.status, call.answer = status, answer
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, call: GraphCall) -> tuple[int, JsonDict, dict[str, str]]:
        for failure in self.failures:
            if failure.path_contains is None or failure.path_contains in call.path:
                self.failures.remove(failure)
                return failure.status, graph_error_body(
                    failure.code, failure.message, subcode=failure.subcode, type=failure.type
                ), failure.headers
        parts = call.path.split("/")
        whatsapp = parts[0] == self.phone_id
        expected = self.whatsapp_token if whatsapp else self.page_token
        if call.token is None:
            return _error(400, 104, "An access token is required to request this resource.")
        if call.token != expected:
            return _error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if parts[0] in self.deleted:
            return _error(400, 100, f"Unsupported {call.method.lower()} request. Object with ID "
                                    f"'{parts[0]}' does not exist", subcode=33, type="GraphMethodException")
        if call.method == "GET" and len(parts) == 1:
            return self._get(parts[0])
        if call.method != "POST":
            return _error(400, 100, "Unsupported request method")
        if len(parts) == 2 and parts[1] == "messages" and whatsapp:
            return self._send_whatsapp(call.body)
        if len(parts) == 2 and parts[1] in ("comments", "replies"):
            message = str(call.body.get("message") or "")
            if not message:
                return _error(400, 100, "(#100) The parameter message is required")
            new_id = f"{parts[0].split('_')[0]}_{next(self._ids)}"
            self.replies.setdefault(parts[0], []).append({"id": new_id, "message": message})
            return 200, {"id": new_id}, {}
        if len(parts) == 2 and parts[1] == "likes":
            self.likes.add(parts[0])
            return 200, {"success": True}, {}
        if len(parts) == 1 and ("is_hidden" in call.body or "hide" in call.body):
            value = call.body.get("is_hidden", call.body.get("hide"))
            self.hidden[parts[0]] = value in (True, "true", "1", 1)
            return 200, {"success": True}, {}
        return _error(400, 100, f"Unsupported post request: {call.path}")

    def _get(self, object_id: str) -> tuple[int, JsonDict, dict[str, str]]:
        if object_id == self.page_id:
            return 200, {"id": self.page_id, "name": self.page_name}, {}
        if object_id == self.instagram_id:
            return 200, {"id": self.instagram_id, "username": "testbedrijf"}, {}
        if object_id == self.phone_id:
            return 200, {"id": self.phone_id, "display_phone_number": "+31 20 123 4567",
                         "verified_name": self.page_name}, {}
        return _error(400, 100, f"Unsupported get request. Object with ID '{object_id}' does not exist",
                      subcode=33, type="GraphMethodException")

    def _send_whatsapp(self, body: JsonDict) -> tuple[int, JsonDict, dict[str, str]]:
        to = str(body.get("to") or "")
        if body.get("messaging_product") != "whatsapp" or not to:
            return _error(400, 100, "(#100) Invalid parameter", type="OAuthException")
        if body.get("type") != "text" or not (body.get("text") or {}).get("body"):
            return _error(400, 100, "(#100) Param text['body'] is required")
        last = self.last_inbound.get(to)
        if self.enforce_window and (last is None or datetime.now(UTC) - last > WINDOW):
            return _error(400, 131047, "Re-engagement message")
        self.whatsapp.append(body)
        if self.whatsapp_answer is not None:
            return 200, self.whatsapp_answer, {}
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                     "messages": [{"id": f"wamid.{secrets.token_hex(12)}"}]}, {}

    # --- deliveries ---

    def whatsapp_delivery(self, *messages: JsonDict, names: dict[str, str] | None = None,
                          statuses: list[JsonDict] | None = None) -> JsonDict:
        """A WhatsApp delivery for our number; remembers when each customer wrote (the window)."""
        for m in messages:
            at = datetime.fromtimestamp(int(m["timestamp"]), UTC)
            sender = str(m["from"])
            self.last_inbound[sender] = max(at, self.last_inbound.get(sender, at))
        return whatsapp_delivery(self.phone_id, *messages, names=names, statuses=statuses)


# --- builders of Meta webhook deliveries ------------------------------------------------------------

def unix(at: datetime | None = None) -> int:
    """Unix seconds of `at` (default now)."""
    return int((at or datetime.now(UTC)).timestamp())


def delivery(obj: str, entries: list[JsonDict]) -> JsonDict:
    """``{"object": obj, "entry": entries}``."""
    return {"object": obj, "entry": entries}


def entry(account_id: str, changes: list[JsonDict], *, at: datetime | None = None) -> JsonDict:
    """One entry of an account with its changes."""
    return {"id": account_id, "time": unix(at), "changes": changes}


def facebook_comment(*, comment_id: str, post_id: str, message: str = "", verb: str = "add",
                     author: tuple[str, str] | None = ("100001", "Jan Jansen"),
                     parent_id: str | None = None, at: datetime | None = None) -> JsonDict:
    """A Page `feed` change for a comment (verb add, edited, remove)."""
    value: JsonDict = {
        "item": "comment", "verb": verb, "comment_id": comment_id, "post_id": post_id,
        "parent_id": parent_id or post_id, "created_time": unix(at),
        "post": {"id": post_id, "status_type": "added_photos", "is_published": True,
                 "updated_time": (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                 "promotion_status": "inactive"},
    }
    if author is not None:
        value["from"] = {"id": author[0], "name": author[1]}
    if verb != "remove":
        value["message"] = message
    return {"field": "feed", "value": value}


def page_delivery(page_id: str, changes: list[JsonDict], *, at: datetime | None = None) -> JsonDict:
    """A Page delivery (object "page") with one entry."""
    return delivery("page", [entry(page_id, changes, at=at)])


def instagram_comment(*, comment_id: str, media_id: str, text: str,
                      author: tuple[str, str] = ("17841400000000001", "klant_ig"),
                      parent_id: str | None = None) -> JsonDict:
    """An Instagram `comments` change."""
    value: JsonDict = {"id": comment_id, "text": text,
                       "from": {"id": author[0], "username": author[1]},
                       "media": {"id": media_id, "media_product_type": "FEED"}}
    if parent_id:
        value["parent_id"] = parent_id
    return {"field": "comments", "value": value}


def instagram_delivery(ig_id: str, changes: list[JsonDict], *, at: datetime | None = None) -> JsonDict:
    """An Instagram delivery (object "instagram") with one entry."""
    return delivery("instagram", [entry(ig_id, changes, at=at)])


def whatsapp_message(*, wa_id: str, message_id: str, text: str | None = "Hallo",
                     at: datetime | None = None, kind: str = "text", **extra: Any) -> JsonDict:
    """One inbound WhatsApp message (type text, or another type with its `extra` object)."""
    message: JsonDict = {"from": wa_id, "id": message_id, "timestamp": str(unix(at)), "type": kind}
    if kind == "text":
        message["text"] = {"body": text}
    message.update(extra)
    return message


def whatsapp_delivery(phone_id: str, *messages: JsonDict, names: dict[str, str] | None = None,
                      statuses: list[JsonDict] | None = None, waba_id: str = "102290129340398") -> JsonDict:
    """A WhatsApp Business Account delivery with messages, their contacts, and statuses."""
    value: JsonDict = {"messaging_product": "whatsapp",
                       "metadata": {"display_phone_number": "31201234567", "phone_number_id": phone_id}}
    senders = list(dict.fromkeys(str(m["from"]) for m in messages))
    if senders:
        value["contacts"] = [{"profile": {"name": (names or {}).get(s, f"Klant {s[-4:]}")}, "wa_id": s}
                             for s in senders]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return delivery("whatsapp_business_account",
                    [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}])


def signed(secret: str, payload: JsonDict | bytes) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers Meta would send: JSON and ``X-Hub-Signature-256``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)}


async def _body(request: web.Request) -> JsonDict:
    if not request.can_read_body:
        return {}
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _token(request: web.Request, params: dict[str, str], body: JsonDict) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith(("Bearer ", "OAuth ")):
        return auth.split(" ", 1)[1]
    value = params.get("access_token") or body.get("access_token")
    return str(value) if value else None


def _error(status: int, code: int, message: str, *, subcode: int | None = None,
           type: str = "OAuthException") -> tuple[int, JsonDict, dict[str, str]]:
    return status, graph_error_body(code, message, subcode=subcode, type=type), {}
