"""Outbox jobs of coordination: messages to people, approval cards and their updates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.delivery import CARD_PENDING, NOT_CONNECTED, RECONCILE_WINDOW, _NoSideEffects
from bot.kinds import APPROVAL_POST, APPROVAL_UPDATE, MESSAGE
from bot.models import Approval, Case, Clock, Mention, OutboxItem, Reply
from bot.outbox import Job, Skip
from bot.ports import ChatPort, MessageRef
from bot.services import experts
from bot.services.cases import approval_reasons, latest_mention
from bot.triage.service import reasons_from_json
from bot.views import ApprovalCard, AuthorView, CaseSummary, PersonMessage


def summary(case: Case, mention: Mention) -> CaseSummary:
    """A case in a few lines, from its newest mention."""
    return CaseSummary(
        ref=case.ref, source=case.source, venue=case.venue,
        author=AuthorView(handle=mention.author_handle, name=mention.author_name,
                          followers=mention.author_followers, verified=mention.author_verified),
        text=mention.text, url=mention.url, card_channel=case.card_channel, card_ts=case.card_ts)


def _ref(value: str | None) -> MessageRef | None:
    if not value or "/" not in value:
        return None
    channel, ts = value.rsplit("/", 1)  # a Teams conversation id may hold a slash; message ids do not
    return MessageRef(channel, ts)


@dataclass(frozen=True)
class _Message:
    to: str
    message: PersonMessage


class MessageJob(_NoSideEffects):
    """A direct message to a person (nudge, escalation, expert question), or a line in a channel."""

    def __init__(self, chat: ChatPort | None) -> None:
        self.chat = chat

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        p = item.payload
        case = await session.get(Case, item.case_id) if item.case_id else None
        if case is None:
            return Skip("case is gone")
        clock_id = p.get("clock_id")
        if clock_id is not None:
            clock = await session.get(Clock, clock_id)
            if clock is None or clock.stopped_at is not None:
                return Skip("done in the meantime")  # no nudge about what is already done
        mention = await latest_mention(session, case.id)
        params = {k: str(v) for k, v in (p.get("params") or {}).items()}
        answer_ref = None
        if p.get("expert_request_id"):
            found = await experts.context(session, p["expert_request_id"])
            if found is None or found[0].state != "open":
                return Skip("question answered or gone")
            answer_ref = found[0].ref
        return _Message(to=p["to"], message=PersonMessage(
            event=p["event"], params=params, text=p.get("text"), case=summary(case, mention),
            answer_ref=answer_ref))

    async def send(self, item: OutboxItem, prepared: _Message) -> str | None:
        assert self.chat is not None
        channel = await self._channel(prepared.to)
        ref = await self.chat.post_message(channel=channel, message=prepared.message, marker=item.key)
        return f"{ref.channel}/{ref.ts}"

    async def reconcile(self, item: OutboxItem, prepared: _Message) -> str | None:
        assert self.chat is not None
        channel = await self._channel(prepared.to)
        ref = await self.chat.find_marker(channel=channel, marker=item.key,
                                          since=item.created_at - RECONCILE_WINDOW)
        return f"{ref.channel}/{ref.ts}" if ref else None

    async def _channel(self, to: str) -> str:
        assert self.chat is not None
        return await self.chat.direct_channel(to) if self.chat.is_person(to) else to

    async def complete(
        self, session: AsyncSession, item: OutboxItem, prepared: _Message, ref: str | None
    ) -> None:
        posted = _ref(ref)
        request_id = item.payload.get("expert_request_id")
        if posted is not None and request_id:
            experts.remember_thread(session, channel=posted.channel, ts=posted.ts, user=prepared.to,
                                    request_id=request_id, now=utcnow())


async def approval_card(session: AsyncSession, approval: Approval) -> ApprovalCard | None:
    """The approval card's view, from the database."""
    case = await session.get(Case, approval.case_id)
    reply = await session.get(Reply, approval.reply_id)
    if case is None or reply is None:
        return None
    mention = await session.get(Mention, reply.mention_id) or await latest_mention(session, case.id)
    due = await session.scalar(select(Clock.due_at).where(Clock.kind == "approval",
                                                          Clock.subject_id == approval.id))
    reasons = reasons_from_json(approval.reasons) if approval.reasons else reasons_from_json(
        approval_reasons(mention))
    return ApprovalCard(
        ref=approval.ref, state=approval.state, case=summary(case, mention), text=reply.text,
        draft=approval.draft, reasons=tuple(reasons), requested_by=approval.requested_by,
        requested_at=approval.requested_at, due=due, decided_by=approval.decided_by,
        decided_at=approval.decided_at, note=approval.note, edited=approval.edited)


@dataclass(frozen=True)
class _Approval:
    channel: str
    card: ApprovalCard
    ts: str | None


class ApprovalPostJob(_NoSideEffects):
    """Post the approval card to the approvals channel."""

    def __init__(self, chat: ChatPort | None) -> None:
        self.chat = chat

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        approval = await session.get(Approval, item.payload["approval_id"])
        card = await approval_card(session, approval) if approval is not None else None
        if approval is None or card is None or not approval.card_channel:
            return Skip("approval is gone")
        if approval.card_ts:
            return Skip("card already posted")
        return _Approval(channel=approval.card_channel, card=card, ts=None)

    async def send(self, item: OutboxItem, prepared: _Approval) -> str | None:
        assert self.chat is not None
        ref = await self.chat.post_approval(channel=prepared.channel, card=prepared.card, marker=item.key)
        return ref.ts

    async def reconcile(self, item: OutboxItem, prepared: _Approval) -> str | None:
        assert self.chat is not None
        ref = await self.chat.find_marker(channel=prepared.channel, marker=item.key,
                                          since=item.created_at - RECONCILE_WINDOW)
        return ref.ts if ref else None

    async def complete(
        self, session: AsyncSession, item: OutboxItem, prepared: _Approval, ref: str | None
    ) -> None:
        approval = await session.get(Approval, item.payload["approval_id"])
        if approval is not None:
            approval.card_ts = ref


class ApprovalUpdateJob(_NoSideEffects):
    """Show the decision on the approval card."""

    def __init__(self, chat: ChatPort | None) -> None:
        self.chat = chat

    async def prepare(self, session: AsyncSession, item: OutboxItem) -> Any:
        if self.chat is None:
            return NOT_CONNECTED
        approval = await session.get(Approval, item.payload["approval_id"])
        if approval is None:
            return Skip("approval is gone")
        if not approval.card_ts or not approval.card_channel:
            return CARD_PENDING
        card = await approval_card(session, approval)
        if card is None:
            return Skip("approval is gone")
        return _Approval(channel=approval.card_channel, card=card, ts=approval.card_ts)

    async def send(self, item: OutboxItem, prepared: _Approval) -> str | None:
        assert self.chat is not None and prepared.ts is not None
        await self.chat.update_approval(ref=MessageRef(prepared.channel, prepared.ts), card=prepared.card)
        return prepared.ts

    async def reconcile(self, item: OutboxItem, prepared: _Approval) -> str | None:
        return None  # an update is idempotent


def coordination_jobs(chat: ChatPort | None) -> dict[str, Job]:
    """The job for each coordination outbox kind (messages to people, approval cards)."""
    return {MESSAGE: MessageJob(chat), APPROVAL_POST: ApprovalPostJob(chat),
            APPROVAL_UPDATE: ApprovalUpdateJob(chat)}
