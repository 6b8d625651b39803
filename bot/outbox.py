"""The transactional outbox: every outbound call is a row written with the state change causing it.

The dispatcher claims due rows (marking them in flight with a lease before calling out), delivers them
through a `Job` per kind, and records the provider's id afterwards. A row whose lease ran out has an
unknown outcome: its job reconciles (looks for what we may already have sent) before sending again.
Lanes pace rate-limited destinations (about one Slack post per second per channel) across instances.
Deliveries run side by side (up to `outbox.batch`, one per lane), so a slow call holds back only its lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, insert, literal_column, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.logs import correlation_id
from bot.metrics import Metrics
from bot.models import OPEN_OUTBOX, Lane, OutboxItem, OutboxStatus
from bot.ports import DeliveryError, PermanentError, RateLimited, UnknownOutcome
from bot.settings import Outbox as OutboxConfig
from bot.sql import insert_ignore

log = logging.getLogger(__name__)
OPEN_OUTBOX_SQL: list[ColumnElement[str]] = [literal_column(f"'{status}'") for status in OPEN_OUTBOX]
MIN_IDLE_GAP = 0.05
LOCKED_RETRY = timedelta(seconds=1)
"""How soon a row whose `prepare` met a row locked by another transaction is tried again."""
LOCK_NOT_AVAILABLE = "55P03"
_Row = TypeVar("_Row")


def new_key() -> str:
    """A fresh idempotency key for an outbox row."""
    return secrets.token_urlsafe(18)


def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    lane: str,
    now: datetime,
    payload: dict[str, Any] | None = None,
    case_id: int | None = None,
    delay: timedelta = timedelta(0),
) -> OutboxItem:
    """Add an outbound call to the current transaction."""
    item = OutboxItem(
        key=new_key(), kind=kind, lane=lane, case_id=case_id, payload=payload or {},
        status=OutboxStatus.PENDING.value, attempts=0, not_before=now + delay, created_at=now,
    )
    session.add(item)
    return item


def outbox_row(
    *, kind: str, lane: str, now: datetime, payload: dict[str, Any] | None = None,
    case_id: int | None = None,
) -> dict[str, Any]:
    """A row for `enqueue_many` (the bulk form of `enqueue`)."""
    return {"key": new_key(), "kind": kind, "lane": lane, "case_id": case_id,
            "payload": payload or {}, "status": OutboxStatus.PENDING.value, "attempts": 0,
            "not_before": now, "created_at": now}


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Add many outbound calls to the current transaction in one statement."""
    if rows:
        await session.execute(insert(OutboxItem), rows)


async def pending_cases(session: AsyncSession, *, case_ids: list[int], kind: str) -> set[int]:
    """Which of the cases already have a not-yet-started row of `kind` (to coalesce updates)."""
    if not case_ids:
        return set()
    rows = await session.scalars(
        select(OutboxItem.case_id).where(
            OutboxItem.case_id.in_(case_ids), OutboxItem.kind == kind,
            OutboxItem.status == literal_column("'pending'")))
    return {r for r in rows if r is not None}


async def has_pending(session: AsyncSession, *, case_id: int, kind: str) -> bool:
    """Whether a not-yet-started row of `kind` exists for the case (to coalesce updates)."""
    return bool(await pending_cases(session, case_ids=[case_id], kind=kind))


@dataclass(frozen=True)
class Defer:
    """Not yet possible (e.g. the card is not posted yet): look again after `delay`.

    A deferred row is given up after `outbox.max_age` unless `waits_forever` (nothing is lost while
    the chat transport is simply not configured yet)."""

    delay: timedelta
    reason: str
    waits_forever: bool = False


class RowLocked(Exception):
    """A row `prepare` needs is locked by another transaction: the dispatcher defers, it does not wait."""


async def get_for_update(session: AsyncSession, model: type[_Row], ident: Any) -> _Row | None:
    """Load a row and lock it; on PostgreSQL raise `RowLocked` instead of waiting for another holder."""
    if session.get_bind().dialect.name != "postgresql":  # SQLite: no row locks, the writer lock serialises
        return await session.get(model, ident, with_for_update=True)
    try:
        return await session.get(model, ident, with_for_update={"nowait": True})
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise RowLocked(f"{model.__name__} {ident} is locked by another transaction") from exc
        raise


