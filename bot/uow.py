"""One transaction per interaction or job; committing wakes the outbox dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class UnitOfWork:
    """`async with uow() as session:` begins, commits on success (rolls back on error), then wakes."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], on_commit: Callable[[], None]) -> None:
        self.maker = maker
        self._on_commit = on_commit

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with self.maker.begin() as session:
            yield session
        self._on_commit()
