"""Deadlines and their ladders: remind, nudge at due, escalate to coordinator, then manager.

Every deadline is a `Clock` row. What is due is always read from the database (`next_at`, indexed
over running clocks only), so a restart loses nothing and a sweep costs what is due, not what is
stored. The sweep claims due clocks with `FOR UPDATE SKIP LOCKED` and takes a rung in the same
transaction as the messages it queues: each rung is taken exactly once, by one instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kinds import CARD_UPDATE, MESSAGE, NOTE, UPDATE_LANE, post_lane
from bot.models import Approval, Case, CaseEvent, Clock, ClockKind, ExpertRequest
from bot.outbox import enqueue_many, outbox_row, pending_cases
from bot.settings import AppConfig
from bot.team import Role, Team


@dataclass(frozen=True)
class Rung:
    """One step of a ladder: `offset` from the due time, who is told, and the message's event."""

    offset: timedelta
    audience: str
    """owner, coordinators, managers, backups or experts"""
    event: str


class Timeline:
    """Where deadlines and rungs fall: plain time, or office time for clocks that run in office hours."""

    def __init__(self, add: Callable[[datetime, timedelta], datetime] | None = None) -> None:
        self._add = add

    def at(self, due: datetime, offset: timedelta, *, office: bool = False) -> datetime:
        """`offset` after (or, if negative, before) `due`, counted in office time when `office`."""
        if self._add is None or not office or offset < timedelta(0):
            return due + offset
        return self._add(due, offset)

    def deadline(self, start: datetime, duration: timedelta, *, office: bool = False) -> datetime:
        """The due time of something that must be done within `duration` of `start`."""
        return self.at(start, duration, office=office)


def ladder(kind: str, cfg: AppConfig) -> list[Rung]:
    """The rungs of a clock of `kind`, in order."""
    steps = list(cfg.escalation.steps)
    remind = cfg.escalation.remind_before
    if kind == ClockKind.APPROVAL:
        timeout = cfg.approvals.timeout
        return [Rung(timedelta(0), "backups", "approval_backup"),
                Rung(timeout, "managers", "approval_manager")]
    first = ("experts", "expert_due") if kind == ClockKind.EXPERT else ("owner", f"{kind}_due")
    rungs = []
    if remind > timedelta(0) and kind != ClockKind.EXPERT:
        rungs.append(Rung(-remind, "owner", f"{kind}_remind"))
    rungs.append(Rung(timedelta(0), *first))
    for step, audience in zip(steps, ("coordinators", "managers"), strict=False):
        rungs.append(Rung(step, audience, f"{kind}_escalated"))
    return rungs


def _next_rung(clock: Clock, rungs: list[Rung], timeline: Timeline) -> tuple[int, datetime | None]:
    """The first rung from `clock.step` on that still lies ahead of the clock's start, and its time."""
    step = clock.step
    while step < len(rungs):
        at = timeline.at(clock.due_at, rungs[step].offset, office=clock.office_time)
        if at > clock.started_at or rungs[step].offset >= timedelta(0):
            return step, at
        step += 1  # a reminder before the clock even started: skip it
    return step, None


def start(
    session: AsyncSession, *, case_id: int, kind: str, due_at: datetime, now: datetime, cfg: AppConfig,
    timeline: Timeline, owner: str | None = None, subject_id: int | None = None, office_time: bool = False,
) -> Clock:
    """Start a clock; the sweep takes its first rung when it is due (rungs in office time if `office_time`)."""
    clock = Clock(case_id=case_id, kind=str(kind), subject_id=subject_id, owner=owner, started_at=now,
                  due_at=due_at, step=0, next_at=None, office_time=office_time)
    clock.step, clock.next_at = _next_rung(clock, ladder(kind, cfg), timeline)
    session.add(clock)
    return clock


async def stop(
    session: AsyncSession, *, case_id: int, kind: str, now: datetime, subject_id: int | None = None,
    outcome: str | None = None, started_before: datetime | None = None,
) -> list[Clock]:
    """Stop the running clocks of `kind` on a case (met in time, late, or cancelled).

    `started_before`: only clocks started before then (a reply answers what was asked before it).
    """
    query = select(Clock).where(Clock.case_id == case_id, Clock.kind == str(kind), Clock.stopped_at.is_(None))
    if subject_id is not None:
        query = query.where(Clock.subject_id == subject_id)
    if started_before is not None:
        query = query.where(Clock.started_at <= started_before)
    clocks = list(await session.scalars(query.with_for_update()))
    for clock in clocks:
        clock.stopped_at, clock.next_at = now, None
        clock.outcome = outcome or ("met" if now <= clock.due_at else "late")
    return clocks


async def reassign(session: AsyncSession, *, case_id: int, owner: str) -> None:
    """The case has a new owner: the running clocks nudge them from now on."""
    await session.execute(
        update(Clock).where(Clock.case_id == case_id, Clock.stopped_at.is_(None),
                            Clock.kind.in_([ClockKind.FIRST_RESPONSE.value, ClockKind.PROMISE.value]))
        .values(owner=owner))


