"""Periodic jobs (APScheduler). What is due is always read from the database, so restarts lose nothing."""

from __future__ import annotations

import logging

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


def create_scheduler(rt: Runtime) -> AsyncIOScheduler:
    """The scheduler with every periodic job of the app (started by the app factory)."""
    scheduler = AsyncIOScheduler(timezone=rt.settings.config.timezone)
    scheduler.add_job(
        housekeeping, "interval", args=[rt], id="housekeeping",
        seconds=rt.settings.config.retention.sweep.total_seconds(),
        max_instances=1, coalesce=True, next_run_time=utcnow(),
    )
    return scheduler