@dataclass(frozen=True)
class Skip:
    """Nothing to send any more (superseded or moot)."""

    reason: str


class Job(Protocol):
    """How one kind of outbox row is delivered."""

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        """Read what the call needs; may return Defer or Skip."""
        ...

    async def send(self, item: OutboxItem, prepared: Any) -> str | None:
        """Make the call; return the provider's reference."""
        ...

    async def reconcile(self, item: OutboxItem, prepared: Any) -> str | None:
        """After an unknown outcome: the provider's reference if it was delivered, else None."""
        ...

    async def complete(
        self, session: AsyncSession, item: OutboxItem, prepared: Any, ref: str | None
    ) -> None:
        """Record the success (in the same transaction that marks the row done)."""
        ...

    async def fail(self, session: AsyncSession, item: OutboxItem, error: str) -> None:
        """Record a permanent failure so people can see it (e.g. on the card)."""
        ...

    async def delayed(self, session: AsyncSession, item: OutboxItem) -> None:
        """The provider holds the row back (rate limit, quota): let people see until when."""
        ...


@dataclass
class _Claimed:
    item: OutboxItem
    reconcile: bool


def lane_interval(lane: str, intervals: Mapping[str, timedelta]) -> timedelta:
    """The pacing of a lane: the interval of its longest matching prefix (zero: unpaced)."""
    best = ""
    for prefix in intervals:
        if lane.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return intervals.get(best, timedelta(0))