async def own_if_unowned(session: AsyncSession, case: Case, actor: str) -> None:
    """Acting on an unowned case makes `actor` its owner, and the one its clocks nudge."""
    if case.owner is None:
        case.owner = actor
        await reassign(session, case_id=case.id, owner=actor)


@dataclass
class Sweeper:
    """Takes the due rungs of every ladder (one call = one batch, in the caller's transaction).

    A batch costs a fixed number of statements whatever its size: one claim, one read of the cases,
    one of the expert questions, one check for pending card updates, one insert of outbox rows, one of
    audit events, and the clocks' own updates.
    """

    cfg: AppConfig
    team: Team
    timeline: Timeline
    batch: int = 200

    async def sweep(self, session: AsyncSession, *, now: datetime) -> int:
        """Take every rung due by `now` (at most `batch` clocks); return how many were taken."""
        with session.no_autoflush:
            clocks = list(await session.scalars(
                select(Clock).where(Clock.next_at.is_not(None), Clock.next_at <= now)
                .order_by(Clock.next_at).limit(self.batch).with_for_update(skip_locked=True)))
            if not clocks:
                return 0
            case_ids = sorted({c.case_id for c in clocks})
            cases = {c.id: c for c in await session.scalars(select(Case).where(Case.id.in_(case_ids)))}
            expert_ids = [c.subject_id for c in clocks if c.kind == ClockKind.EXPERT and c.subject_id]
            experts = {r.id: list(r.experts) for r in await session.scalars(
                select(ExpertRequest).where(ExpertRequest.id.in_(expert_ids)))} if expert_ids else {}
            updated = await pending_cases(session, case_ids=case_ids, kind=CARD_UPDATE)
            rows: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            taken = 0
            for clock in clocks:
                case = cases.get(clock.case_id)
                if case is None:
                    clock.next_at = None
                    continue
                if (case.snoozed_until is not None and case.snoozed_until > now
                        and clock.kind != ClockKind.APPROVAL):
                    clock.next_at = case.snoozed_until  # snoozed: the ladder waits, nothing is skipped
                    continue
                rungs = ladder(clock.kind, self.cfg)
                if clock.step < len(rungs):
                    people = self._audience(clock, rungs[clock.step].audience, experts)
                    self._take(rows, events, clock, case, rungs[clock.step], people, now=now)
                    if case.id not in updated:  # the card shows what is late (one update per case)
                        updated.add(case.id)
                        rows.append(outbox_row(kind=CARD_UPDATE, lane=UPDATE_LANE, case_id=case.id, now=now))
                    taken += 1
                clock.step += 1
                clock.step, clock.next_at = _next_rung(clock, rungs, self.timeline)
            await enqueue_many(session, rows)
            if events:
                await session.execute(insert(CaseEvent), events)
        return taken

    @staticmethod
    def _take(rows: list[dict[str, Any]], events: list[dict[str, Any]], clock: Clock, case: Case, rung: Rung,
              people: list[str], *, now: datetime) -> None:
        params: dict[str, Any] = {"due": clock.due_at.isoformat(), "kind": clock.kind}
        if clock.owner:
            params["owner"] = clock.owner
        for person in people:
            rows.append(outbox_row(kind=MESSAGE, lane=post_lane(person), case_id=case.id, now=now, payload={
                "to": person, "event": rung.event, "params": params, "clock_id": clock.id}))
        if case.card_channel:
            note = {"event": rung.event, "params": {**params, "people": " ".join(people)}}
            rows.append(outbox_row(kind=NOTE, lane=post_lane(case.card_channel), case_id=case.id, now=now,
                                   payload=note))
        events.append({"case_id": case.id, "actor": "system", "action": f"clock.{rung.event}", "at": now,
                       "detail": {"clock_id": clock.id, "to": people}})

    def _audience(self, clock: Clock, audience: str, experts: dict[int, list[str]]) -> list[str]:
        team = self.team
        if audience == "owner":
            return [clock.owner] if clock.owner else []
        if audience == "coordinators":
            return team.members(Role.COORDINATOR) or team.members(Role.MANAGER)
        if audience == "managers":
            return team.members(Role.MANAGER)
        if audience == "backups":
            return team.members(Role.BACKUP_SPOKESPERSON) or team.members(Role.MANAGER)
        if audience == "experts" and clock.subject_id is not None:
            return experts.get(clock.subject_id, [])
        return []


async def approval_pending(session: AsyncSession, case_id: int) -> Approval | None:
    """The case's approval still waiting for a decision, if any."""
    return await session.scalar(
        select(Approval).where(Approval.case_id == case_id, Approval.state == "pending")
        .order_by(Approval.id.desc()).limit(1))
