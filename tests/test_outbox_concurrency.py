"""The dispatcher without head-of-line blocking: a slow call holds back only its own lane, a lane stays
in order, stop() lets calls finish, and a surge card whose row the runner holds is deferred, not waited on."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import utcnow
from bot.kinds import SURGE_POST, post_lane
from bot.metrics import Metrics
from bot.models import OutboxItem, OutboxStatus, Surge
from bot.outbox import LOCKED_RETRY, Defer, Dispatcher, enqueue
from bot.ports import ChatPort, MessageRef
from bot.settings import Outbox
from bot.surge_delivery import surge_jobs

KIND = "test.call"
INSTANCE = "test-1"
LONG = 60  # seconds: only how long a broken test hangs before failing, never part of what is asserted


class GatedJob:
    """Sends a row's `name`; a name with a gate waits in `send` until the gate opens."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.done: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.sent: list[str] = []
        self.cancelled: list[str] = []
        self.reconciled: list[str] = []

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> str:
        return str(item.payload["name"])

    async def send(self, item: OutboxItem, name: str) -> str:
        self.started[name].set()
        if name in self.gates:
            try:
                await self.gates[name].wait()
            except asyncio.CancelledError:
                self.cancelled.append(name)
                raise
        self.sent.append(name)
        self.done[name].set()
        return name

    async def reconcile(self, item: OutboxItem, name: str) -> None:
        self.reconciled.append(name)

    async def complete(self, session: AsyncSession, item: OutboxItem, prepared: Any, ref: str | None) -> None:
        pass

    async def fail(self, session: AsyncSession, item: OutboxItem, error: str) -> None:
        pass

    async def delayed(self, session: AsyncSession, item: OutboxItem) -> None:
        pass


def dispatcher(maker: async_sessionmaker[AsyncSession], jobs: dict[str, Any], *,
               clock: Callable[[], datetime] = utcnow) -> Dispatcher:
    return Dispatcher(maker=maker, jobs=jobs, config=Outbox(), intervals={}, metrics=Metrics(),
                      instance=INSTANCE, clock=clock)


async def add(maker: async_sessionmaker[AsyncSession], name: str, lane: str) -> int:
    async with maker.begin() as session:
        item = enqueue(session, kind=KIND, lane=lane, now=utcnow(), payload={"name": name})
        await session.flush()
        return item.id


async def row(maker: async_sessionmaker[AsyncSession], row_id: int) -> OutboxItem:
    async with maker() as session:
        item = await session.get(OutboxItem, row_id)
    assert item is not None
    return item


