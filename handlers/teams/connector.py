"""A small aiohttp client of the Bot Connector REST API (v3): new channel threads, replies, updates, 1:1 chats.

Outbound calls carry a bearer token from Microsoft Entra ID (OAuth2 client credentials for the bot's app
id and password), cached until five minutes before it expires. Every failure is raised as one of the
`bot.ports` delivery errors, so the outbox dispatcher knows whether to wait, retry, reconcile or give up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.ports import DeliveryError, PermanentError, RateLimited, TransientError, UnknownOutcome

JsonDict = dict[str, Any]

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
MULTI_TENANT = "botframework.com"
TOKEN_MARGIN_S = 5 * 60
DEFAULT_RETRY_AFTER_S = 1.0
MESSAGE_ID = ";messageid="


def encode_segment(value: str) -> str:
    """Percent-encode one path segment as the Bot Framework SDKs do (':', ';', '@', '=' and '/' too)."""
    return quote(value, safe="")


def api_url(service_url: str, conversation_id: str | None = None, activity_id: str | None = None) -> URL:
    """The Connector URL of conversations, a conversation's activities, or one activity."""
    path = "v3/conversations"
    if conversation_id is not None:
        path += f"/{encode_segment(conversation_id)}/activities"
    if activity_id is not None:
        path += f"/{encode_segment(activity_id)}"
    base = service_url if service_url.endswith("/") else service_url + "/"
    return URL(base + path, encoded=True)


def thread_conversation_id(channel_id: str, root_id: str) -> str:
    """The conversation id of the thread under the channel message `root_id`."""
    return f"{channel_id}{MESSAGE_ID}{root_id}"


def new_message_id(answer: JsonDict) -> str | None:
    """The id of the message a create-conversation call started: the `messageid=` part, else activityId."""
    conversation_id = str(answer.get("id") or "")
    if MESSAGE_ID in conversation_id:
        message_id = conversation_id.split(MESSAGE_ID, 1)[1]
        if message_id:
            return message_id
    activity_id = answer.get("activityId")
    return str(activity_id) if activity_id else None


