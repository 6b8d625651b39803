"""Shared by the case services: load a case, and queue the chat work a state change causes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import CaseNotFound
from bot.kinds import CARD_UPDATE, NOTE, UPDATE_LANE, post_lane
from bot.models import Case, Mention
from bot.outbox import enqueue, has_pending
from bot.views import CaseRef


def network_lane(source: str, account: str | None) -> str:
    """The outbox lane of calls to a network as one of our accounts (quotas are per account)."""
    return f"reply:{source}:{account}" if account else f"reply:{source}"


def touch_card(session: AsyncSession, case: Case, *, now: datetime, note: dict[str, Any] | None = None) -> None:
    """Queue a history line in the card's thread (if given); the card update is queued separately."""
    if note is not None and case.card_channel:
        enqueue(session, kind=NOTE, lane=post_lane(case.card_channel), case_id=case.id, now=now,
                payload=note)


async def refresh_card(session: AsyncSession, case: Case, *, now: datetime) -> None:
    """Queue one card update for the case (coalesced with any not yet sent)."""
    if not await has_pending(session, case_id=case.id, kind=CARD_UPDATE):
        enqueue(session, kind=CARD_UPDATE, lane=UPDATE_LANE, case_id=case.id, now=now)


async def get_case(session: AsyncSession, ref: CaseRef, *, lock: bool = False) -> Case:
    """Load a case by its reference; an unknown one raises CaseNotFound."""
    query = select(Case).where(Case.ref == ref.case)
    if lock:
        query = query.with_for_update()
    case = await session.scalar(query)
    if case is None:
        raise CaseNotFound()
    return case


async def latest_mention(session: AsyncSession, case_id: int) -> Mention:
    """The newest mention of a case (the one a reply answers)."""
    mention = await session.scalar(
        select(Mention).where(Mention.case_id == case_id)
        .order_by(Mention.created_at.desc(), Mention.id.desc()).limit(1)
    )
    if mention is None:
        raise CaseNotFound()
    return mention
