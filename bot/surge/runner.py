"""Runs surge detection over what is stored: one instance at a time, every `surge.check`.

The instance that holds the lease (a row in `integration_state`, key `surge`) reads the mentions
stored since its cursor in id order, counts each in its scopes (the organisation, its topics, its
thread), hands the detector's events to `bot.services.surges`, and puts the messages of threads in
a surge into near-duplicate clusters, all in one transaction with the new cursor. The detector's
state is checkpointed with the cursor every minute and on shutdown, so another instance (or a
restart) carries on from there, counting again what came after the checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.kinds import CARD_POST
from bot.logs import correlation_id
from bot.models import (
    Case,
    CaseStatus,
    Clock,
    ClockKind,
    IntegrationState,
    Mention,
    OutboxItem,
    OutboxStatus,
    Surge,
    SurgeCluster,
)
from bot.runtime import Runtime
from bot.services import surges
from bot.sql import insert_ignore
from bot.surge.cluster import ClusterConfig, Clusterer
from bot.surge.detect import Detector
from bot.surge.events import SurgeEvent

log = logging.getLogger(__name__)
KEY = "surge"
LEASE = timedelta(seconds=60)
CHECKPOINT = timedelta(minutes=1)
BATCH = 5000
SETTLE = timedelta(seconds=1)
"""Mentions younger than this are left for the next round (a transaction may still be committing)."""


def scope_keys(m: Mention) -> list[str]:
    """The scopes a mention counts in: the organisation, each of its topics, its thread."""
    keys = ["org", *(f"topic:{t}" for t in (m.topics or []))]
    keys.append(f"thread:{m.source}:{m.thread_id or m.external_id}")
    return keys


class SurgeRunner:
    """The detection loop of this instance (it works only while it holds the lease)."""

    def __init__(
        self,
        rt: Runtime,
        clock=utcnow,  # type: ignore[no-untyped-def]
        observer: Callable[[SurgeEvent, datetime], None] | None = None,
        checkpoint: timedelta | None = CHECKPOINT,
        sole: bool = False,
    ) -> None:
        """`observer` is told each detector event with the round's time (`webcare replay` lists them).

        `checkpoint` is how often the detector's state is saved for another instance or a restart;
        None saves it only in `stop()`. `sole`: no other instance exists (a replay), so once taken
        the lease is kept by each round's own renewal instead of a transaction of its own per round.
        """
        self._rt = rt
        self._checkpoint_every = checkpoint
        self._sole = sole
        self._clock = clock
        self._observer = observer
        self._cfg = rt.settings.config.surge
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._detector: Detector | None = None
        self._clusterer = Clusterer(ClusterConfig(threshold=self._cfg.cluster_threshold))
        self._restyle: set[int] = set()
        """Clusters whose first threat or negative message came this round: their card changes."""
        self._after = 0
        self._checkpointed: datetime | None = None

    def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._loop(), name="surge-detection")

    async def stop(self) -> None:
        """Stop the loop, checkpoint what this instance counted, give the lease back."""
        self._stop.set()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=10)
            self._task.cancel()
        if self._detector is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint(release=True)

    async def _loop(self) -> None:
        wait = self._cfg.check.total_seconds()
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:  # the loop must survive a database hiccup
                log.exception("surge detection round failed")
                self._detector = None  # start again from the last checkpoint
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    async def run_once(self) -> int:
        """One round: take or renew the lease, count what is new; return how many mentions were counted."""
        correlation_id.set("surge")
        now = self._clock()
        if not (self._sole and self._detector is not None) and not await self._lease(now):
            self._detector = None
            return 0
        counted = 0
        while True:
            n = await self._round(now)
            counted += n
            if n < BATCH:
                break
        every = self._checkpoint_every
        if every is not None and (self._checkpointed is None or now - self._checkpointed >= every):
            await self._checkpoint()
        return counted

    async def _lease(self, now: datetime) -> bool:
        rt = self._rt
        async with rt.uow() as session:
            await session.execute(
                insert_ignore(session, IntegrationState, ["key"]),
                [{"key": KEY, "cursor": {}, "next_poll_at": now, "updated_at": now}],
            )
            row = (
                await session.execute(
                    update(IntegrationState)
                    .where(
                        IntegrationState.key == KEY,
                        or_(
                            IntegrationState.lease_until.is_(None),
                            IntegrationState.lease_until < now,
                            IntegrationState.lease_owner == rt.instance,
                        ),
                    )
                    .values(lease_until=now + LEASE, lease_owner=rt.instance)
                    .returning(IntegrationState.key)
                )
            ).first()
            # The checkpoint (the detector's whole state) is read only to (re)start from it, not
            # every round: decoding it costs more than the round itself once a storm is counted.
            saved = None
            if row is not None and self._detector is None:
                saved = await session.scalar(select(IntegrationState.cursor).where(IntegrationState.key == KEY))
        if row is None:
            return False
        if self._detector is None:  # (re)start from the checkpoint
            cursor = dict(saved or {})
            self._after = int(cursor.get("after", 0))
            state = cursor.get("detector")
            tz = rt.settings.config.tz
            self._detector = (
                Detector.from_json(json.dumps(state), self._cfg, tz) if state else Detector(self._cfg, tz)
            )
            if not state and not self._after:  # a new installation: history is not a storm
                async with rt.maker() as session:
                    self._after = int(
                        await session.scalar(select(Mention.id).order_by(Mention.id.desc()).limit(1)) or 0
                    )
            self._checkpointed = now
        return True

    async def _round(self, now: datetime) -> int:
        rt = self._rt
        assert self._detector is not None
        detector = self._detector
        async with rt.uow() as session:
            rows = list(
                await session.execute(
                    select(Mention, Case.status)
                    .join(Case, Case.id == Mention.case_id, isouter=True)
                    .where(Mention.id > self._after, Mention.received_at <= now - SETTLE)
                    .order_by(Mention.id)
                    .limit(BATCH)
                )
            )
            open_by_key = {s.key: s for s in await surges.open_surges(session, lock=True)}
            touched: dict[int, SurgeCluster] = {}
            self._restyle.clear()
            for mention, status in rows:
                keys = scope_keys(mention)
                negative = mention.sentiment is not None and mention.sentiment < 0
                for ev in detector.observe(
                    mention.received_at,
                    keys,
                    mention.author_id or mention.author_handle or mention.external_id,
                    negative=negative,
                    threat=mention.threat,
                ):
                    await self._on_event(session, ev, now, open_by_key, touched)
                if status == CaseStatus.CLUSTERED:
                    surge = open_by_key.get(keys[-1])
                    if surge is not None:
                        await self._cluster(session, surge, mention, touched)
                self._after = mention.id
            for ev in detector.tick(now):
                await self._on_event(session, ev, now, open_by_key, touched)
            for surge in open_by_key.values():  # the alert card follows the storm as it grows
                snap = detector.snapshot(surge.key)
                if snap is not None:
                    surges.grew(session, surge, snap[0], (snap[1], snap[2]), now=now, coord=rt.coord)
            await surges.escalate_unacknowledged(session, now=now, coord=rt.coord)
            await self._show(session, now, open_by_key, touched)
            renewed = await session.scalar(  # the cursor moves with checkpoints (not read here)
                update(IntegrationState)
                .where(IntegrationState.key == KEY, IntegrationState.lease_owner == rt.instance)
                .values(lease_until=now + LEASE, updated_at=now)
                .returning(IntegrationState.key)
            )
            if renewed is None:
                raise RuntimeError("the surge lease was lost during a round")
        return len(rows)

    async def _show(
        self,
        session: AsyncSession,
        now: datetime,
        open_by_key: dict[str, Surge],
        touched: dict[int, SurgeCluster],
    ) -> None:
        """What grew is shown: the storm card counts every clustered message; the largest groups get cards."""
        rt = self._rt
        channel = rt.settings.config.channels.cards
        by_surge: dict[int, list[SurgeCluster]] = {}
        for cluster in touched.values():
            by_surge.setdefault(cluster.surge_id, []).append(cluster)
        for surge_id, clusters in by_surge.items():
            grown = next((x for x in open_by_key.values() if x.id == surge_id), None)
            if grown is not None:
                surges.queue_storm_card(session, grown, now=now, coord=rt.coord, channel=channel)
                surges.refresh_alert(session, grown, now=now, coord=rt.coord)
            room = await surges.card_room(session, surge_id, coord=rt.coord)
            for cluster in clusters:
                surges.queue_cluster_card(
                    session, cluster, now=now, coord=rt.coord, channel=channel, may_post=cluster.id in room,
                    force=cluster.id in self._restyle,
                )

    async def _on_event(
        self,
        session: AsyncSession,
        ev: SurgeEvent,
        now: datetime,
        open_by_key: dict[str, Surge],
        touched: dict[int, SurgeCluster],
    ) -> None:
        if self._observer is not None:
            self._observer(ev, now)
        new = ev.key not in open_by_key
        surge = await surges.on_event(session, ev, now=now, coord=self._rt.coord, surges=open_by_key)
        if surge is not None and new and surge.scope == "thread" and self._cfg.collapse:
            await self._absorb(session, surge, touched)

    async def _absorb(self, session: AsyncSession, surge: Surge, touched: dict[int, SurgeCluster]) -> None:
        """A thread's storm was just raised: its cards still waiting in the outbox become clusters too.

        Before the alarm every message got a card; those not yet posted (Slack takes one a second)
        would bury the channel for minutes, so they are taken back and counted in cluster cards.
        """
        _, _, rest = surge.key.partition(":")
        source, _, thread = rest.partition(":")
        waiting = list(
            await session.scalars(  # index (source, thread_key, author_key)
                select(Case.id).where(
                    Case.source == source,
                    Case.thread_key == thread,
                    Case.status == CaseStatus.OPEN.value,
                    Case.owner.is_(None),
                    Case.card_ts.is_(None),
                )
            )
        )
        if not waiting:
            return
        pending = (
            OutboxItem.case_id.in_(waiting),
            OutboxItem.kind == CARD_POST,
            OutboxItem.status == OutboxStatus.PENDING.value,
        )
        held = {c for c in await session.scalars(select(OutboxItem.case_id).where(*pending)) if c is not None}
        if not held:
            return
        await session.execute(
            update(OutboxItem)
            .where(*pending, OutboxItem.case_id.in_(held))
            .values(
                status=OutboxStatus.SKIPPED.value,
                last_error="joined a surge cluster",
                finished_at=self._clock(),
            )
        )
        await session.execute(update(Case).where(Case.id.in_(held)).values(status=CaseStatus.CLUSTERED.value))
        await session.execute(
            update(Clock)
            .where(  # answered in bulk from the cluster: no deadline each
                Clock.case_id.in_(held),
                Clock.kind == ClockKind.FIRST_RESPONSE.value,
                Clock.stopped_at.is_(None),
            )
            .values(stopped_at=self._clock(), next_at=None, outcome="clustered")
        )
        mentions = await session.scalars(select(Mention).where(Mention.case_id.in_(held)).order_by(Mention.id))
        for mention in mentions:
            await self._cluster(session, surge, mention, touched)

    async def _cluster(
        self, session: AsyncSession, surge: Surge, mention: Mention, touched: dict[int, SurgeCluster]
    ) -> None:
        """Put a message of a thread in a surge into its near-duplicate cluster (the card counts it)."""
        if mention.cluster_id is not None:
            return  # counted before a restart (rounds after a checkpoint are counted again)
        got = self._clusterer.assign(mention.text, at=mention.received_at, scope=surge.key)
        cluster = await session.scalar(
            select(SurgeCluster)
            .where(SurgeCluster.surge_id == surge.id, SurgeCluster.key == got.cluster_id)
            .with_for_update()
        )
        if cluster is None:
            found = self._clusterer.get(got.cluster_id, scope=surge.key)
            cluster = SurgeCluster(
                surge_id=surge.id,
                key=got.cluster_id,
                sample=mention.text[:1000],
                words=list(found.top_words(5)) if found else [],
                count=0,
                threats=0,
                negative=0,
                first_at=mention.received_at,
                last_at=mention.received_at,
            )
            session.add(cluster)
            await session.flush()
        negative = mention.sentiment is not None and mention.sentiment < 0
        if (mention.threat and not cluster.threats) or (negative and not cluster.negative):
            self._restyle.add(cluster.id)  # its card hides the text behind a warning / offers Hide now
        cluster.count += 1
        cluster.threats += int(mention.threat)
        cluster.negative += int(negative)
        cluster.last_at = mention.received_at
        mention.cluster_id = cluster.id
        touched[cluster.id] = cluster

    async def _checkpoint(self, release: bool = False) -> None:
        rt = self._rt
        if self._detector is None:
            return
        now = self._clock()
        values: dict[str, Any] = {"cursor": {"after": self._after, "detector": self._detector.state()},
                                  "updated_at": now}
        if release:
            values |= {"lease_until": None, "lease_owner": None}
        async with rt.uow() as session:  # overwrites the old state without reading it
            saved = await session.scalar(
                update(IntegrationState)
                .where(IntegrationState.key == KEY, IntegrationState.lease_owner == rt.instance)
                .values(**values)
                .returning(IntegrationState.key)
            )
        if saved is None:
            return
        self._checkpointed = now
