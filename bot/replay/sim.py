"""The simulation behind `webcare replay`: the real pipeline, detector and outbox in simulated time.

A fresh SQLite database is migrated and a `Runtime` is built as the app factory builds one, but with
a recording chat transport and reply sink (`bot.replay.recorder`) instead of Slack and the networks,
and with every part reading the simulated clock. Time advances on a grid of `surge.check` steps:

1. the outbox dispatcher delivers whatever falls due up to the step, call by call, at the moment
   it would have gone (lanes keep Slack's pace: `slack.post_interval` per channel,
   `slack.update_interval` for updates);
2. the mentions created in the step are ingested in one transaction with `now` = the step's end
   (so `received_at` is the step's end, as if a webhook had delivered them then);
3. the surge runner counts what was received at least `SETTLE` before (the mentions of the previous
   step), raises or resolves alerts, and clusters the messages of threads in a storm;
4. the clock sweep takes the deadline rungs that are due.

Quiet stretches are skipped: a step is taken when mentions arrive, one step later (to count them),
once per surge `bucket` while a surge is open or mentions came in lately (so buckets close and
surges resolve on time), and when a deadline falls due. Between steps the dispatcher still works
call by call.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import lane_intervals
from bot.coord_delivery import coordination_jobs
from bot.craft.answers import build_craft
from bot.db import create_sessionmaker, upgrade
from bot.delivery import build_jobs
from bot.i18n import Translator
from bot.metrics import Metrics
from bot.models import Clock, Lane, OutboxItem
from bot.outbox import OPEN_OUTBOX_SQL, Dispatcher
from bot.pipeline import ingest
from bot.replay.engine import create_replay_engine
from bot.replay.recorder import Recorder, RecordingChat, RecordingSink
from bot.runtime import Runtime
from bot.schemas import MentionIn
from bot.services.coord import build_coord
from bot.settings import Settings
from bot.surge.events import SurgeEvent
from bot.surge.runner import SETTLE, SurgeRunner
from bot.surge_delivery import surge_jobs
from bot.triage.service import build_triage

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
INSTANCE = "replay"
MAX_IDLE_TICKS = 3


@dataclass(frozen=True)
class Observed:
    """A detector event and the simulated time the runner handled it (when the alert went out)."""

    event: SurgeEvent
    at: datetime


@dataclass
class Ingested:
    """What the pipeline said about the mentions it was given."""

    accepted: int = 0
    duplicates: int = 0
    new_cases: int = 0
    by_source: Counter[str] = field(default_factory=Counter)


def grid(at: datetime, step: timedelta) -> datetime:
    """The first step boundary at or after `at`."""
    n = math.ceil((at - EPOCH) / step)
    return EPOCH + n * step


NEXT_PER_LANE = (  # one statement: this runs before every call the dispatcher makes
    select(func.min(OutboxItem.not_before), Lane.next_at)
    .outerjoin(Lane, Lane.key == OutboxItem.lane)
    .where(OutboxItem.status.in_(OPEN_OUTBOX_SQL))
    .group_by(OutboxItem.lane, Lane.next_at)
)
"""Per lane with open rows: its earliest row and the lane's next free time (None: unpaced so far)."""


