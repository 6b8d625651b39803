"""The replay's database engine: SQLite on the event loop's own thread, tuned for a throwaway file.

A replay is one sequential simulation on one connection: nothing else runs while a statement
does. aiosqlite's worker thread buys nothing there and costs two thread switches per call (a
statement is three or four calls: cursor, execute, fetch, close), which was a third of a replay's
time on a small machine. `InlineConnection` is aiosqlite's connection with each call made at once
instead of being queued for the thread. The server keeps `bot.db.create_engine` and its thread.

The file is thrown away afterwards (or kept for inspection with `--database`), so it is written
without syncing to disk: a crash of the replay loses nothing anyone relies on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=OFF",
    "PRAGMA foreign_keys=ON",  # as in the server: the same constraints hold
)


class _RunNow:
    """Stands in for aiosqlite's queue to its thread (SQLAlchemy queues isolation-level changes there)."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # noqa: B036 - handed to the waiting caller, as the thread does
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its worker thread: every call runs at once, on this thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no thread to start

    async def close(self) -> None:
        """Close the connection."""
        self.stop()

    def stop(self) -> None:
        """Close the connection (there is no thread to stop)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def _connect(path: Path) -> InlineConnection:
    return await InlineConnection(partial(sqlite3.connect, str(path), check_same_thread=False))


def create_replay_engine(path: Path) -> AsyncEngine:
    """An async engine on the SQLite file at `path` for one replay (one connection, no thread)."""
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        async_creator=partial(_connect, path),
        pool_size=1,
        max_overflow=0,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        for pragma in PRAGMAS:
            cur.execute(pragma)
        cur.close()

    return engine
