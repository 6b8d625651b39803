"""Inbound deduplication: a delivery key (e.g. a Slack event id) is handled once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import InboundSeen
from bot.sql import insert_ignore


async def first_time(session: AsyncSession, *, key: str, now: datetime) -> bool:
    """Remember `key` in this transaction; False when it was seen before (a retry)."""
    stmt = insert_ignore(session, InboundSeen, ["key"]).returning(InboundSeen.key)
    row = (await session.execute(stmt, [{"key": key[:200], "seen_at": now}])).first()
    return row is not None
