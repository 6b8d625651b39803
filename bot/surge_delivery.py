"""Outbox jobs of surges: the alert card, its direct messages, and the cluster cards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.coord_delivery import MessageJob, _Message
from bot.delivery import CARD_PENDING, NOT_CONNECTED, RECONCILE_WINDOW, NoteJob, _NoSideEffects, _Note
from bot.kinds import (
    CLUSTER_POST,
    CLUSTER_UPDATE,
    STORM_POST,
    STORM_UPDATE,
    SURGE_MESSAGE,
    SURGE_NOTE,
    SURGE_POST,
    SURGE_UPDATE,
)
from bot.models import OutboxItem, Surge, SurgeCluster, SurgeState
from bot.outbox import Job, Skip, get_for_update
from bot.ports import ChatPort, MessageRef
from bot.services.surges import due_key, history_points
from bot.views import ClusterCard, ClusterLine, PersonMessage, StormCard, StormGroup, SurgeAlert, ThreadNote

TOP_CLUSTERS = 3
STORM_GROUPS = 5


async def surge_view(session: AsyncSession, surge: Surge) -> SurgeAlert:
    """The alert card's view, with the biggest clusters."""
    clusters = list(
        await session.scalars(
            select(SurgeCluster)
            .where(SurgeCluster.surge_id == surge.id)
            .order_by(SurgeCluster.count.desc())
            .limit(TOP_CLUSTERS)
        )
    )
    small = (
        await session.execute(
            select(func.coalesce(func.sum(SurgeCluster.count), 0), func.count()).where(
                SurgeCluster.surge_id == surge.id, SurgeCluster.card_channel.is_(None)
            )
        )
    ).one()
    return SurgeAlert(
        small_messages=int(small[0]),
        small_groups=int(small[1]),
        ref=surge.ref,
        scope=surge.scope,
        label=surge.label or "",
        level=surge.level,
        severity=surge.severity,
        state=surge.state,
        started_at=surge.started_at,
        raised_at=surge.raised_at,
        messages=surge.messages,
        authors=surge.authors,
        negative=surge.negative,
        threats=surge.threats,
        rate_per_hour=surge.rate_per_hour,
        expected_per_hour=surge.expected_per_hour,
        history=history_points(surge),
        clusters=tuple(ClusterLine(sample=c.sample, count=c.count, threats=c.threats) for c in clusters),
        words=tuple(dict.fromkeys(str(w) for c in clusters if not c.threats for w in (c.words or ())[:3]))[:6],
        acked_by=surge.acked_by,
        crisis=surge.crisis_at is not None,
        crisis_at=surge.crisis_at,
        resolved_at=surge.resolved_at,
        statement_by=surge.statement_by,
        statement_at=surge.statement_at,
    )


async def storm_view(session: AsyncSession, surge: Surge) -> StormCard:
    """The storm card's view: every collapsed message counted, the largest groups."""
    top = list(
        await session.scalars(  # index (surge_id, key) narrows to the surge; a storm has at most a few hundred
            select(SurgeCluster)
            .where(SurgeCluster.surge_id == surge.id)
            .order_by(SurgeCluster.count.desc(), SurgeCluster.id)
            .limit(STORM_GROUPS)
        )
    )
    total, groups, threats = (
        await session.execute(
            select(
                func.coalesce(func.sum(SurgeCluster.count), 0),
                func.count(),
                func.coalesce(func.sum(SurgeCluster.threats), 0),
            ).where(SurgeCluster.surge_id == surge.id)
        )
    ).one()
    return StormCard(
        ref=surge.ref,
        label=surge.label or "",
        level=surge.level,
        state=surge.state,
        started_at=surge.started_at,
        collapsed=int(total),
        groups=int(groups),
        top=tuple(
            StormGroup(
                cluster_id=c.id,
                sample=c.sample,
                count=c.count,
                threats=c.threats,
                handled_by=c.handled_by,
                card_channel=c.card_channel,
                card_ts=c.card_ts,
            )
            for c in top
        ),
        threats=int(threats),
        crisis=surge.crisis_at is not None,
        statement_at=surge.statement_at,
        alert_channel=surge.card_channel,
        alert_ts=surge.card_ts,
        resolved_at=surge.resolved_at,
    )


