"""Periodic jobs (APScheduler). What is due is always read from the database, so restarts lose nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete

from bot.clock import utcnow
from bot.logs import correlation_id, new_id
from bot.models import InboundSeen, OutboxItem, OutboxStatus, RejectedPayload
from bot.runtime import Runtime

log = logging.getLogger(__name__)


async def housekeeping(rt: Runtime) -> None:
    """Drop what has outlived its retention: dedupe keys, rejected bodies, delivered outbox rows."""
    correlation_id.set(new_id())
    keep = rt.settings.config.retention
    now = utcnow()
    async with rt.uow() as session:
        await session.execute(delete(InboundSeen).where(InboundSeen.seen_at < now - keep.inbound_dedupe))
        await session.execute(
            delete(RejectedPayload).where(RejectedPayload.received_at < now - keep.rejected_payloads))
        await session.execute(
            delete(OutboxItem).where(
                OutboxItem.status.in_([OutboxStatus.DONE.value, OutboxStatus.SKIPPED.value]),
                OutboxItem.finished_at < now - keep.outbox_done))


async def sweep_clocks(rt: Runtime) -> None:
    """Take every due rung of every deadline ladder (batches until nothing is due)."""
    correlation_id.set(new_id())
    sweeper = rt.coord.sweeper()
    for _ in range(50):  # bounded: a huge backlog is worked off over several runs
        async with rt.uow() as session:
            taken = await sweeper.sweep(session, now=utcnow())
        rt.metrics.clock_rungs.inc(taken)
        if taken < sweeper.batch:
            return


class Jobs:
    """The scheduler plus the tasks of jobs now running, so shutdown can let them finish."""

    def __init__(self, rt: Runtime) -> None:
        self.scheduler = AsyncIOScheduler(timezone=rt.settings.config.timezone)
        self._running: set[asyncio.Task[None]] = set()
        self.scheduler.add_job(
            self._tracked, "interval", args=[housekeeping, rt], id="housekeeping",
            seconds=rt.settings.config.retention.sweep.total_seconds(),
            max_instances=1, coalesce=True, next_run_time=utcnow(),
        )
        self.scheduler.add_job(
            self._tracked, "interval", args=[sweep_clocks, rt], id="sweep_clocks",
            seconds=rt.settings.config.escalation.sweep.total_seconds(),
            max_instances=1, coalesce=True, next_run_time=utcnow(),
        )

    async def _tracked(self, job: Callable[[Runtime], Awaitable[None]], rt: Runtime) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await job(rt)
        except Exception:  # a failed run is logged; the next run tries again
            log.exception("scheduled job %s failed", getattr(job, "__name__", job))
        finally:
            self._running.discard(task)

    def start(self) -> None:
        """Start running jobs on their schedule."""
        self.scheduler.start()

    async def shutdown(self, timeout: float = 10) -> None:
        """Stop scheduling and wait (bounded) for running jobs to finish."""
        self.scheduler.shutdown(wait=False)
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
