"""The audit trail: every action on a case, with actor and time."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.errors import NotAllowed
from bot.models import Approval, Case, CaseEvent

if TYPE_CHECKING:
    from bot.runtime import Runtime


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


def reference(value: Any) -> str | None:
    """The case or approval reference a button's value or a form's metadata carries (`{"case": "…"}`)."""
    data = None
    with contextlib.suppress(ValueError, TypeError):
        data = json.loads(value) if isinstance(value, str) else None
    return next((str(v) for v in data.values()), None) if isinstance(data, dict) else None


async def refused(rt: Runtime, exc: NotAllowed, value: Any) -> None:
    """A click refused for lack of a role, from any transport: counted, and audited in its own
    transaction (with the case its button's `value` names)."""
    rt.metrics.refused.labels(action=str(exc.params.get("action", "?"))).inc()
    async with rt.uow() as session:
        await refusal(session, actor=str(exc.params.get("user", "?")), at=utcnow(), ref=reference(value),
                      action=str(exc.params.get("action")), role=str(exc.params.get("role")))