def cluster_view(cluster: SurgeCluster, surge: Surge) -> ClusterCard:
    """A cluster card's view."""
    return ClusterCard(
        ref=surge.ref,
        cluster_id=cluster.id,
        statement_ready=bool(surge.statement),
        surge_label=surge.label or "",
        count=cluster.count,
        sample=cluster.sample,
        words=tuple(str(w) for w in cluster.words or ()),
        threats=cluster.threats,
        negative=cluster.negative,
        first_at=cluster.first_at,
        last_at=cluster.last_at,
        handled_by=cluster.handled_by,
        counted_at=cluster.shown_at if surge.state != SurgeState.RESOLVED else None,
    )


@dataclass(frozen=True)
class _Post:
    channel: str
    view: Any
    ts: str | None


class SurgeCardJob(_NoSideEffects):
    """Post (`surge.post`) or update (`surge.update`) the alert card in the alerts channel."""

    def __init__(self, chat: ChatPort | None, update: bool) -> None:
        self.chat, self.update = chat, update

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        surge = await get_for_update(session, Surge, item.payload["surge_id"])
        if surge is None or not surge.card_channel:
            return Skip("surge is gone")
        if self.update:
            due = item.payload.get("due")
            shown_due = due_key(surge.card_due_at) if surge.card_due_at else None
            if due is not None and item.attempts <= 1 and not item.payload.get("taken") and shown_due != due:
                # a slow update (a fading storm) overtaken by a sooner one, which showed it all
                return Skip("a sooner update showed the card")
            if not surge.card_ts:
                return CARD_PENDING  # still due: what changes meanwhile joins this update
            surge.card_due_at = None  # the next change queues the next update
        elif surge.card_ts:
            return Skip("card already posted")
        surge.card_messages = surge.messages
        return _Post(channel=surge.card_channel, view=await surge_view(session, surge), ts=surge.card_ts)

    async def delayed(self, session: AsyncSession, item: OutboxItem) -> None:
        """Rate limited after `prepare` took the surge's due update: when tried again it is shown, not
        skipped as overtaken (the row says so; the surge row, which the runner may hold, is not touched)."""
        if item.kind != SURGE_UPDATE or "due" not in item.payload or item.payload.get("taken"):
            return
        await session.execute(
            update(OutboxItem).where(OutboxItem.id == item.id).values(payload={**item.payload, "taken": True})
        )

    async def send(self, item: OutboxItem, prepared: _Post) -> str | None:
        assert self.chat is not None
        if self.update:
            assert prepared.ts is not None
            await self.chat.update_surge(ref=MessageRef(prepared.channel, prepared.ts), alert=prepared.view)
            return prepared.ts
        return (await self.chat.post_surge(channel=prepared.channel, alert=prepared.view, marker=item.key)).ts

    async def reconcile(self, item: OutboxItem, prepared: _Post) -> str | None:
        if self.update:
            return None
        assert self.chat is not None
        ref = await self.chat.find_marker(
            channel=prepared.channel, marker=item.key, since=item.created_at - RECONCILE_WINDOW
        )
        return ref.ts if ref else None

    async def complete(self, session: AsyncSession, item: OutboxItem, prepared: _Post, ref: str | None) -> None:
        if not self.update:
            surge = await session.get(Surge, item.payload["surge_id"])
            if surge is not None:
                surge.card_ts = ref


class StormCardJob(SurgeCardJob):
    """Post (`storm.post`) or update (`storm.update`) the storm card in the mention channel."""

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        # locked: the runner's round locks open surges too, so a count it commits meanwhile
        # finds storm_due_at cleared and queues the next update; it is never lost
        surge = await get_for_update(session, Surge, item.payload["surge_id"])
        if surge is None or not surge.storm_channel:
            return Skip("surge is gone")
        if self.update:
            surge.storm_due_at = None
            if not surge.storm_ts:
                return CARD_PENDING
        elif surge.storm_ts:
            return Skip("card already posted")
        return _Post(channel=surge.storm_channel, view=await storm_view(session, surge), ts=surge.storm_ts)

    async def send(self, item: OutboxItem, prepared: _Post) -> str | None:
        assert self.chat is not None
        if self.update:
            assert prepared.ts is not None
            await self.chat.update_storm(ref=MessageRef(prepared.channel, prepared.ts), card=prepared.view)
            return prepared.ts
        return (await self.chat.post_storm(channel=prepared.channel, card=prepared.view, marker=item.key)).ts

    async def complete(self, session: AsyncSession, item: OutboxItem, prepared: _Post, ref: str | None) -> None:
        if not self.update:
            surge = await session.get(Surge, item.payload["surge_id"])
            if surge is not None:
                surge.storm_ts = ref


