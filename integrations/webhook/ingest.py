"""POST /webhooks/mentions: signed single mentions or batches; valid items are never lost."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.clock import utcnow
from bot.models import RejectedPayload
from bot.pipeline import ingest
from bot.runtime import RUNTIME, Runtime
from bot.schemas import Rejected, validate_items
from bot.signing import verify
from integrations.webhook.sink import SIGNATURE_HEADER

log = logging.getLogger(__name__)
ROUTE = "webhooks.mentions"


def _error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def _keep_rejected(rt: Runtime, *, reason: str, body: bytes | str) -> None:
    """Store a refused body (size-capped) so an integrator can see what went wrong."""
    cap = rt.settings.config.ingest.keep_rejected_bytes
    raw = body if isinstance(body, bytes) else body.encode()
    text = raw[:cap].decode("utf-8", errors="replace")
    async with rt.uow() as session:
        session.add(RejectedPayload(received_at=utcnow(), route=ROUTE, reason=reason[:4000],
                                    size=len(raw), body=text, truncated=len(raw) > cap))


async def ingest_mentions(request: web.Request) -> web.Response:
    """Verify, parse, validate per item, store; answer 202 with accepted/duplicates/rejected."""
    rt = request.app[RUNTIME]
    secret = rt.settings.env.webcare_webhook_secret
    if secret is None:
        return _error(503, "ingest is disabled: WEBCARE_WEBHOOK_SECRET is not set")
    body = await request.read()
    if not verify(secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)):
        return _error(401, f"missing or wrong {SIGNATURE_HEADER} (sha256=<hex HMAC of the body>)")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        await _keep_rejected(rt, reason=f"not JSON: {exc}", body=body)
        rt.metrics.mentions_rejected.labels(route=ROUTE).inc()
        return _error(400, f"body is not JSON: {exc}")
    items = data if isinstance(data, list) else [data]
    if not isinstance(data, (list, dict)):
        await _keep_rejected(rt, reason="not an object or array", body=body)
        return _error(400, "expected a mention object or a JSON array of mentions")
    limit = rt.settings.config.ingest.max_batch
    if len(items) > limit:
        return _error(413, f"batch of {len(items)} mentions is larger than the limit of {limit}")
    valid, rejected = validate_items(items)
    if rejected:
        rt.metrics.mentions_rejected.labels(route=ROUTE).inc(len(rejected))
        await _keep_rejected(rt, reason=_describe(rejected), body=json.dumps(
            [items[r.index] for r in rejected], ensure_ascii=False, default=str))
    report = [r.model_dump() for r in rejected]
    if not valid:
        return _error(400, "nothing in the body is a valid mention", accepted=0, duplicates=0,
                      rejected=report)
    async with rt.uow() as session:
        result = await ingest(session, valid, now=utcnow(), channel=rt.settings.config.channels.cards,
                              triage=rt.triage, coord=rt.coord)
    for source, n in result.by_source.items():
        rt.metrics.mentions_ingested.labels(source=source).inc(n)
    for source, n in result.duplicates_by_source.items():
        rt.metrics.mentions_duplicate.labels(source=source).inc(n)
    return web.json_response(
        {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": report},
        status=202)


def _describe(rejected: list[Rejected]) -> str:
    return "; ".join(f"item {r.index}: {', '.join(r.errors)}" for r in rejected)[:4000]
