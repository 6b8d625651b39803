"""What `/webcare` answers: my open cases and promises, what is overdue, today's figures."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Case, CaseStatus, Clock, Mention, Promise, PromiseState

LIMIT = 25
OPEN_STATES = (CaseStatus.OPEN.value, CaseStatus.CLAIMED.value)


@dataclass(frozen=True)
class CaseLine:
    ref: str
    status: str
    source: str
    author: str
    text: str
    card_channel: str | None
    card_ts: str | None


@dataclass(frozen=True)
class PromiseLine:
    what: str
    due: datetime
    card_channel: str | None
    card_ts: str | None


@dataclass(frozen=True)
class ClockLine:
    kind: str
    due: datetime
    owner: str | None
    card_channel: str | None
    card_ts: str | None


@dataclass(frozen=True)
class Mine:
    cases: tuple[CaseLine, ...]
    promises: tuple[PromiseLine, ...]
    total_cases: int


@dataclass(frozen=True)
class Stats:
    received: int
    answered: int
    median: timedelta | None
    p90: timedelta | None
    promises_open: int
    overdue: int
    kept: int
    late: int
    broken: int


async def mine(session: AsyncSession, *, user: str) -> Mine:
    """The user's open cases (newest first) and the open promises on cases they own."""
    total = await session.scalar(
        select(func.count()).select_from(Case).where(Case.owner == user, Case.status.in_(OPEN_STATES)))
    cases = list(await session.scalars(
        select(Case).where(Case.owner == user, Case.status.in_(OPEN_STATES))
        .order_by(Case.last_mention_at.desc()).limit(LIMIT)))
    lines = []
    for case in cases:
        m = await session.scalar(select(Mention).where(Mention.case_id == case.id)
                                 .order_by(Mention.created_at.desc()).limit(1))
        lines.append(CaseLine(ref=case.ref, status=case.status, source=case.source,
                              author=(m.author_handle or m.author_name or "?") if m else "?",
                              text=(m.text if m else "")[:120], card_channel=case.card_channel,
                              card_ts=case.card_ts))
    rows = await session.execute(
        select(Promise, Case.card_channel, Case.card_ts).join(Case, Case.id == Promise.case_id)
        .where(Promise.state == PromiseState.OPEN.value, Case.owner == user)  # also on answered cases
        .order_by(Promise.due_at).limit(LIMIT))
    promises = tuple(PromiseLine(what=p.what, due=p.due_at, card_channel=ch, card_ts=ts) for p, ch, ts in rows)
    return Mine(cases=tuple(lines), promises=promises, total_cases=total or 0)


async def overdue(session: AsyncSession, *, now: datetime) -> tuple[list[ClockLine], int]:
    """Running deadlines past due (oldest first, at most LIMIT) and how many there are."""
    running_late = (Clock.stopped_at.is_(None), Clock.due_at < now)
    total = await session.scalar(select(func.count()).select_from(Clock).where(*running_late))
    rows = await session.execute(
        select(Clock, Case.card_channel, Case.card_ts).join(Case, Case.id == Clock.case_id)
        .where(*running_late).order_by(Clock.due_at).limit(LIMIT))
    lines = [ClockLine(kind=c.kind, due=c.due_at, owner=c.owner, card_channel=ch, card_ts=ts)
             for c, ch, ts in rows]
    return lines, total or 0


async def stats(session: AsyncSession, *, now: datetime, tz: ZoneInfo) -> Stats:
    """Today's figures (the local calendar day): volume, first-response times, promises."""
    local = now.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(now.tzinfo)
    received = await session.scalar(select(func.count()).select_from(Case).where(
        Case.opened_at >= start, Case.status.not_in([CaseStatus.IMPORTED.value])))
    times = [
        fr - opened for opened, fr in await session.execute(
            select(Case.opened_at, Case.first_response_at).where(Case.first_response_at >= start))
        if fr is not None
    ]
    times.sort()
    median = statistics.median_low(times) if times else None
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))] if times else None
    promises_open = await session.scalar(select(func.count()).select_from(Promise).where(
        Promise.state == PromiseState.OPEN.value))
    late = await session.scalar(select(func.count()).select_from(Clock).where(
        Clock.stopped_at.is_(None), Clock.due_at < now))
    settled_states = [PromiseState.KEPT.value, PromiseState.BROKEN.value, PromiseState.CANCELLED.value]
    settled = dict(list(await session.execute(  # index (state, settled_at): today's only, not every promise
        select(Promise.state, func.count())
        .where(Promise.state.in_(settled_states), Promise.settled_at >= start).group_by(Promise.state))))
    kept_late = await session.scalar(select(func.count()).select_from(Promise).where(
        Promise.settled_at >= start, Promise.state == PromiseState.KEPT.value,
        Promise.settled_at > Promise.due_at))
    return Stats(received=received or 0, answered=len(times), median=median, p90=p90,
                 promises_open=promises_open or 0, overdue=late or 0,
                 kept=settled.get(PromiseState.KEPT.value, 0) - (kept_late or 0), late=kept_late or 0,
                 broken=settled.get(PromiseState.BROKEN.value, 0))
