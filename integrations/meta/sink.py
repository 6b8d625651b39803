"""Replies, likes and hides through the Graph API, one sink per network (Facebook, Instagram, WhatsApp).

Calls (relative to `META_GRAPH_URL`, e.g. https://graph.facebook.com/v21.0):

| network   | reply                                  | like             | hide                           |
|-----------|----------------------------------------|------------------|--------------------------------|
| facebook  | POST /{comment_id}/comments {message}  | POST /{id}/likes | POST /{comment_id} {is_hidden} |
| instagram | POST /{comment_id}/replies {message}   | (not in the API) | POST /{comment_id} {hide}      |
| whatsapp  | POST /{phone_number_id}/messages {...} | -                | -                              |

The page token (`META_PAGE_TOKEN`) serves Facebook and Instagram, `META_WHATSAPP_TOKEN` WhatsApp; both
go in an `Authorization: Bearer` header. Graph errors map onto the outbox's DeliveryError classes.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Literal

import aiohttp

from bot.clock import utcnow
from bot.ports import (
    Capabilities,
    DeliveryError,
    MentionTarget,
    OutboundReply,
    PermanentError,
    RateLimited,
    TransientError,
    UnknownOutcome,
)
from integrations.meta.parse import FACEBOOK, INSTAGRAM, WHATSAPP

log = logging.getLogger(__name__)

Network = Literal["facebook", "instagram", "whatsapp"]
WHATSAPP_WINDOW = timedelta(hours=24)
CAPABILITIES: dict[str, Capabilities] = {
    FACEBOOK: Capabilities(reply=True, max_length=8000, like=True, hide=True),
    INSTAGRAM: Capabilities(reply=True, max_length=2200, like=False, hide=True),
    WHATSAPP: Capabilities(reply=True, max_length=4096, reply_window=WHATSAPP_WINDOW),
}
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006, 80007, 80008, 80009,
                              80014, 130429, 131056})
"""Graph error codes that mean "slow down" (app, user, page, custom and business-use-case limits)."""
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
WINDOW_CODE = 131047
WINDOW_REASON = "outside WhatsApp's 24-hour reply window: a template message is needed"
DEFAULT_RETRY_AFTER = 60.0


def graph_error(status: int, body: Any, *, retry_after: str | None = None,
                usage: str | None = None) -> DeliveryError:
    """The DeliveryError for a failed Graph call: rate limit, permanent refusal or transient trouble."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {status}")[:300]
    where = f"Graph API (code {code})" if code is not None else f"Graph API (HTTP {status})"
    if status == 429 or code in RATE_LIMIT_CODES:
        return RateLimited(_wait(retry_after, usage), f"{where}: {message}")
    if code == WINDOW_CODE:
        return PermanentError(WINDOW_REASON)
    if status >= 500 or error.get("is_transient") is True or code in TRANSIENT_CODES:
        return TransientError(f"{where}: {message}")
    if 400 <= status < 500:
        return PermanentError(f"{where}: {message}")
    return TransientError(f"{where}: unexpected HTTP {status}")


def _wait(retry_after: str | None, usage: str | None) -> float:
    """Seconds to wait: Retry-After, else X-Business-Use-Case-Usage's time to regain access, else 60."""
    try:
        if retry_after is not None:
            return max(1.0, float(retry_after))
    except ValueError:
        pass
    try:
        data = json.loads(usage) if usage else {}
        minutes = max((int(u.get("estimated_time_to_regain_access") or 0)
                       for items in data.values() for u in items if isinstance(u, dict)), default=0)
        if minutes > 0:
            return minutes * 60.0
    except (ValueError, TypeError, AttributeError):
        pass
    return DEFAULT_RETRY_AFTER


class GraphClient:
    """A thin Graph API caller: Bearer token, timeout, errors mapped to DeliveryError."""

    def __init__(self, *, base_url: str, token: str, http: aiohttp.ClientSession, timeout: float) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
        """Make one call and return its JSON object; raise a DeliveryError when it fails."""
        url = f"{self._base}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            async with self._http.request(method, url, json=body, params=params, headers=headers,
                                          timeout=self._timeout) as resp:
                text = await resp.text()
                try:
                    data = json.loads(text) if text else {}
                except ValueError:
                    data = {}
                if 200 <= resp.status < 300:
                    return data if isinstance(data, dict) else {}
                raise graph_error(resp.status, data, retry_after=resp.headers.get("Retry-After"),
                                  usage=resp.headers.get("X-Business-Use-Case-Usage"))
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"Graph API unreachable: {exc}") from exc
        except (TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise UnknownOutcome(f"Graph API did not answer: {exc!r}") from exc
        except aiohttp.ClientError as exc:
            raise TransientError(f"Graph API call failed: {exc!r}") from exc


class MetaReplySink:
    """Replies (and likes and hides where the network allows them) for one Meta network."""

    def __init__(self, network: Network, *, graph: GraphClient, account: str | None = None) -> None:
        self.network = network
        self.capabilities = CAPABILITIES[network]
        self._graph = graph
        self._account = account

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """Post the reply under the comment, or send it as a WhatsApp text; return the new id."""
        if self.network == FACEBOOK:
            data = await self._graph.call("POST", f"{reply.mention_id}/comments",
                                          body={"message": reply.text})
            return _str(data.get("id"))
        if self.network == INSTAGRAM:
            data = await self._graph.call("POST", f"{reply.mention_id}/replies",
                                          body={"message": reply.text})
            return _str(data.get("id"))
        return await self._whatsapp(reply)

    async def _whatsapp(self, reply: OutboundReply) -> str | None:
        window = self.capabilities.reply_window
        if reply.created_at is not None and window is not None and utcnow() > reply.created_at + window:
            raise PermanentError(WINDOW_REASON)
        phone_id = reply.account or self._account
        to = reply.author_id or reply.thread_id
        if not phone_id or not to:
            raise PermanentError("WhatsApp reply without our phone number id or the customer's number")
        data = await self._graph.call("POST", f"{phone_id}/messages", body={
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "text", "text": {"preview_url": False, "body": reply.text},
        })
        messages = data.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else {}
        return _str(first.get("id")) if isinstance(first, dict) else None

    async def like(self, target: MentionTarget) -> None:
        """Like a Facebook comment as the page (Instagram and WhatsApp cannot)."""
        if not self.capabilities.like:
            raise PermanentError(f"{self.network} does not allow liking through the API")
        await self._graph.call("POST", f"{target.mention_id}/likes")

    async def hide(self, target: MentionTarget, hidden: bool) -> None:
        """Hide a comment from everyone but its author and friends, or show it again."""
        if self.network == FACEBOOK:
            await self._graph.call("POST", target.mention_id, body={"is_hidden": hidden})
        elif self.network == INSTAGRAM:
            await self._graph.call("POST", target.mention_id, body={"hide": hidden})
        else:
            raise PermanentError(f"{self.network} messages cannot be hidden")


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