class Dispatcher:
    """Delivers outbox rows: claim, call, record; paced per lane; safe across crashes and instances."""

    def __init__(
        self,
        *,
        maker: async_sessionmaker[AsyncSession],
        jobs: Mapping[str, Job],
        config: OutboxConfig,
        intervals: Mapping[str, timedelta],
        metrics: Metrics,
        instance: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._maker = maker
        self._jobs = jobs
        self._cfg = config
        self._intervals = intervals
        self._metrics = metrics
        self._instance = instance
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: dict[asyncio.Task[None], str] = {}
        """This instance's deliveries under way, with their lanes (one per lane keeps a lane in order)."""

    def wake(self) -> None:
        """Look for work now (called after a transaction that enqueued rows commits)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stopped; claims whenever a delivery ends, when woken, each poll, or a row is due.

        Up to `outbox.batch` deliveries run at once, so a slow call holds back only its own lane. After
        `stop()` the deliveries under way finish; if this task is cancelled they are cancelled too, and
        their rows stay in flight to be reconciled after the lease (as after a crash)."""
        try:
            while not self._stopping:
                self._wake.clear()  # before claiming: a delivery ending or a commit meanwhile is not missed
                started: list[asyncio.Task[None]] = []
                try:
                    started = await self._start()
                except Exception:  # the loop must survive a database hiccup; the row stays claimable
                    log.exception("outbox claim failed")
                if started:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._cfg.poll.total_seconds())
                # Coalesce a burst of commits into one claim instead of one claim per commit.
                await asyncio.sleep(MIN_IDLE_GAP)
            await asyncio.gather(*self._inflight, return_exceptions=True)
        finally:
            for task in list(self._inflight):
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)

    def stop(self) -> None:
        """Ask the loop to end: it claims nothing more and returns once its deliveries finished."""
        self._stopping = True
        self._wake.set()

    async def tick(self) -> int:
        """Claim what is due and deliver it, returning when those deliveries ended; how many were claimed.

        For tests and replays, which move on only when the step's calls are done (`run` does not wait)."""
        started = await self._start(log_errors=False)
        if started:
            await asyncio.gather(*started)
        return len(started)

    async def _start(self, *, log_errors: bool = True) -> list[asyncio.Task[None]]:
        """Claim rows for the free delivery slots and start delivering them."""
        room = self._cfg.batch - len(self._inflight)
        if room <= 0:
            return []
        claimed = await self._claim(limit=room, busy=set(self._inflight.values()))
        started = []
        for c in claimed:
            task = asyncio.create_task(self._deliver_logged(c) if log_errors else self._deliver(c),
                                       name=f"outbox-{c.item.id}")
            self._inflight[task] = c.item.lane
            task.add_done_callback(self._ended)
            started.append(task)
        return started

    def _ended(self, task: asyncio.Task[None]) -> None:
        del self._inflight[task]
        self._wake.set()  # the lane and a slot are free: claim again

    async def _deliver_logged(self, claimed: _Claimed) -> None:
        item = claimed.item
        try:
            await self._deliver(claimed)
        except Exception as exc:  # a bug (say, a card that does not render) or the database went away
            log.exception("outbox row %s (%s) could not be handled", item.id, item.kind)
            job = self._jobs.get(item.kind)
            if job is None:
                return
            try:  # whether it was sent is unknown: reconcile, back off, and give up after max_attempts
                await self._retry(item, UnknownOutcome(f"{type(exc).__name__}: {exc}"), job)
            except Exception:  # the database is away: the row stays in flight and is reconciled later
                log.exception("outbox row %s (%s) could not be released", item.id, item.kind)

    async def _claim(self, *, limit: int, busy: set[str]) -> list[_Claimed]:
        """Mark up to `limit` due rows in flight, at most one per lane and none of the `busy` lanes."""
        now = self._clock()
        lease = self._cfg.lease
        async with self._maker.begin() as session:
            # Literal statuses so the planner can use the partial index ix_outbox_due; rows whose
            # lane is still paced are not even read, so a long queue for one channel costs nothing.
            rows = list(
                await session.scalars(
                    select(OutboxItem)
                    .outerjoin(Lane, Lane.key == OutboxItem.lane)
                    .where(OutboxItem.status.in_(OPEN_OUTBOX_SQL), OutboxItem.not_before <= now,
                           or_(Lane.next_at.is_(None), Lane.next_at <= now),
                           *([OutboxItem.lane.not_in(sorted(busy))] if busy else []))
                    .order_by(OutboxItem.not_before, OutboxItem.id)
                    .limit(self._cfg.batch * 4)
                    .with_for_update(skip_locked=True, of=OutboxItem)
                )
            )
            if not rows:
                return []
            paced = sorted({r.lane for r in rows if lane_interval(r.lane, self._intervals)})
            lanes: dict[str, Lane] = {}
            if paced:
                await session.execute(
                    insert_ignore(session, Lane, ["key"]),
                    [{"key": k, "next_at": now} for k in paced],
                )
                lanes = {
                    lane.key: lane
                    for lane in await session.scalars(
                        select(Lane).where(Lane.key.in_(paced)).order_by(Lane.key).with_for_update()
                    )
                }
            picked: list[_Claimed] = []
            taken = set(busy)
            for row in rows:
                if len(picked) >= limit:
                    break
                if row.lane in taken:  # one delivery per lane at a time keeps the lane in order
                    continue
                taken.add(row.lane)
                lane = lanes.get(row.lane)
                if lane is not None:
                    if lane.next_at > now:
                        continue
                    lane.next_at = now + lane_interval(row.lane, self._intervals)
                reconcile = row.status == OutboxStatus.INFLIGHT.value
                row.status = OutboxStatus.INFLIGHT.value
                row.attempts += 1
                row.claimed_by = self._instance
                row.not_before = now + lease
                picked.append(_Claimed(row, reconcile))
            return picked

    async def _deliver(self, claimed: _Claimed) -> None:
        item = claimed.item
        correlation_id.set(f"outbox-{item.id}")
        job = self._jobs.get(item.kind)
        if job is None:
            await self._finish(item, OutboxStatus.DEAD, error=f"no job for kind {item.kind!r}")
            return
        try:
            async with self._maker.begin() as session:
                prepared = await job.prepare(session, item)
        except RowLocked as exc:  # held by another transaction (the surge runner's round): soon again
            prepared = Defer(LOCKED_RETRY, str(exc))
        if isinstance(prepared, Defer):
            if not prepared.waits_forever and self._clock() - item.created_at > self._cfg.max_age:
                await self._finish(item, OutboxStatus.DEAD, error=f"gave up: {prepared.reason}", job=job)
            else:
                # a row claimed to reconcile stays in flight: it may have been sent, so the next claim
                # looks for it before sending (else a deferred post could be posted twice)
                await self._release(item, delay=prepared.delay, error=prepared.reason, count=False,
                                    keep_inflight=claimed.reconcile)
            return
        if isinstance(prepared, Skip):
            await self._finish(item, OutboxStatus.SKIPPED, error=prepared.reason)
            return
        try:
            ref = await job.reconcile(item, prepared) if claimed.reconcile else None
            if ref is not None:
                log.info("outbox row %s was already delivered (reconciled)", item.id)
                self._metrics.outbox_reconciled.inc()
            else:
                ref = await job.send(item, prepared)
        except RateLimited as exc:
            self._metrics.ratelimited.labels(lane=item.lane.split(":")[0]).inc()
            await self._rate_limited(item, exc.retry_after, job)
            return
        except PermanentError as exc:
            await self._finish(item, OutboxStatus.DEAD, error=str(exc), job=job)
            return
        except DeliveryError as exc:
            await self._retry(item, exc, job)
            return
        await self._finish(item, OutboxStatus.DONE, ref=ref, job=job, prepared=prepared)

    def _backoff(self, attempts: int) -> timedelta:
        base = self._cfg.backoff_base.total_seconds()
        delay = min(self._cfg.backoff_max.total_seconds(), base * 2 ** max(0, attempts - 1))
        jitter = secrets.randbelow(1000) / 1000 * 0.2 * delay
        return timedelta(seconds=delay + jitter)

    async def _retry(self, item: OutboxItem, exc: DeliveryError, job: Job) -> None:
        now = self._clock()
        if item.attempts >= self._cfg.max_attempts or now - item.created_at > self._cfg.max_age:
            await self._finish(item, OutboxStatus.DEAD, error=f"gave up: {exc}", job=job)
            return
        log.warning("outbox row %s (%s) failed, will retry: %s", item.id, item.kind, exc)
        # An unknown outcome stays in flight, so that the next claim reconciles before resending.
        unknown = isinstance(exc, UnknownOutcome)
        await self._release(item, delay=self._backoff(item.attempts), error=str(exc), count=True,
                            keep_inflight=unknown)

    async def _rate_limited(self, item: OutboxItem, retry_after: float, job: Job) -> None:
        now = self._clock()
        until = now + timedelta(seconds=max(retry_after, 0.1))
        async with self._maker.begin() as session:
            await session.execute(
                insert_ignore(session, Lane, ["key"]), [{"key": item.lane, "next_at": until}]
            )
            await session.execute(update(Lane).where(Lane.key == item.lane).values(next_at=until))
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.claimed_by == self._instance)
                .values(status=OutboxStatus.PENDING.value, attempts=OutboxItem.attempts - 1,
                        not_before=until, last_error=f"rate limited for {retry_after:g}s")
            )
            await job.delayed(session, item)

    async def _release(
        self, item: OutboxItem, *, delay: timedelta, error: str, count: bool, keep_inflight: bool = False
    ) -> None:
        status = OutboxStatus.INFLIGHT if keep_inflight else OutboxStatus.PENDING
        attempts = OutboxItem.attempts if count else OutboxItem.attempts - 1
        async with self._maker.begin() as session:
            await session.execute(
                update(OutboxItem)
                .where(OutboxItem.id == item.id, OutboxItem.claimed_by == self._instance)
                .values(status=status.value, attempts=attempts, not_before=self._clock() + delay,
                        last_error=error[:2000])
            )

    async def _finish(
        self,
        item: OutboxItem,
        status: OutboxStatus,
        *,
        ref: str | None = None,
        error: str | None = None,
        job: Job | None = None,
        prepared: Any = None,
    ) -> None:
        now = self._clock()
        async with self._maker.begin() as session:
            row = await session.get(OutboxItem, item.id, with_for_update=True)
            if row is None or row.claimed_by != self._instance or row.status != OutboxStatus.INFLIGHT:
                log.warning("outbox row %s was taken over before it finished here", item.id)
                return
            row.status = status.value
            row.finished_at = now
            row.provider_ref = ref
            row.last_error = error[:2000] if error else None
            if status is OutboxStatus.DONE and job is not None:
                await job.complete(session, row, prepared, ref)
                self._metrics.outbox_delivered.labels(kind=row.kind).inc()
            elif status is OutboxStatus.DEAD:
                log.error("outbox row %s (%s) failed permanently: %s", row.id, row.kind, error)
                self._metrics.outbox_dead.labels(kind=row.kind).inc()
                if job is not None:
                    await job.fail(session, row, error or "failed")
