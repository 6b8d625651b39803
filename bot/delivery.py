"""Outbox jobs: how each kind of row reaches a chat transport or a network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.metrics import Metrics
from bot.models import Case, CaseStatus, ClockKind, Mention, OutboxItem, Reply, ReplyStatus
from bot.outbox import Defer, Job, Skip
from bot.pipeline import CARD_POST, CARD_UPDATE, NOTE, NOTICE
from bot.ports import ChatPort, MentionTarget, MessageRef, OutboundReply, PermanentError, ReplySink
from bot.services import audit, clocks, promises
from bot.services.cases import HIDE, LIKE, REPLY, load_card, refresh_card, touch_card
from bot.services.coord import Coord
from bot.sinks import Sinks
from bot.views import CaseCard, ThreadNote

NOT_CONNECTED = Defer(timedelta(seconds=30), "chat transport not configured", waits_forever=True)
CARD_PENDING = Defer(timedelta(seconds=1), "card not posted yet")
CLUSTERED = Skip("the case joined a surge cluster: it has no card of its own")
"""A clustered case never gets a card, so its notes and updates would wait for one forever."""
RECONCILE_WINDOW = timedelta(minutes=2)


class _NoSideEffects:
    """Defaults for jobs whose success and failure change nothing beyond the outbox row."""

    async def complete(self, session: AsyncSession, item: OutboxItem, prepared: Any, ref: str | None) -> None:
        return None

    async def fail(self, session: AsyncSession, item: OutboxItem, error: str) -> None:
        return None

    async def delayed(self, session: AsyncSession, item: OutboxItem) -> None:
        return None


@dataclass(frozen=True)
class _Card:
    channel: str
    card: CaseCard
    ts: str | None
    as_of: datetime | None = None


class CardPostJob(_NoSideEffects):
    """Post a new case card, rendered from the case's state at send time."""

    def __init__(self, chat: ChatPort | None, sinks: Sinks, metrics: Metrics, compact: bool = False) -> None:
        self.chat, self.sinks, self.metrics, self.compact = chat, sinks, metrics, compact

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        case = await session.get(Case, item.case_id) if item.case_id else None
        card = (
            await load_card(session, case.id, sinks=self.sinks, compact_skipped=self.compact) if case else None
        )
        if case is None or card is None:
            return Skip("case is gone")
        if case.card_ts:
            return Skip("card already posted")
        return _Card(channel=item.payload["channel"], card=card, ts=None, as_of=case.updated_at)

    async def send(self, item: OutboxItem, prepared: _Card) -> str | None:
        assert self.chat is not None
        ref = await self.chat.post_card(channel=prepared.channel, card=prepared.card, marker=item.key)
        return ref.ts

    async def reconcile(self, item: OutboxItem, prepared: _Card) -> str | None:
        assert self.chat is not None
        ref = await self.chat.find_marker(
            channel=prepared.channel, marker=item.key, since=item.created_at - RECONCILE_WINDOW
        )
        return ref.ts if ref else None

    async def complete(self, session: AsyncSession, item: OutboxItem, prepared: _Card, ref: str | None) -> None:
        case = await session.get(Case, item.case_id)
        if case is not None:
            case.card_channel, case.card_ts, case.card_error = prepared.channel, ref, None
            self.metrics.cards_posted.inc()
            if case.updated_at != prepared.as_of:  # it changed while the card was on its way
                await refresh_card(session, case, now=utcnow())

    async def fail(self, session: AsyncSession, item: OutboxItem, error: str) -> None:
        case = await session.get(Case, item.case_id) if item.case_id else None
        if case is not None:
            case.card_error = error


class CardUpdateJob(_NoSideEffects):
    """Re-render a posted card in place."""

    def __init__(self, chat: ChatPort | None, sinks: Sinks, compact: bool = False) -> None:
        self.chat, self.sinks, self.compact = chat, sinks, compact

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        case = await session.get(Case, item.case_id) if item.case_id else None
        if case is None:
            return Skip("case is gone")
        if not case.card_ts and case.status == CaseStatus.CLUSTERED:
            return CLUSTERED
        if not case.card_ts or not case.card_channel:
            return CARD_PENDING
        card = await load_card(session, case.id, sinks=self.sinks, compact_skipped=self.compact)
        if card is None:
            return Skip("case is gone")
        return _Card(channel=case.card_channel, card=card, ts=case.card_ts)

    async def send(self, item: OutboxItem, prepared: _Card) -> str | None:
        assert self.chat is not None and prepared.ts is not None
        await self.chat.update_card(ref=MessageRef(prepared.channel, prepared.ts), card=prepared.card)
        return prepared.ts

    async def reconcile(self, item: OutboxItem, prepared: _Card) -> str | None:
        return None  # an update is idempotent: sending it again is the reconciliation


@dataclass(frozen=True)
class _Note:
    parent: MessageRef
    note: ThreadNote


