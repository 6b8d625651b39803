"""The running app's parts, built by the app factory and kept under one typed aiohttp AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.craft.answers import Craft
from bot.i18n import Translator
from bot.metrics import Metrics
from bot.ports import ChatPort, Poller, ReplySink
from bot.services.coord import Coord
from bot.settings import Settings
from bot.sinks import Sinks
from bot.triage.service import Triage
from bot.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.outbox import Dispatcher


@dataclass
class Runtime:
    """Everything handlers and jobs need; plugins register their chat port and reply sinks here."""

    settings: Settings
    instance: str
    engine: AsyncEngine
    maker: async_sessionmaker[AsyncSession]
    metrics: Metrics
    t: Translator
    coord: Coord
    craft: Craft
    chat: ChatPort | None = None
    reply_sinks: dict[str, ReplySink] = field(default_factory=dict)
    fallback_sink: ReplySink | None = None
    pollers: list[Poller] = field(default_factory=list)
    triage: Triage | None = None
    http: aiohttp.ClientSession | None = None
    dispatcher: Dispatcher | None = None
    uow: UnitOfWork = field(init=False)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.maker, self.wake)

    @property
    def sinks(self) -> Sinks:
        """Reply sinks by source, with the generic webhook as fallback."""
        return Sinks(self.reply_sinks, self.fallback_sink)

    def wake(self) -> None:
        """Tell the outbox dispatcher there is new work."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def http_client(self) -> aiohttp.ClientSession:
        """The shared outbound HTTP client (exists while the app runs)."""
        if self.http is None:
            raise RuntimeError("the app is not running: no HTTP client yet")
        return self.http


RUNTIME = web.AppKey("runtime", Runtime)
