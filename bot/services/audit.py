"""The audit trail: every action on a case, with actor and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Approval, Case, CaseEvent


def record(
    session: AsyncSession, *, case_id: int, actor: str, action: str, at: datetime, **detail: Any
) -> None:
    """Add an audit event to the current transaction."""
    session.add(CaseEvent(case_id=case_id, actor=actor, action=action, at=at, detail=detail))


async def refusal(
    session: AsyncSession, *, actor: str, action: str, role: str, at: datetime, ref: str | None
) -> None:
    """Record a refused click (the user lacks the role), with the case when the reference tells it."""
    case_id = None
    if ref:
        case_id = await session.scalar(select(Case.id).where(Case.ref == ref))
        if case_id is None:
            case_id = await session.scalar(select(Approval.case_id).where(Approval.ref == ref))
    session.add(CaseEvent(case_id=case_id, actor=actor, action="refused", at=at,
                          detail={"action": action, "role": role, "ref": ref}))