class NoteJob(_NoSideEffects):
    """Post a line of history in a card's thread."""

    def __init__(self, chat: ChatPort | None) -> None:
        self.chat = chat

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        case = await session.get(Case, item.case_id) if item.case_id else None
        if case is None:
            return Skip("case is gone")
        if not case.card_ts and case.status == CaseStatus.CLUSTERED:
            return CLUSTERED
        if not case.card_ts or not case.card_channel:
            return CARD_PENDING
        p = item.payload
        text, params = p.get("text"), dict(p.get("params", {}))
        if p["event"] == "new_message":
            mention = await session.get(Mention, p["mention_id"])
            if mention is None:
                return Skip("mention is gone")
            text = mention.text
            params["author"] = mention.author_handle or mention.author_name or "?"
        note = ThreadNote(event=p["event"], actor=p.get("actor"), text=text, params=params)
        return _Note(parent=MessageRef(case.card_channel, case.card_ts), note=note)

    async def send(self, item: OutboxItem, prepared: _Note) -> str | None:
        assert self.chat is not None
        ref = await self.chat.post_note(parent=prepared.parent, note=prepared.note, marker=item.key)
        return ref.ts

    async def reconcile(self, item: OutboxItem, prepared: _Note) -> str | None:
        assert self.chat is not None
        ref = await self.chat.find_marker(
            channel=prepared.parent.channel,
            marker=item.key,
            since=item.created_at - RECONCILE_WINDOW,
            thread_ts=prepared.parent.ts,
        )
        return ref.ts if ref else None


@dataclass(frozen=True)
class _Notice:
    channel: str
    note: ThreadNote


class NoticeJob(_NoSideEffects):
    """Post a notice to a channel (a source failing or recovering, a polling gap)."""

    def __init__(self, chat: ChatPort | None) -> None:
        self.chat = chat

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        p = item.payload
        return _Notice(
            channel=p["channel"],
            note=ThreadNote(event=p["event"], params={k: str(v) for k, v in p.get("params", {}).items()}),
        )

    async def send(self, item: OutboxItem, prepared: _Notice) -> str | None:
        assert self.chat is not None
        ref = await self.chat.post_notice(channel=prepared.channel, note=prepared.note, marker=item.key)
        return ref.ts

    async def reconcile(self, item: OutboxItem, prepared: _Notice) -> str | None:
        assert self.chat is not None
        ref = await self.chat.find_marker(
            channel=prepared.channel, marker=item.key, since=item.created_at - RECONCILE_WINDOW
        )
        return ref.ts if ref else None


@dataclass(frozen=True)
class _Reply:
    reply: OutboundReply


class ReplyJob(_NoSideEffects):
    """Send an agent's reply to the network (or the generic reply webhook).

    Once sent, the reply answers the case (its response clock stops), keeps the promises made
    before it, and starts tracking the promise it makes itself (reply craft's phrase detection).
    """

    def __init__(self, sinks: Sinks, coord: Coord | None = None) -> None:
        self.sinks, self.coord = sinks, coord

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        reply = await session.get(Reply, item.payload["reply_id"])
        if reply is None:
            return Skip("reply is gone")
        if reply.status in (ReplyStatus.AWAITING_APPROVAL, ReplyStatus.REJECTED):
            return Skip(f"reply is {reply.status}: not approved")  # enforced here too, not only upstream
        case = await session.get(Case, reply.case_id)
        mention = await session.get(Mention, reply.mention_id)
        if case is None or mention is None:
            return Skip("case is gone")
        return _Reply(
            OutboundReply(
                case_ref=case.ref,
                source=case.source,
                mention_id=mention.external_id,
                thread_id=mention.thread_id,
                text=reply.text,
                agent=reply.agent,
                idempotency_key=item.key,
                author_id=mention.author_id,
                account=mention.account,
                created_at=mention.created_at,
            )
        )

    async def send(self, item: OutboxItem, prepared: _Reply) -> str | None:
        sink = self.sinks.for_source(prepared.reply.source)
        if sink is None:
            raise PermanentError(f"no reply channel for source {prepared.reply.source!r}")
        return await sink.send_reply(prepared.reply)

    async def reconcile(self, item: OutboxItem, prepared: _Reply) -> str | None:
        return None  # sinks deduplicate on the idempotency key, so resending is safe

    async def complete(
        self, session: AsyncSession, item: OutboxItem, prepared: _Reply, ref: str | None
    ) -> None:
        reply = await session.get(Reply, item.payload["reply_id"])
        case = await session.get(Case, item.case_id) if item.case_id else None
        if reply is None or case is None:
            return
        now = utcnow()
        reply.status, reply.sent_at, reply.external_id, reply.error = (ReplyStatus.SENT.value, now, ref, None)
        if reply.automatic:  # the acknowledgement outside office hours: not an answer
            audit.record(session, case_id=case.id, actor=reply.agent, action="auto_ack.sent", at=now,
                         reply_id=reply.id, external_id=ref)
            touch_card(session, case, now=now, note={"event": "auto_ack_sent", "text": reply.text})
            return
        case.first_response_at = case.first_response_at or now
        newer = await session.scalar(select(Mention.id).where(
            Mention.case_id == case.id, Mention.received_at > reply.created_at).limit(1))
        if case.status != CaseStatus.IGNORED and newer is None:  # else the author wrote again meanwhile
            case.status = CaseStatus.ANSWERED.value
        await clocks.stop(session, case_id=case.id, kind=ClockKind.FIRST_RESPONSE, now=now,
                          started_before=reply.created_at)
        await promises.settle(session, case, reply, now=now)
        if reply.promise and self.coord is not None:
            phrases = reply.promise.get("phrases") or ["?"]
            await promises.from_reply(session, case, reply, phrase=str(phrases[0]), due_at=reply.promise_due_at,
                                      now=now, coord=self.coord)
        audit.record(
            session,
            case_id=case.id,
            actor=reply.agent,
            action="reply.sent",
            at=now,
            reply_id=reply.id,
            external_id=ref,
        )
        touch_card(
            session, case, now=now, note={"event": "reply_sent", "actor": reply.agent, "text": reply.text}
        )
        await refresh_card(session, case, now=now)

    async def delayed(self, session: AsyncSession, item: OutboxItem) -> None:
        case = await session.get(Case, item.case_id) if item.case_id else None
        if case is not None:  # the card shows when the held reply will go
            await refresh_card(session, case, now=utcnow())

    async def fail(self, session: AsyncSession, item: OutboxItem, error: str) -> None:
        reply = await session.get(Reply, item.payload["reply_id"])
        case = await session.get(Case, item.case_id) if item.case_id else None
        if reply is None or case is None:
            return
        now = utcnow()
        reply.status, reply.error = ReplyStatus.FAILED.value, error[:500]
        audit.record(
            session,
            case_id=case.id,
            actor="system",
            action="reply.failed",
            at=now,
            reply_id=reply.id,
            error=error[:500],
        )
        touch_card(
            session, case, now=now, note={"event": "reply_failed", "actor": reply.agent, "text": error[:500]}
        )
        await refresh_card(session, case, now=now)


