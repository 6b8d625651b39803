"""The app factory: one aiohttp application with every route, client, and background task.

Transports and integrations are plugins named by module path, each with `install(app, runtime)`;
the core never imports a chat SDK. Clients are created in `cleanup_ctx` and closed there.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Protocol

import aiohttp
from aiohttp import web

from bot import ops
from bot.coord_delivery import coordination_jobs
from bot.craft.answers import build_craft
from bot.db import create_engine, create_sessionmaker, upgrade
from bot.delivery import build_jobs
from bot.i18n import Translator
from bot.logs import correlation_middleware
from bot.metrics import Metrics
from bot.outbox import Dispatcher
from bot.pipeline import UPDATE_LANE, post_lane
from bot.polling import PollRunner
from bot.runtime import RUNTIME, Runtime
from bot.scheduler import Jobs
from bot.services.coord import build_coord
from bot.settings import Settings
from bot.surge.runner import SurgeRunner
from bot.surge_delivery import surge_jobs
from bot.triage.service import build_triage

log = logging.getLogger(__name__)

DEFAULT_PLUGINS = (
    "integrations.webhook.plugin",
    "integrations.meta.plugin",
    "integrations.feeds.plugin",
    "integrations.x.plugin",
    "handlers.slack.plugin",
    "handlers.teams.plugin",
)


class Plugin(Protocol):
    """A transport or integration: adds its routes, clients and sinks to the app."""

    def install(self, app: web.Application, runtime: Runtime) -> None: ...


def load_plugins(names: Sequence[str]) -> list[Plugin]:
    """Import plugin modules by dotted name."""
    return [importlib.import_module(name) for name in names]  # type: ignore[misc]


def create_app(
    settings: Settings,
    *,
    plugins: Sequence[str] = DEFAULT_PLUGINS,
    migrate: bool = True,
    instance: str | None = None,
) -> web.Application:
    """Build the whole application for `settings`."""
    cfg = settings.config
    engine = create_engine(settings.env.database_url)
    runtime = Runtime(
        settings=settings,
        instance=instance or settings.env.webcare_instance or f"{socket.gethostname()}:{os.getpid()}",
        engine=engine,
        maker=create_sessionmaker(engine),
        metrics=Metrics(),
        t=Translator(cfg.locale, cfg.tz),
        coord=build_coord(cfg),
        triage=build_triage(cfg),
        craft=build_craft(cfg),
    )
    app = web.Application(middlewares=[correlation_middleware],
                          client_max_size=cfg.ingest.max_body_bytes)
    app[RUNTIME] = runtime
    app.cleanup_ctx.append(_database(migrate))
    app.cleanup_ctx.append(_http_client)
    for plugin in load_plugins(plugins):
        plugin.install(app, runtime)
    app.cleanup_ctx.append(_background)
    ops.add_routes(app)
    return app


def _database(migrate: bool):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        rt = app[RUNTIME]
        if migrate:
            await upgrade(rt.engine)
        yield
        await rt.engine.dispose()

    return ctx


async def _http_client(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    rt.http = aiohttp.ClientSession()
    yield
    await rt.http.close()


def lane_intervals(settings: Settings) -> dict[str, timedelta]:
    """Pacing per lane prefix: chat posts per channel, card updates per workspace (or tenant)."""
    channels = settings.config.channels
    return {post_lane(""): channels.post_interval, UPDATE_LANE: channels.update_interval}


async def _background(app: web.Application) -> AsyncIterator[None]:
    rt = app[RUNTIME]
    rt.dispatcher = Dispatcher(
        maker=rt.maker,
        jobs=build_jobs(rt.chat, rt.sinks, rt.metrics,
                        compact_skipped=rt.settings.config.triage.skipped == "compact", coord=rt.coord)
        | coordination_jobs(rt.chat) | surge_jobs(rt.chat),
        config=rt.settings.config.outbox, intervals=lane_intervals(rt.settings),
        metrics=rt.metrics, instance=rt.instance,
    )
    task = asyncio.create_task(rt.dispatcher.run(), name="outbox-dispatcher")
    jobs = Jobs(rt)
    jobs.start()
    polling = PollRunner(rt)
    polling.start()
    surges = SurgeRunner(rt)
    surges.start()
    yield
    await surges.stop()
    await polling.stop()
    await jobs.shutdown()
    rt.dispatcher.stop()
    try:
        await asyncio.wait_for(task, timeout=10)
    except TimeoutError:
        task.cancel()