async def soon(what: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(what, LONG)


async def until(maker: async_sessionmaker[AsyncSession], row_id: int, ok: Callable[[OutboxItem], bool]) -> None:
    """Poll a row until `ok` (bounded only by LONG: never a timed assertion)."""
    async def poll() -> None:
        while not ok(await row(maker, row_id)):
            await asyncio.sleep(0.01)
    await soon(poll())


async def test_a_slow_call_holds_back_only_its_own_lane(maker: async_sessionmaker[AsyncSession]) -> None:
    job = GatedJob()
    job.gates["slow"] = asyncio.Event()
    d = dispatcher(maker, {KIND: job})
    slow = await add(maker, "slow", "reply:webhook")
    runner = asyncio.create_task(d.run())
    await soon(job.started["slow"].wait())
    fast = await add(maker, "fast", post_lane("C1"))
    d.wake()
    await soon(job.done["fast"].wait())  # delivered while the other call still waits
    assert job.sent == ["fast"]
    assert (await row(maker, slow)).status == OutboxStatus.INFLIGHT
    job.gates["slow"].set()
    await soon(job.done["slow"].wait())
    d.stop()
    await soon(runner)
    assert [(await row(maker, i)).status for i in (slow, fast)] == [OutboxStatus.DONE, OutboxStatus.DONE]


async def test_a_lane_stays_in_order(maker: async_sessionmaker[AsyncSession]) -> None:
    job = GatedJob()
    job.gates["first"] = asyncio.Event()
    d = dispatcher(maker, {KIND: job})
    await add(maker, "first", "reply:webhook")
    second = await add(maker, "second", "reply:webhook")
    runner = asyncio.create_task(d.run())
    await soon(job.started["first"].wait())
    await add(maker, "other", "reply:x")
    d.wake()
    # `other` was claimed after `second` was due, so that claim passed `second` over
    await soon(job.done["other"].wait())
    assert "second" not in job.started
    assert (await row(maker, second)).status == OutboxStatus.PENDING
    job.gates["first"].set()
    await soon(job.done["second"].wait())
    assert job.sent == ["other", "first", "second"]
    d.stop()
    await soon(runner)


async def test_stop_lets_calls_under_way_finish(maker: async_sessionmaker[AsyncSession]) -> None:
    job = GatedJob()
    job.gates["slow"] = asyncio.Event()
    d = dispatcher(maker, {KIND: job})
    slow = await add(maker, "slow", "reply:webhook")
    runner = asyncio.create_task(d.run())
    await soon(job.started["slow"].wait())
    d.stop()
    later = await add(maker, "later", post_lane("C1"))
    d.wake()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not runner.done()  # still waiting for the call under way
    job.gates["slow"].set()
    await soon(runner)
    assert job.sent == ["slow"] and not job.cancelled
    assert (await row(maker, slow)).status == OutboxStatus.DONE
    assert (await row(maker, later)).status == OutboxStatus.PENDING  # nothing new after stop()


class DeferringJob(GatedJob):
    """A job whose prepare says "not yet" (a card not posted yet, a row the runner holds)."""

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        self.done[str(item.payload["name"])].set()
        return Defer(timedelta(seconds=30), "not yet")


async def test_a_deferred_row_claimed_to_reconcile_is_still_reconciled(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    # its lease ran out mid-call: it may have been sent; deferring must not forget that
    job = DeferringJob()
    row_id = await add(maker, "maybe sent", post_lane("C1"))
    async with maker.begin() as session:
        item = await session.get(OutboxItem, row_id)
        assert item is not None
        item.status, item.attempts, item.not_before = OutboxStatus.INFLIGHT.value, 1, utcnow()
    d = dispatcher(maker, {KIND: job})
    assert await d.tick() == 1
    after = await row(maker, row_id)
    assert after.status == OutboxStatus.INFLIGHT and after.not_before > utcnow()  # reconciled when claimed


class BrokenJob(GatedJob):
    """A job with a bug: its send raises something no port would (a card that does not render)."""

    async def send(self, item: OutboxItem, name: str) -> str:
        self.done[name].set()
        raise KeyError("status.unheard_of")


async def test_a_job_that_raises_is_retried_with_backoff_and_not_lost_or_looping(
    maker: async_sessionmaker[AsyncSession],
) -> None:
    async def running(d: Dispatcher, row_id: int, ok: Callable[[OutboxItem], bool]) -> OutboxItem:
        runner = asyncio.create_task(d.run())
        try:
            await until(maker, row_id, ok)
        finally:
            d.stop()
            await soon(runner)
        return await row(maker, row_id)

    broken = await add(maker, "broken", post_lane("C1"))
    failed = await running(dispatcher(maker, {KIND: BrokenJob()}), broken, lambda r: bool(r.last_error))
    # whether it went out is unknown: in flight (to reconcile first), backed off, the error kept
    assert failed.status == OutboxStatus.INFLIGHT and "KeyError" in (failed.last_error or "")
    assert failed.not_before > utcnow() and failed.attempts == 1

    # and after `outbox.max_attempts` it is given up (dead, with its error), not tried forever
    d = Dispatcher(maker=maker, jobs={KIND: BrokenJob()}, config=Outbox(max_attempts=1), intervals={},
                   metrics=Metrics(), instance=INSTANCE)
    given_up = await add(maker, "given up", post_lane("C2"))
    dead = await running(d, given_up, lambda r: r.status == OutboxStatus.DEAD)
    assert dead.status == OutboxStatus.DEAD and "KeyError" in (dead.last_error or "")


async def test_cancelled_call_is_reconciled_after_the_lease(maker: async_sessionmaker[AsyncSession]) -> None:
    job = GatedJob()
    job.gates["slow"] = asyncio.Event()
    d = dispatcher(maker, {KIND: job})
    slow = await add(maker, "slow", "reply:webhook")
    runner = asyncio.create_task(d.run())
    await soon(job.started["slow"].wait())
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await soon(runner)
    assert job.cancelled == ["slow"]
    left = await row(maker, slow)
    assert left.status == OutboxStatus.INFLIGHT and left.claimed_by == INSTANCE and left.attempts == 1

    job.gates.clear()
    after_lease = dispatcher(maker, {KIND: job}, clock=lambda: utcnow() + Outbox().lease + timedelta(seconds=1))
    assert await soon(after_lease.tick()) == 1
    assert job.reconciled == ["slow"] and job.sent == ["slow"]
    assert (await row(maker, slow)).status == OutboxStatus.DONE


async def test_tick_delivers_what_it_claimed_before_returning(maker: async_sessionmaker[AsyncSession]) -> None:
    job = GatedJob()
    d = dispatcher(maker, {KIND: job})
    ids = [await add(maker, f"m{i}", post_lane(f"C{i % 3}")) for i in range(6)]
    assert await soon(d.tick()) == 3  # one per lane
    assert sorted(job.sent) == ["m0", "m1", "m2"]
    assert await soon(d.tick()) == 3
    assert await soon(d.tick()) == 0
    assert {(await row(maker, i)).status for i in ids} == {OutboxStatus.DONE}


@dataclass
class SurgeChat:
    """Just enough of a `ChatPort` for the alert card."""

    posted: list[str]

    async def post_surge(self, *, channel: str, alert: Any, marker: str) -> MessageRef:
        self.posted.append(alert.ref)
        return MessageRef(channel, f"{len(self.posted)}.0001")


async def test_surge_card_whose_row_is_locked_is_deferred_not_waited_on(
        db_url: str, maker: async_sessionmaker[AsyncSession]) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's (SQLite serialises writers instead)")
    now = utcnow()
    async with maker.begin() as session:
        surge = Surge(ref="S-1", scope="org", key="org", label="storing", level="surge", severity="high",
                      started_at=now, raised_at=now, updated_at=now, card_channel="C-ALERTS")
        session.add(surge)
        await session.flush()
        item = enqueue(session, kind=SURGE_POST, lane=post_lane("C-ALERTS"), now=now,
                       payload={"surge_id": surge.id})
        await session.flush()
        surge_id, row_id = surge.id, item.id
    chat = SurgeChat(posted=[])
    at = [utcnow()]
    d = dispatcher(maker, dict(surge_jobs(cast(ChatPort, chat))), clock=lambda: at[0])

    async with maker.begin() as runner_round:  # like the surge runner's round: the open surge locked
        await runner_round.execute(select(Surge).where(Surge.id == surge_id).with_for_update())
        assert await soon(d.tick()) == 1  # does not wait for the lock
        deferred = await row(maker, row_id)
        assert deferred.status == OutboxStatus.PENDING and deferred.attempts == 0
        assert "locked" in (deferred.last_error or "")
        assert deferred.not_before > at[0] and chat.posted == []
        at[0] += LOCKED_RETRY
        assert await soon(d.tick()) == 1  # due again while still locked: deferred again
        assert chat.posted == []
    at[0] += LOCKED_RETRY * 2
    assert await soon(d.tick()) == 1
    assert chat.posted == ["S-1"]
    done = await row(maker, row_id)
    assert done.status == OutboxStatus.DONE and done.attempts == 1
    async with maker() as session:
        assert (await session.get_one(Surge, surge_id)).card_ts == "1.0001"
