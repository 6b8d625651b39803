"""bot.sql's dialect helpers on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import ChatPerson
from bot.sql import upsert

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


async def test_upsert_when_changed_writes_only_a_new_value(maker: async_sessionmaker[AsyncSession]) -> None:
    async def say(name: str, at: datetime) -> tuple[str, datetime]:
        async with maker.begin() as session:
            stmt = upsert(session, ChatPerson, ["id"], ["name", "updated_at"], when_changed=["name"])
            await session.execute(stmt, [{"id": "a1", "name": name, "updated_at": at}])
        async with maker() as session:
            row = (await session.execute(select(ChatPerson.name, ChatPerson.updated_at))).one()
        return row.name, row.updated_at.replace(tzinfo=UTC)

    assert await say("Anna", T0) == ("Anna", T0)  # new
    assert await say("Anna", T0 + timedelta(hours=1)) == ("Anna", T0)  # the same name: not written
    assert await say("Anna de Vries", T0 + timedelta(hours=2)) == ("Anna de Vries", T0 + timedelta(hours=2))