def service_error(body: Any) -> str:
    """The service's own words from an error body (`{"error": {"code", "message"}}` or `{"message"}`)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            return ": ".join(str(part) for part in (code, message) if part) or "no details"
        if isinstance(body.get("message"), str):
            return str(body["message"])
        if isinstance(error, str):
            return ": ".join(str(p) for p in (error, body.get("error_description")) if p)
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return "no details"


def retry_after(headers: Any) -> float:
    """Seconds from a Retry-After header (1 when it is missing or not a number)."""
    try:
        value = float(headers.get("Retry-After", DEFAULT_RETRY_AFTER_S))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return value if value >= 0 else DEFAULT_RETRY_AFTER_S


def connector_error(status: int, body: Any, headers: Any, *, what: str, idempotent: bool) -> DeliveryError:
    """Map a Connector error answer to the delivery error the outbox acts on.

    A 5xx other than 502/503 may come after the service acted: unknown outcome, unless the call is an
    idempotent PUT, which is simply tried again.
    """
    detail = service_error(body)
    if status == 429:
        return RateLimited(retry_after(headers), f"teams {what}: rate limited")
    if status in (502, 503):
        return TransientError(f"teams {what}: service unavailable ({status}): {detail}")
    if status >= 500 and idempotent:
        return TransientError(f"teams {what}: server error {status}: {detail}")
    if status >= 500:
        return UnknownOutcome(f"teams {what}: server error {status}: {detail}")
    if status in (401, 403):
        return PermanentError(
            f"teams {what}: access refused ({status}: {detail}); check MICROSOFT_APP_ID and "
            "MICROSOFT_APP_PASSWORD, and that the bot is installed in that team or channel")
    if status == 404:
        return PermanentError(f"teams {what}: conversation or message not found ({detail})")
    return PermanentError(f"teams {what}: refused ({status}): {detail}")


def token_error(status: int, body: Any) -> DeliveryError:
    """Map a token endpoint error: bad credentials are permanent, anything else may pass."""
    detail = service_error(body)
    if status in (400, 401):
        return PermanentError(
            f"teams: Microsoft login refused the bot's credentials ({status}: {detail}); "
            "check MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD (and MICROSOFT_APP_TENANT_ID)")
    return TransientError(f"teams: token endpoint failed ({status}): {detail}")


class BotConnector:
    """Calls the Bot Connector API of a Teams service URL as the bot (app id + password)."""

    def __init__(self, *, app_id: str, app_password: str, tenant_id: str | None, login_url: str,
                 timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._app_id = app_id
        self._app_password = app_password
        self._token_url = f"{login_url.rstrip('/')}/{tenant_id or MULTI_TENANT}/oauth2/v2.0/token"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def create_thread(self, service_url: str, *, channel_id: str, tenant_id: str | None,
                            activity: JsonDict) -> str:
        """Post `activity` as a new top-level message in a Teams channel; return the new message's id."""
        channel_data: JsonDict = {"channel": {"id": channel_id}}
        body: JsonDict = {"isGroup": True, "channelData": channel_data, "activity": activity}
        if tenant_id:
            channel_data["tenant"] = {"id": tenant_id}
            body["tenantId"] = tenant_id
        answer = await self._call("POST", api_url(service_url), body,
                                  what="create thread")
        message_id = new_message_id(answer)
        if message_id is None:
            raise UnknownOutcome(f"teams create thread: no message id in the answer {answer!r}")
        return message_id

    async def send(self, service_url: str, conversation_id: str, activity: JsonDict) -> str:
        """Post `activity` to a conversation (a thread: `thread_conversation_id`); return its id, or ""."""
        url = api_url(service_url, conversation_id)
        answer = await self._call("POST", url, activity, what="send")
        return str(answer.get("id") or "")

    async def update(self, service_url: str, conversation_id: str, activity_id: str,
                     activity: JsonDict) -> None:
        """Replace the posted activity `activity_id` in a conversation."""
        url = api_url(service_url, conversation_id, activity_id)
        await self._call("PUT", url, {**activity, "id": activity_id}, what="update")

    async def create_personal(self, service_url: str, *, user_id: str, tenant_id: str | None) -> str:
        """Open (or find) the bot's 1:1 chat with `user_id`; return its conversation id."""
        body: JsonDict = {"bot": {"id": f"28:{self._app_id}"}, "members": [{"id": user_id}], "isGroup": False}
        if tenant_id:
            body["tenantId"] = tenant_id
            body["channelData"] = {"tenant": {"id": tenant_id}}
        answer = await self._call("POST", api_url(service_url), body,
                                  what="create personal chat")
        conversation_id = answer.get("id")
        if not conversation_id:
            raise PermanentError(f"teams create personal chat: no conversation id in {answer!r}")
        return str(conversation_id)

    # --- HTTP ---

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(self, method: str, url: URL, body: JsonDict, *, what: str) -> JsonDict:
        """Send one Connector request; a rejected cached token is replaced once before giving up."""
        token, fresh = await self._bearer()
        status, answer, headers = await self._request(method, url, body, token, what=what)
        if status == 401 and not fresh:
            self._forget(token)
            token, _ = await self._bearer()
            status, answer, headers = await self._request(method, url, body, token, what=what)
        if status >= 400:
            if status == 401:
                self._forget(token)
            raise connector_error(status, answer, headers, what=what, idempotent=method == "PUT")
        return answer if isinstance(answer, dict) else {}

    async def _request(self, method: str, url: URL, body: JsonDict, token: str, *,
                       what: str) -> tuple[int, Any, Any]:
        idempotent = method == "PUT"
        try:
            async with self._http().request(method, url, json=body,
                                            headers={"Authorization": f"Bearer {token}"}) as response:
                return response.status, await _read(response), response.headers
        except aiohttp.ClientConnectorError as exc:  # nothing was sent
            raise TransientError(f"teams {what}: cannot connect: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:  # sent, answer lost
            if idempotent:
                raise TransientError(f"teams {what}: no answer: {exc!r}") from exc
            raise UnknownOutcome(f"teams {what}: no answer, it may have been delivered: {exc!r}") from exc

    # --- token ---

    async def token(self) -> str:
        """An access token for the Bot Connector (`webcare check` asks for one to test the credentials)."""
        return (await self._bearer())[0]

    async def _bearer(self) -> tuple[str, bool]:
        """A valid access token, and whether it was fetched just now."""
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_until:
                return self._token, False
            token, expires_in = await self._fetch_token()
            self._token = token
            self._token_until = self._clock() + max(expires_in - TOKEN_MARGIN_S, 0.0)
            return token, True

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None

    async def _fetch_token(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self._app_id,
                "client_secret": self._app_password, "scope": BOT_FRAMEWORK_SCOPE}
        try:
            async with self._http().post(self._token_url, data=form) as response:
                status, answer = response.status, await _read(response)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientError(f"teams: token endpoint unreachable: {exc!r}") from exc
        if status >= 400:
            raise token_error(status, answer)
        if not isinstance(answer, dict) or not answer.get("access_token"):
            raise TransientError(f"teams: token endpoint answered without a token ({status})")
        try:
            expires_in = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        return str(answer["access_token"]), expires_in


async def _read(response: aiohttp.ClientResponse) -> Any:
    """The answer's JSON, or its text when it is not JSON (or empty)."""
    text = await response.text()
    if not text:
        return {}
    try:
        return await response.json(content_type=None)
    except ValueError:
        return text
