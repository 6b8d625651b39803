"""Runs polled sources (X mentions, feeds): one instance at a time, cursor saved with what it found.

Each source has a row in `integration_state`: its cursor, when to poll next, a lease (so only one
instance polls it), and its health. A poll's mentions, edits and new cursor are stored in ONE
transaction, so a crash or restart neither loses nor repeats anything. A failing source is
reported to the team once, and once more when it recovers, not on every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from bot.clock import utcnow
from bot.logs import correlation_id
from bot.models import IntegrationState
from bot.outbox import enqueue_many, outbox_row
from bot.pipeline import NOTICE, apply_changes, ingest, post_lane
from bot.ports import Poller, PollResult
from bot.runtime import Runtime
from bot.sql import insert_ignore

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(minutes=30)


class PollRunner:
    """One task per poller; `stop()` ends them after the current poll."""

    def __init__(self, rt: Runtime, clock=utcnow) -> None:  # type: ignore[no-untyped-def]
        self._rt = rt
        self._clock = clock
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start polling every registered source."""
        for poller in self._rt.pollers:
            self._tasks.append(asyncio.create_task(self._loop(poller), name=f"poll:{poller.key}"))

    async def stop(self) -> None:
        """Stop polling and wait (bounded) for running polls."""
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
            for task in self._tasks:
                task.cancel()

    async def _loop(self, poller: Poller) -> None:
        while not self._stop.is_set():
            try:
                wait = await self.poll_once(poller)
            except Exception:  # the loop must survive a database hiccup
                log.exception("poll loop of %s failed", poller.key)
                wait = poller.interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(wait.total_seconds(), 0.05))

    async def poll_once(self, poller: Poller) -> timedelta:
        """Poll the source if it is due and not leased elsewhere; return how long to wait next."""
        correlation_id.set(f"poll-{poller.key}"[:64])
        now = self._clock()
        cursor = await self._lease(poller, now)
        if cursor is None:
            return await self._until_due(poller, now)
        try:
            result = await poller.poll(dict(cursor))
        except Exception as exc:  # any failure of the source: back off and report once
            await self._failed(poller, exc)
            return poller.interval
        await self._store(poller, result)
        return result.next_in or poller.interval

    async def _lease(self, poller: Poller, now: datetime) -> dict | None:  # type: ignore[type-arg]
        async with self._rt.uow() as session:
            await session.execute(insert_ignore(session, IntegrationState, ["key"]), [{
                "key": poller.key, "cursor": {}, "next_poll_at": now, "updated_at": now}])
            row = (await session.execute(
                update(IntegrationState)
                .where(IntegrationState.key == poller.key, IntegrationState.next_poll_at <= now,
                       or_(IntegrationState.lease_until.is_(None), IntegrationState.lease_until < now))
                .values(lease_until=now + LEASE, lease_owner=self._rt.instance)
                .returning(IntegrationState.cursor)
            )).first()
            return dict(row.cursor or {}) if row is not None else None

    async def _until_due(self, poller: Poller, now: datetime) -> timedelta:
        async with self._rt.maker() as session:
            due = await session.scalar(
                select(IntegrationState.next_poll_at).where(IntegrationState.key == poller.key))
        if due is None:
            return poller.interval
        return min(max(due - now, timedelta(milliseconds=50)), poller.interval)

    async def _store(self, poller: Poller, result: PollResult) -> None:
        rt = self._rt
        now = self._clock()
        channel = rt.settings.config.channels.cards
        async with rt.uow() as session:
            state = await session.get(IntegrationState, poller.key, with_for_update=True)
            if state is None or state.lease_owner != rt.instance:
                log.warning("lease of %s was lost during the poll; results dropped", poller.key)
                return
            found = await ingest(session, result.mentions, now=now, channel=channel,
                                 notice=result.gap, triage=rt.triage, coord=rt.coord)
            await apply_changes(session, result.changes, now=now)
            notices = []
            if result.gap:
                notices.append(("gap", {"source": poller.key, "detail": result.gap}))
            if state.failing_since is not None:
                notices.append(("source_recovered", {"source": poller.key}))
            await enqueue_many(session, [
                outbox_row(kind=NOTICE, lane=post_lane(channel), now=now,
                           payload={"channel": channel, "event": event, "params": params})
                for event, params in notices])
            state.cursor = dict(result.cursor)
            state.next_poll_at = now + (result.next_in or poller.interval)
            state.lease_until = None
            state.failing_since = None
            state.last_error = None
            state.updated_at = now
        for source, n in found.by_source.items():
            rt.metrics.mentions_ingested.labels(source=source).inc(n)
        for source, n in found.duplicates_by_source.items():
            rt.metrics.mentions_duplicate.labels(source=source).inc(n)

    async def _failed(self, poller: Poller, exc: Exception) -> None:
        rt = self._rt
        now = self._clock()
        channel = rt.settings.config.channels.cards
        detail = (str(exc) or repr(exc))[:500]
        async with rt.uow() as session:
            state = await session.get(IntegrationState, poller.key, with_for_update=True)
            if state is None:
                return
            first = state.failing_since is None
            failing_for = now - (state.failing_since or now)
            backoff = min(max(poller.interval, failing_for / 4), MAX_BACKOFF)
            state.failing_since = state.failing_since or now
            state.last_error = detail
            state.next_poll_at = now + backoff
            state.lease_until = None
            state.updated_at = now
            if first:
                log.error("source %s fails: %s", poller.key, detail)
                await enqueue_many(session, [outbox_row(
                    kind=NOTICE, lane=post_lane(channel), now=now,
                    payload={"channel": channel, "event": "source_failing",
                             "params": {"source": poller.key, "detail": detail}})])
            else:
                log.warning("source %s still fails: %s", poller.key, detail)
