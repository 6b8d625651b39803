"""Shared fixtures: a database per test (SQLite always, PostgreSQL when TEST_POSTGRES_URL is set),
the fake Slack Web API, the fake reply receiver, and the running bot."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bot.db import create_engine, create_sessionmaker, upgrade
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack
from tests.harness import BOT_TOKEN, WEBHOOK_SECRET, Bot, make_settings, start_bot, stop_bot

BASE_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if BASE_POSTGRES_URL else [])


def _own_database(url: str) -> str:
    """This test process's own database next to TEST_POSTGRES_URL's, so parallel runs never collide."""
    return make_url(url).set(database=f"{make_url(url).database}_w{os.getpid()}").render_as_string(
        hide_password=False)


POSTGRES_URL = _own_database(BASE_POSTGRES_URL) if BASE_POSTGRES_URL else None


async def _admin(sql: str) -> None:
    assert BASE_POSTGRES_URL
    engine = create_async_engine(BASE_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _postgres_database() -> Iterator[None]:
    """Create this process's PostgreSQL database for the session and drop it afterwards."""
    if not POSTGRES_URL:
        yield
        return
    name = make_url(POSTGRES_URL).database
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def reset_postgres(url: str) -> None:
    """Empty the test database (drop and recreate the public schema)."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL (the app migrates it at start)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'webcare.db'}"
    else:
        assert POSTGRES_URL
        await reset_postgres(POSTGRES_URL)
        yield POSTGRES_URL


@pytest.fixture
async def maker(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database, migrated (for services and the outbox without a running app)."""
    engine = create_engine(db_url)
    await upgrade(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, post_rate_per_s=50, post_burst=50) as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[ReplyReceiver]:
    r = ReplyReceiver(WEBHOOK_SECRET)
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def bot_factory(db_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Start bots on the test database: `await bot_factory(slack=fake, reply_url=...)`."""
    bots: list[Bot] = []

    async def make(**kw: Any) -> Bot:
        extra = {k: kw.pop(k) for k in ("plugins", "instance") if kw.get(k)}
        settings = make_settings(db_url=db_url, **kw)
        bot = await start_bot(settings, **extra)
        bots.append(bot)
        return bot

    yield make
    for bot in reversed(bots):
        await stop_bot(bot)


@pytest.fixture
async def bot(bot_factory: Callable[..., Any], fake_slack: FakeSlack,
              receiver: ReplyReceiver) -> Bot:
    """The bot wired to the fake Slack and the fake reply receiver."""
    return await bot_factory(slack=fake_slack, reply_url=receiver.url)
