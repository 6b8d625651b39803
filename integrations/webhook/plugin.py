"""Install the generic webhook: POST /webhooks/mentions in, the signed reply webhook out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.runtime import RUNTIME, Runtime
from bot.settings import Settings
from integrations.webhook.ingest import ingest_mentions
from integrations.webhook.sink import WebhookReplySink

log = logging.getLogger(__name__)


def install(app: web.Application, rt: Runtime) -> None:
    """Mount the ingest route; register the reply sink when a reply_url and secret are set."""
    app.router.add_post("/webhooks/mentions", ingest_mentions)
    cfg = rt.settings.config.integrations.webhook
    secret = rt.settings.env.webcare_webhook_secret
    if secret is None:
        log.warning("WEBCARE_WEBHOOK_SECRET is not set: /webhooks/mentions refuses every request")
    if cfg.reply_url is None or secret is None:
        return

    async def sink(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]
        rt.fallback_sink = WebhookReplySink(url=str(cfg.reply_url), secret=secret.get_secret_value(),
                                            http=rt.http_client(),
                                            timeout=cfg.timeout.total_seconds())
        yield

    app.cleanup_ctx.append(sink)


async def check(settings: Settings) -> list[str]:
    """`webcare check`: the webhook secret is set when the ingest or reply webhook is used."""
    if settings.env.webcare_webhook_secret is None:
        return ["webhook: WEBCARE_WEBHOOK_SECRET is not set: POST /webhooks/mentions refuses "
                "everything and replies to webhook sources cannot be signed"]
    return []
