"""GET /webhooks/meta (subscription handshake) and POST /webhooks/meta (signed deliveries).

A delivery is checked against `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with
`META_APP_SECRET`) before anything reads it. Its new mentions, edits and deletions are stored in ONE
transaction; Meta redelivers for up to 36 hours (WhatsApp 7 days), so every repeat is a no-op.
The answer is 200 as soon as that transaction commits; cards and replies go through the outbox.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bot.clock import utcnow
from bot.pipeline import IngestResult, apply_changes, ingest
from bot.runtime import RUNTIME, Runtime
from bot.signing import verify
from integrations.meta.parse import NotADelivery, parse_delivery

log = logging.getLogger(__name__)
ROUTE = "webhooks.meta"
SIGNATURE_HEADER = "X-Hub-Signature-256"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _own_ids(rt: Runtime) -> list[str]:
    meta = rt.settings.config.integrations.meta
    return [i for i in (meta.page_id, meta.instagram_id) if i] if meta else []


async def handshake(request: web.Request) -> web.Response:
    """Answer Meta's subscription check: echo `hub.challenge` when the verify token matches."""
    token = request.app[RUNTIME].settings.env.meta_verify_token
    if token is None:
        return _error(503, "Meta webhooks are disabled: META_VERIFY_TOKEN is not set")
    q = request.query
    given = q.get("hub.verify_token", "").encode()
    if q.get("hub.mode") == "subscribe" and hmac.compare_digest(given, token.get_secret_value().encode()):
        return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")
    log.warning("Meta webhook handshake refused (mode %r, wrong or missing verify token)",
                q.get("hub.mode"))
    return _error(403, "hub.mode must be subscribe and hub.verify_token must match META_VERIFY_TOKEN")


async def deliver(request: web.Request) -> web.Response:
    """Verify the signature, parse every entry, store mentions and changes; answer 200."""
    rt = request.app[RUNTIME]
    secret = rt.settings.env.meta_app_secret
    if secret is None:
        return _error(503, "Meta webhooks are disabled: META_APP_SECRET is not set")
    body = await request.read()
    if not verify(secret.get_secret_value(), body, request.headers.get(SIGNATURE_HEADER)):
        return _error(401, f"missing or wrong {SIGNATURE_HEADER} (sha256=<hex HMAC of the body "
                           "with the app secret>)")
    now = utcnow()
    try:
        parsed = parse_delivery(json.loads(body), received=now, own_ids=_own_ids(rt))
    except (ValueError, UnicodeDecodeError) as exc:
        rt.metrics.mentions_rejected.labels(route=ROUTE).inc()
        what = str(exc) if isinstance(exc, NotADelivery) else f"body is not JSON: {exc}"
        return _error(400, what)

    for line in parsed.rejected:
        log.warning("Meta delivery item not usable: %s", line)
    if parsed.rejected:
        rt.metrics.mentions_rejected.labels(route=ROUTE).inc(len(parsed.rejected))
    for line in parsed.reports:
        log.warning("Meta reports: %s", line)
    if parsed.ignored:
        log.debug("Meta delivery: ignored %s", dict(parsed.ignored))

    result = IngestResult()
    changed = 0
    if parsed.mentions or parsed.changes:
        async with rt.uow() as session:
            if parsed.mentions:
                result = await ingest(session, parsed.mentions, now=now,
                                      channel=rt.settings.config.channels.cards, triage=rt.triage,
                                      coord=rt.coord)
            if parsed.changes:
                changed = await apply_changes(session, parsed.changes, now=now)
    for source, n in result.by_source.items():
        rt.metrics.mentions_ingested.labels(source=source).inc(n)
    for source, n in result.duplicates_by_source.items():
        rt.metrics.mentions_duplicate.labels(source=source).inc(n)
    return web.json_response({"accepted": result.accepted, "duplicates": result.duplicates,
                              "changed": changed, "ignored": sum(parsed.ignored.values()),
                              "rejected": len(parsed.rejected)})