class Simulation:
    """One replay: build the runtime on the SQLite file `database`, run `mentions` through it, keep traces."""

    def __init__(self, settings: Settings, database: Path, *, step: timedelta | None = None) -> None:
        cfg = settings.config
        self.settings = settings
        self.now = EPOCH
        self.step = max(step or cfg.surge.check, 2 * SETTLE)
        engine = create_replay_engine(database)
        self.rt = Runtime(
            settings=settings,
            instance=INSTANCE,
            engine=engine,
            maker=create_sessionmaker(engine),
            metrics=Metrics(),
            t=Translator(cfg.locale, cfg.tz),
            coord=build_coord(cfg),
            triage=build_triage(cfg),
            craft=build_craft(cfg),
        )
        self._writes = Writes(engine)
        self._clock_due: datetime | None = None
        self._outbox_due: datetime | None = None
        self.recorder = Recorder(clock=self.clock)
        self.rt.chat = RecordingChat(self.recorder)
        self.rt.fallback_sink = RecordingSink(self.recorder)
        rt = self.rt
        self.dispatcher = Dispatcher(
            maker=rt.maker,
            jobs=build_jobs(
                rt.chat, rt.sinks, rt.metrics, compact_skipped=cfg.triage.skipped == "compact", coord=rt.coord
            )
            | coordination_jobs(rt.chat)
            | surge_jobs(rt.chat),
            config=cfg.outbox,
            intervals=lane_intervals(settings),
            metrics=rt.metrics,
            instance=INSTANCE,
            clock=self.clock,
        )
        # No other instance takes over and a replay does not crash: the detector's state is saved
        # once at the end, not every simulated minute (that was a tenth of a storm's replay), and
        # the lease is taken once (the rounds renew it) instead of in a transaction of its own.
        self.runner = SurgeRunner(rt, clock=self.clock, observer=self._observe, checkpoint=None, sole=True)
        self.events: list[Observed] = []
        self._hot: set[str] = set()
        self.ingested = Ingested()
        self.start: datetime | None = None
        self.end: datetime | None = None

    def clock(self) -> datetime:
        """The simulated time."""
        return self.now

    def _observe(self, event: SurgeEvent, at: datetime) -> None:
        self.events.append(Observed(event, at))
        if event.state == "resolved":
            self._hot.discard(event.key)
        else:
            self._hot.add(event.key)

    async def migrate(self) -> None:
        """Create the schema."""
        await upgrade(self.rt.engine)

    async def close(self) -> None:
        """Release the database."""
        await self.rt.engine.dispose()

    async def run(self, mentions: list[MentionIn], *, tail: timedelta) -> None:
        """Replay `mentions` (sorted by created_at), then `tail` more of simulated time."""
        if not mentions:
            return
        cfg = self.settings.config
        step, bucket = self.step, cfg.surge.bucket
        t = grid(mentions[0].created_at, step)
        self.start = self.now = t - step
        await self.runner.run_once()  # takes the lease on the empty database
        end = grid(mentions[-1].created_at, step) + tail
        i, last_round, last_arrival = 0, self.now, self.now
        while True:
            await self._deliver_until(t)
            self.now = t
            batch: list[MentionIn] = []
            while i < len(mentions) and mentions[i].created_at <= t:
                batch.append(mentions[i])
                i += 1
            if batch:
                await self._ingest(batch)
                last_arrival = t
            uncounted = bool(batch)
            await self.runner.run_once()
            last_round = t
            await self._sweep()
            if t >= end and i >= len(mentions):
                break
            ahead = [end]
            if self._hot or t - last_arrival < 2 * bucket:  # close buckets while something is going on
                ahead.append(grid(last_round + bucket, step))
            if uncounted:
                ahead.append(t + step)
            if i < len(mentions):
                ahead.append(grid(mentions[i].created_at, step))
            due = await self._next_clock()
            if due is not None:
                ahead.append(grid(due, step))
            t = max(t + step, min(ahead))
        self.end = self.now
        await self.runner.stop()  # saves the detector's state, as a server does when it stops

    async def _ingest(self, batch: list[MentionIn]) -> None:
        rt = self.rt
        async with rt.uow() as session:
            result = await ingest(
                session,
                batch,
                now=self.now,
                channel=rt.settings.config.channels.cards,
                triage=rt.triage,
                coord=rt.coord,
            )
        got = self.ingested
        got.accepted += result.accepted
        got.duplicates += result.duplicates
        got.new_cases += result.new_cases
        got.by_source.update(result.by_source)

    async def _sweep(self) -> None:
        due = await self._next_clock()
        if due is None or due > self.now:
            return  # nothing to take: the sweep would only have looked
        sweeper = self.rt.coord.sweeper()
        while True:
            async with self.rt.uow() as session:
                taken = await sweeper.sweep(session, now=self.now)
            if taken < sweeper.batch:
                return

    async def _next_clock(self) -> datetime | None:
        """When the next deadline rung falls due (asked again only after clocks were written)."""
        if self._writes.take("clocks"):
            async with self.rt.maker() as session:
                due = await session.scalar(select(func.min(Clock.next_at)).where(Clock.next_at.is_not(None)))
            self._clock_due = None if due is None else _aware(due)
        return self._clock_due

    async def _next_outbox(self) -> datetime | None:
        """When the dispatcher next has something to claim: the earliest row, after its lane's pace.

        Asked again only after the outbox or the lanes were written (every call the dispatcher makes
        writes them; a quiet step does not)."""
        if self._writes.take("outbox", "lanes"):
            async with self.rt.maker() as session:
                rows = list(await session.execute(NEXT_PER_LANE))
            self._outbox_due = min((max(_aware(first), _aware(paced or first)) for first, paced in rows),
                                   default=None)
        return self._outbox_due

    async def _deliver_until(self, t: datetime) -> None:
        """Let the dispatcher work through everything due before `t`, each call at its own moment."""
        idle = 0
        while True:
            due = await self._next_outbox()
            if due is None or due > t:
                return
            self.now = max(self.now, due)
            if await self.dispatcher.tick():
                idle = 0
                continue
            idle += 1  # due but nothing claimable (should not happen): move on rather than spin
            if idle >= MAX_IDLE_TICKS:
                self.now += SETTLE
                if self.now > t:
                    return


class Writes:
    """Which tables were written through an engine since a reader last looked (from the SQL sent).

    Conservative: every INSERT or UPDATE counts, even one rolled back afterwards, and a DELETE
    counts for every table (foreign keys cascade)."""

    WRITE = re.compile(
        r'\s*(?:(?:INSERT(?:\s+OR\s+\w+)?|REPLACE)\s+INTO|UPDATE|(DELETE)\s+FROM)\s+"?(\w+)', re.IGNORECASE
    )

    def __init__(self, engine: AsyncEngine) -> None:
        self._unchanged: set[str] = set()
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if m := self.WRITE.match(statement):
            if m.group(1):
                self._unchanged.clear()
            else:
                self._unchanged.discard(m.group(2).lower())

    def take(self, *tables: str) -> bool:
        """Whether any of `tables` may have changed since the last `take` of it (then: read, unchanged)."""
        changed = not self._unchanged.issuperset(tables)
        self._unchanged.update(tables)
        return changed


def _aware(value: datetime) -> datetime:
    """SQLite gives aggregates back naive: they are UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
