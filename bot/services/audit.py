"""The audit trail: every action on a case, with actor and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import CaseEvent


def record(
    session: AsyncSession, *, case_id: int, actor: str, action: str, at: datetime, **detail: Any
) -> None:
    """Add an audit event to the current transaction."""
    session.add(CaseEvent(case_id=case_id, actor=actor, action=action, at=at, detail=detail))
