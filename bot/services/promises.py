"""Promises ("we komen erop terug"): made with a button or in a reply, kept by the next reply.

"Belofte maakt schuld": a promise gets a clock (remind the owner, nudge at due, escalate), and is
kept when a later reply goes to the same author in the same conversation (its clock says whether in
time or late). Closing the case with a promise still open breaks it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import InvalidInput
from bot.models import Case, ClockKind, Promise, PromiseState, Reply
from bot.services import audit, clocks
from bot.services.cardwork import get_case, refresh_card, touch_card
from bot.services.coord import Coord
from bot.views import CaseRef

MAX_WHAT = 500


async def make(
    *, session: AsyncSession, ref: CaseRef, actor: str, what: str, due_at: datetime, now: datetime,
    coord: Coord,
) -> Promise:
    """Record a promise to the case's author (from the card's Promise button)."""
    coord.team.require_member(actor, action="case.promise")
    what = what.strip()
    if not what:
        raise InvalidInput(field="what", reason="empty")
    if due_at <= now:
        raise InvalidInput(field="due", reason="past")
    case = await get_case(session, ref, lock=True)
    return await _create(session, case, actor=actor, what=what[:MAX_WHAT], due_at=due_at, now=now,
                         coord=coord, origin="button")


async def from_reply(
    session: AsyncSession, case: Case, reply: Reply, *, phrase: str, due_at: datetime | None, now: datetime,
    coord: Coord,
) -> Promise | None:
    """A sent reply promised something ("ik zoek het voor je uit"): track it (once per reply)."""
    existing = await session.scalar(select(Promise.id).where(Promise.reply_id == reply.id))
    if existing is not None:
        return None
    due = due_at if due_at is not None and due_at > now else now + coord.cfg.promises.default_due
    return await _create(session, case, actor=reply.agent, what=phrase[:MAX_WHAT], due_at=due, now=now,
                         coord=coord, origin="reply", reply_id=reply.id)


async def _create(
    session: AsyncSession, case: Case, *, actor: str, what: str, due_at: datetime, now: datetime,
    coord: Coord, origin: str, reply_id: int | None = None,
) -> Promise:
    promise = Promise(case_id=case.id, what=what, due_at=due_at, created_at=now, created_by=actor,
                      origin=origin, reply_id=reply_id, state=PromiseState.OPEN.value)
    session.add(promise)
    await session.flush()
    await clocks.own_if_unowned(session, case, actor)
    case.updated_at = now
    clocks.start(session, case_id=case.id, kind=ClockKind.PROMISE, due_at=due_at, now=now, cfg=coord.cfg,
                 timeline=coord.timeline, owner=case.owner, subject_id=promise.id,
                 office_time=coord.office_time)
    audit.record(session, case_id=case.id, actor=actor, action="promise.made", at=now,
                 promise_id=promise.id, what=what, due=due_at.isoformat(), origin=origin)
    touch_card(session, case, now=now, note={"event": "promised", "actor": actor, "text": what,
                                             "params": {"due": due_at.isoformat()}})
    await refresh_card(session, case, now=now)
    return promise


async def settle(session: AsyncSession, case: Case, reply: Reply, *, now: datetime) -> list[Promise]:
    """A reply went to the case's author: every promise made before it is kept (in time or late)."""
    promises = list(await session.scalars(
        select(Promise).where(Promise.case_id == case.id, Promise.state == PromiseState.OPEN.value)
        .with_for_update()))
    settled = []
    for promise in promises:
        if promise.reply_id == reply.id or promise.created_at > now:
            continue  # the reply that made the promise does not keep it
        promise.state = PromiseState.KEPT.value
        promise.settled_at, promise.settled_by_reply_id = now, reply.id
        await clocks.stop(session, case_id=case.id, kind=ClockKind.PROMISE, subject_id=promise.id, now=now)
        audit.record(session, case_id=case.id, actor=reply.agent, action="promise.kept", at=now,
                     promise_id=promise.id, late=now > promise.due_at)
        settled.append(promise)
    return settled


async def break_open(session: AsyncSession, case: Case, *, actor: str, now: datetime) -> int:
    """The case is closed with promises still open: they are broken (and counted as such)."""
    promises = list(await session.scalars(
        select(Promise).where(Promise.case_id == case.id, Promise.state == PromiseState.OPEN.value)))
    for promise in promises:
        promise.state, promise.settled_at = PromiseState.BROKEN.value, now
        await clocks.stop(session, case_id=case.id, kind=ClockKind.PROMISE, subject_id=promise.id, now=now,
                          outcome="cancelled")
        audit.record(session, case_id=case.id, actor=actor, action="promise.broken", at=now,
                     promise_id=promise.id)
    return len(promises)


async def open_promises(session: AsyncSession, case_id: int) -> list[Promise]:
    """The case's open promises, soonest due first."""
    return list(await session.scalars(
        select(Promise).where(Promise.case_id == case_id, Promise.state == PromiseState.OPEN.value)
        .order_by(Promise.due_at)))
