"""Replies for sources without a built-in integration: POSTed, signed, to the configured reply_url."""

from __future__ import annotations

import json

import aiohttp

from bot.ports import Capabilities, OutboundReply, RateLimited, TransientError
from bot.signing import sign

SIGNATURE_HEADER = "X-Webcare-Signature"


class WebhookReplySink:
    """Delivers replies to `reply_url`; a 2xx answer means delivered, anything else is retried."""

    capabilities = Capabilities(reply=True, max_length=None)

    def __init__(self, *, url: str, secret: str, http: aiohttp.ClientSession, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """POST the reply; the idempotency key stays the same on every retry."""
        body = json.dumps({
            "case_id": reply.case_ref, "source": reply.source, "mention_id": reply.mention_id,
            "text": reply.text, "agent": reply.agent, "idempotency_key": reply.idempotency_key,
        }, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._secret, body),
                   "Idempotency-Key": reply.idempotency_key}
        try:
            async with self._http.post(self._url, data=body, headers=headers,
                                       timeout=self._timeout) as resp:
                text = await resp.text()
                if 200 <= resp.status < 300:
                    return _reference(text)
                if resp.status == 429:
                    raise RateLimited(_retry_after(resp.headers.get("Retry-After")), "reply webhook")
                raise TransientError(f"reply webhook answered {resp.status}: {text[:200]}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(f"reply webhook unreachable: {exc!r}") from exc


def _retry_after(value: str | None) -> float:
    try:
        return max(1.0, float(value or 5))
    except ValueError:
        return 5.0


def _reference(text: str) -> str | None:
    """The receiver's id for the reply, when it answers JSON with an `id`."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    ref = data.get("id") if isinstance(data, dict) else None
    return str(ref) if ref is not None else None