@dataclass(frozen=True)
class _Target:
    target: MentionTarget
    sink: ReplySink


class MentionActionJob(_NoSideEffects):
    """Like or hide a mention on its network (`like.send`, `hide.send`)."""

    def __init__(self, sinks: Sinks, action: str) -> None:
        self.sinks, self.action = sinks, action

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        mention = await session.get(Mention, item.payload["mention_id"])
        sink = self.sinks.for_source(mention.source) if mention else None
        if mention is None or sink is None:
            return Skip("mention or network is gone")
        return _Target(
            MentionTarget(
                source=mention.source,
                mention_id=mention.external_id,
                thread_id=mention.thread_id,
                author_id=mention.author_id,
                account=mention.account,
            ),
            sink,
        )

    async def send(self, item: OutboxItem, prepared: _Target) -> str | None:
        if self.action == LIKE:
            await prepared.sink.like(prepared.target)  # type: ignore[attr-defined]
        else:
            await prepared.sink.hide(prepared.target, bool(item.payload["hidden"]))  # type: ignore[attr-defined]
        return None

    async def reconcile(self, item: OutboxItem, prepared: _Target) -> str | None:
        return None  # likes and hides are idempotent on the networks

    async def complete(
        self, session: AsyncSession, item: OutboxItem, prepared: _Target, ref: str | None
    ) -> None:
        return None

    async def fail(self, session: AsyncSession, item: OutboxItem, error: str) -> None:
        mention = await session.get(Mention, item.payload["mention_id"])
        case = await session.get(Case, item.case_id) if item.case_id else None
        if mention is None or case is None:
            return
        now = utcnow()
        if self.action == LIKE:
            mention.liked_at = None
        else:
            mention.hidden = not bool(item.payload["hidden"])
        event = "like_failed" if self.action == LIKE else "hide_failed"
        audit.record(session, case_id=case.id, actor="system", action=event, at=now, error=error[:500])
        touch_card(
            session,
            case,
            now=now,
            note={"event": event, "actor": item.payload.get("actor"), "text": error[:500]},
        )
        await refresh_card(session, case, now=now)


def build_jobs(
    chat: ChatPort | None, sinks: Sinks, metrics: Metrics, compact_skipped: bool = False,
    coord: Coord | None = None,
) -> dict[str, Job]:
    """The job for each outbox kind."""
    return {
        CARD_POST: CardPostJob(chat, sinks, metrics, compact_skipped),
        CARD_UPDATE: CardUpdateJob(chat, sinks, compact_skipped),
        NOTE: NoteJob(chat),
        NOTICE: NoticeJob(chat),
        REPLY: ReplyJob(sinks, coord),
        LIKE: MentionActionJob(sinks, LIKE),
        HIDE: MentionActionJob(sinks, HIDE),
    }

