"""Operations routes: liveness, readiness (database reachable) and Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import func, select

from bot.db import ping
from bot.models import OutboxItem
from bot.outbox import OPEN_OUTBOX_SQL
from bot.runtime import RUNTIME


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers."""
    rt = request.app[RUNTIME]
    try:
        await ping(rt.engine)
    except Exception as exc:  # any failure means not ready; say which
        return web.json_response({"status": "unavailable", "database": repr(exc)[:300]}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "chat": rt.chat is not None})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition; the outbox backlog is read from the database at scrape time."""
    rt = request.app[RUNTIME]
    async with rt.maker() as session:
        count, oldest = (await session.execute(
            select(func.count(), func.min(OutboxItem.created_at))
            .where(OutboxItem.status.in_(OPEN_OUTBOX_SQL))
        )).one()
    rt.metrics.outbox_backlog.set(count)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    rt.metrics.outbox_oldest_age.set((datetime.now(UTC) - oldest).total_seconds() if oldest else 0)
    return web.Response(body=rt.metrics.render(), headers={"Content-Type": rt.metrics.content_type})


def add_routes(app: web.Application) -> None:
    """Mount /healthz, /readyz and /metrics."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