class ClusterCardJob(SurgeCardJob):
    """Post or update a cluster card in the mention channel."""

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        # locked: a count the runner commits meanwhile queues the next update, it is never lost
        cluster = await get_for_update(session, SurgeCluster, item.payload["cluster_id"])
        surge = await session.get(Surge, cluster.surge_id) if cluster else None
        if cluster is None or surge is None or not cluster.card_channel:
            return Skip("cluster is gone")
        if self.update:
            cluster.card_due_at = None
            if not cluster.card_ts:
                return CARD_PENDING
        elif cluster.card_ts:
            return Skip("card already posted")
        cluster.shown_count, cluster.shown_at = cluster.count, utcnow()
        return _Post(channel=cluster.card_channel, view=cluster_view(cluster, surge), ts=cluster.card_ts)

    async def send(self, item: OutboxItem, prepared: _Post) -> str | None:
        assert self.chat is not None
        if self.update:
            assert prepared.ts is not None
            await self.chat.update_cluster(ref=MessageRef(prepared.channel, prepared.ts), card=prepared.view)
            return prepared.ts
        return (await self.chat.post_cluster(channel=prepared.channel, card=prepared.view, marker=item.key)).ts

    async def complete(self, session: AsyncSession, item: OutboxItem, prepared: _Post, ref: str | None) -> None:
        if not self.update:
            cluster = await session.get(SurgeCluster, item.payload["cluster_id"])
            if cluster is not None:
                cluster.card_ts = ref


class SurgeMessageJob(MessageJob):
    """A direct message about a surge to a manager, spokesperson or security contact (no case behind it)."""

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        p = item.payload
        surge = await session.get(Surge, p["surge_id"])
        if surge is None:
            return Skip("surge is gone")
        params = {
            "label": surge.label or "",
            "messages": str(surge.messages),
            "authors": str(surge.authors),
            "threats": str(surge.threats),
            "level": surge.level,
            "actor": p.get("actor") or "-",
            "growth": f"{_growth(surge):.0f}",
        }
        message = PersonMessage(event=p["event"], params=params, card_channel=surge.card_channel,
                                card_ts=surge.card_ts)
        return _Message(to=p["to"], message=message)


class SurgeNoteJob(NoteJob):
    """A line in the alert card's thread (the incident's timeline): a note whose parent is the alert."""

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        surge = await session.get(Surge, item.payload["surge_id"])
        if surge is None:
            return Skip("surge is gone")
        if not surge.card_ts or not surge.card_channel:
            return CARD_PENDING
        p = item.payload
        note = ThreadNote(
            event=p["event"],
            actor=p.get("actor"),
            text=p.get("text"),
            params={k: str(v) for k, v in (p.get("params") or {}).items()},
        )
        return _Note(parent=MessageRef(surge.card_channel, surge.card_ts), note=note)


def _growth(surge: Surge) -> float:
    return surge.rate_per_hour / surge.expected_per_hour if surge.expected_per_hour > 0 else 0.0


def surge_jobs(chat: ChatPort | None) -> dict[str, Job]:
    """The job for each surge outbox kind."""
    return {
        SURGE_POST: SurgeCardJob(chat, update=False),
        SURGE_UPDATE: SurgeCardJob(chat, update=True),
        STORM_POST: StormCardJob(chat, update=False),
        STORM_UPDATE: StormCardJob(chat, update=True),
        CLUSTER_POST: ClusterCardJob(chat, update=False),
        CLUSTER_UPDATE: ClusterCardJob(chat, update=True),
        SURGE_MESSAGE: SurgeMessageJob(chat),
        SURGE_NOTE: SurgeNoteJob(chat),
    }
