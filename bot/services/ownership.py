"""Ownership: assign, hand over, snooze and reopen cases (the owner is who gets the nudges)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput, NotAllowed
from bot.kinds import MESSAGE, post_lane
from bot.models import Case, CaseStatus
from bot.outbox import enqueue
from bot.services import audit, clocks
from bot.services.cardwork import get_case, refresh_card, touch_card
from bot.services.coord import Coord
from bot.team import LEADS
from bot.views import CaseRef

MAX_REASON = 500


async def assign(
    *, session: AsyncSession, ref: CaseRef, actor: str, assignee: str, now: datetime, coord: Coord,
) -> Case:
    """Give the case to `assignee` (the owner hands over; coordinators and managers assign any case)."""
    team = coord.team
    team.require_member(actor, action="case.assign")
    if not team.is_member(assignee):
        raise InvalidInput(field="assignee", reason="not in the team")
    case = await get_case(session, ref, lock=True)
    if case.owner == assignee:
        return case
    if case.owner not in (None, actor) and not team.has(actor, *LEADS):
        raise NotAllowed(action="case.assign", role="owner/coordinator/manager", user=actor)
    previous = case.owner
    case.owner = assignee
    if case.status == CaseStatus.OPEN:
        case.status = CaseStatus.CLAIMED.value
    case.updated_at = now
    await clocks.reassign(session, case_id=case.id, owner=assignee)
    audit.record(session, case_id=case.id, actor=actor, action="assign", at=now, owner=assignee,
                 previous=previous)
    touch_card(session, case, now=now, note={"event": "assigned", "actor": actor,
                                             "params": {"owner": assignee}})
    if assignee != actor:
        enqueue(session, kind=MESSAGE, lane=post_lane(assignee), case_id=case.id, now=now,
                payload={"to": assignee, "event": "assigned", "params": {"actor": actor}})
    await refresh_card(session, case, now=now)
    return case


async def snooze(
    *, session: AsyncSession, ref: CaseRef, actor: str, until: datetime, reason: str, now: datetime,
    coord: Coord,
) -> Case:
    """Hold the case's nudges until `until`, with a reason (e.g. waiting for the customer)."""
    coord.team.require_member(actor, action="case.snooze")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(field="reason", reason="empty")
    if until <= now:
        raise InvalidInput(field="until", reason="past")
    case = await get_case(session, ref, lock=True)
    case.snoozed_until, case.snooze_reason = until, reason[:MAX_REASON]
    await clocks.own_if_unowned(session, case, actor)
    case.updated_at = now
    audit.record(session, case_id=case.id, actor=actor, action="snooze", at=now, until=until.isoformat(),
                 reason=reason)
    touch_card(session, case, now=now, note={"event": "snoozed", "actor": actor, "text": reason,
                                             "params": {"until": until.isoformat()}})
    await refresh_card(session, case, now=now)
    return case
