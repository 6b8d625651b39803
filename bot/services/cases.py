"""Case decisions: claim, ignore, reply, and the card and modal views of a case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.errors import (
    ActionNotSupported,
    AlreadyClaimed,
    BadReference,
    CaseNotFound,
    InvalidReply,
    ReplyNotPossible,
    ReplyWindowClosed,
)
from bot.kinds import HIDE, LIKE, REPLY
from bot.models import (
    Case,
    CaseStatus,
    Clock,
    ClockKind,
    ExpertRequest,
    Mention,
    OutboxItem,
    OutboxStatus,
    Promise,
    Reply,
    ReplyStatus,
)
from bot.outbox import enqueue
from bot.services import approvals, audit, clocks, promises
from bot.services.cardwork import get_case, latest_mention, network_lane, refresh_card, touch_card
from bot.services.coord import Coord
from bot.sinks import Sinks
from bot.triage.service import reasons_from_json
from bot.views import (
    AuthorView,
    CardAction,
    CaseCard,
    CaseRef,
    CoordinationView,
    PromiseView,
    ReplyForm,
    ReplyView,
    TriageView,
)


@dataclass(frozen=True)
class ReplyCraft:
    """What reply craft stores on a reply (see bot.models.Reply)."""

    text_hash: str
    promise: dict[str, Any] | None = None
    promise_due_at: datetime | None = None
    tone_overrides: list[dict[str, Any]] | None = None

IGNORE_REASONS = ("spam", "not_for_us", "handled_elsewhere", "no_response_needed", "other")


def parse_ref(raw: str | None) -> CaseRef:
    """Read a button value / private_metadata; a malformed one raises BadReference."""
    try:
        return CaseRef.model_validate_json(raw or "")
    except ValidationError:
        raise BadReference() from None


def ref_value(case_ref: str) -> str:
    """Serialise a case reference for a button value or private_metadata."""
    return CaseRef(case=case_ref).model_dump_json()


async def claim(*, session: AsyncSession, ref: CaseRef, actor: str, now: datetime, coord: Coord) -> Case:
    """Make `actor` the owner of an unowned case; claiming one's own case again changes nothing."""
    coord.team.require_member(actor, action="case.claim")
    case = await get_case(session, ref, lock=True)
    if case.owner == actor:
        return case
    if case.owner is not None:
        raise AlreadyClaimed(owner=case.owner)
    case.owner = actor
    if case.status == CaseStatus.OPEN:
        case.status = CaseStatus.CLAIMED.value
    case.updated_at = now
    await clocks.reassign(session, case_id=case.id, owner=actor)
    audit.record(session, case_id=case.id, actor=actor, action="claim", at=now)
    # the card shows its owner: no history line in its thread (a "1 reply" under every card would hide
    # the threads where something happened, and spend the channel's one post a second); the audit
    # keeps the time, and an assignment to someone else does write a line
    await refresh_card(session, case, now=now)
    return case


async def ignore(
    *, session: AsyncSession, ref: CaseRef, actor: str, reason: str, note: str | None, now: datetime,
    coord: Coord,
) -> Case:
    """Close a case without reply, with a reason (audited and shown on the card); its clocks stop."""
    coord.team.require_member(actor, action="case.ignore")
    if reason not in IGNORE_REASONS:
        raise InvalidReply(reason="unknown reason")
    case = await get_case(session, ref, lock=True)
    await clocks.stop(session, case_id=case.id, kind=ClockKind.FIRST_RESPONSE, now=now, outcome="cancelled")
    await promises.break_open(session, case, actor=actor, now=now)
    case.status = CaseStatus.IGNORED.value
    case.ignored_reason = reason if not note else f"{reason}: {note}"
    await clocks.own_if_unowned(session, case, actor)
    case.updated_at = now
    audit.record(session, case_id=case.id, actor=actor, action="ignore", at=now, reason=reason,
                 note=note)
    touch_card(session, case, now=now,
               note={"event": "ignored", "actor": actor, "params": {"reason": reason},
                     "text": note})
    await refresh_card(session, case, now=now)
    return case


async def check_reply(*, session: AsyncSession, case: Case, text: str, sinks: Sinks, now: datetime) -> Mention:
    """Refuse a reply the network cannot take (no channel, empty, too long, window closed); return the
    mention it answers."""
    caps = sinks.capabilities(case.source)
    if not caps.reply:
        raise ReplyNotPossible(source=case.source)
    if not text:
        raise InvalidReply(reason="empty")
    if caps.max_length is not None and len(text) > caps.max_length:
        raise InvalidReply(reason=f"{len(text)} > {caps.max_length}")
    mention = await latest_mention(session, case.id)
    if caps.reply_window is not None and now > mention.created_at + caps.reply_window:
        raise ReplyWindowClosed(source=case.source)
    return mention


RESUBMIT_WINDOW = timedelta(minutes=10)
"""A reply with the same text to the same message within this long is the same reply sent twice (a double
click, a form submitted again from another card): it is not queued again."""


async def recent_twin(session: AsyncSession, *, case: Case, mention: Mention, text: str,
                      now: datetime) -> Reply | None:
    """The reply with this very text to this message, made within RESUBMIT_WINDOW and not failed or
    refused (index: case_id; a case has a handful of replies)."""
    return await session.scalar(
        select(Reply).where(Reply.case_id == case.id, Reply.mention_id == mention.id,
                            Reply.text == text.strip(), Reply.created_at >= now - RESUBMIT_WINDOW,
                            Reply.status.not_in([ReplyStatus.FAILED.value, ReplyStatus.REJECTED.value]))
        .order_by(Reply.id.desc()).limit(1))


async def submit_reply(
    *, session: AsyncSession, ref: CaseRef, actor: str, text: str, sinks: Sinks, now: datetime, coord: Coord,
    craft: ReplyCraft | None = None, ask_approval: bool = False,
) -> Reply:
    """Queue an agent's reply to the case's newest mention; it goes out through the outbox.

    `craft` (from bot.services.replies) adds what reply craft found: the wording's fingerprint, the
    promise the reply makes, the tone warnings the agent overrode. A sensitive case (triage), or the
    agent's own request, holds the reply for a spokesperson."""
    coord.team.require_member(actor, action="case.reply")
    text = text.strip()
    case = await get_case(session, ref, lock=True)
    mention = await check_reply(session=session, case=case, text=text, sinks=sinks, now=now)
    reply = Reply(case_id=case.id, mention_id=mention.id, agent=actor, text=text,
                  status=ReplyStatus.QUEUED.value, created_at=now)
    if craft is not None:
        reply.text_hash, reply.tone_overrides = craft.text_hash, craft.tone_overrides
        reply.promise, reply.promise_due_at = craft.promise, craft.promise_due_at
    session.add(reply)
    await session.flush()
    await clocks.own_if_unowned(session, case, actor)
    case.updated_at = now
    case.card_error = None
    if case.needs_approval or ask_approval:
        reasons = approval_reasons(mention) if case.needs_approval else []
        if ask_approval:
            reasons.append({"code": "agent_request"})
        await approvals.request(session, case, reply, actor=actor, reasons=reasons, now=now, coord=coord)
    else:
        case.status = CaseStatus.ANSWERED.value
        enqueue(session, kind=REPLY, lane=network_lane(case.source, mention.account), case_id=case.id,
                now=now, payload={"reply_id": reply.id})
        audit.record(session, case_id=case.id, actor=actor, action="reply.queued", at=now,
                     reply_id=reply.id)
    await refresh_card(session, case, now=now)
    return reply


def approval_reasons(mention: Mention) -> list[Any]:
    """Why triage wants a spokesperson on this mention (stored reason codes)."""
    return list((mention.triage or {}).get("approval") or [])


async def like(
    *, session: AsyncSession, ref: CaseRef, actor: str, sinks: Sinks, now: datetime, coord: Coord
) -> Case:
    """Like the newest mention (reward the positive); liking twice changes nothing."""
    coord.team.require_member(actor, action="case.like")
    case = await get_case(session, ref, lock=True)
    if not sinks.capabilities(case.source).like:
        raise ActionNotSupported(action="like", source=case.source)
    mention = await latest_mention(session, case.id)
    if mention.liked_at is None:
        mention.liked_at = now
        case.updated_at = now
        enqueue(session, kind=LIKE, lane=network_lane(case.source, mention.account), case_id=case.id, now=now,
                payload={"mention_id": mention.id, "actor": actor})
        audit.record(session, case_id=case.id, actor=actor, action="like", at=now, mention_id=mention.id)
        await refresh_card(session, case, now=now)
    return case


async def hide(
    *, session: AsyncSession, ref: CaseRef, actor: str, hidden: bool, sinks: Sinks, now: datetime,
    coord: Coord,
) -> Case:
    """Hide (or show again) the newest mention on the network, e.g. for abuse."""
    coord.team.require_member(actor, action="case.hide")
    case = await get_case(session, ref, lock=True)
    if not sinks.capabilities(case.source).hide:
        raise ActionNotSupported(action="hide", source=case.source)
    mention = await latest_mention(session, case.id)
    if mention.hidden != hidden:
        mention.hidden = hidden
        case.updated_at = now
        enqueue(session, kind=HIDE, lane=network_lane(case.source, mention.account), case_id=case.id, now=now,
                payload={"mention_id": mention.id, "hidden": hidden, "actor": actor})
        audit.record(session, case_id=case.id, actor=actor, action="hide" if hidden else "unhide",
                     at=now, mention_id=mention.id)
        touch_card(session, case, now=now, note={"event": "hidden" if hidden else "unhidden",
                                                 "actor": actor})
        await refresh_card(session, case, now=now)
    return case


async def reply_form(*, session: AsyncSession, ref: CaseRef, sinks: Sinks) -> ReplyForm:
    """What the reply modal shows: the message being answered and the network's limit."""
    case = await get_case(session, ref)
    caps = sinks.capabilities(case.source)
    if not caps.reply:
        raise ReplyNotPossible(source=case.source)
    m = await latest_mention(session, case.id)
    last_reply = await session.scalar(select(func.max(Reply.created_at)).where(Reply.case_id == case.id))
    answered = await session.scalar(
        select(ExpertRequest.answer).where(ExpertRequest.case_id == case.id, ExpertRequest.state == "answered",
                                           *([ExpertRequest.answered_at > last_reply] if last_reply else []))
        .order_by(ExpertRequest.answered_at.desc()).limit(1))
    return ReplyForm(ref=case.ref, source=case.source, author=_author(m), text=m.text, url=m.url,
                     max_length=caps.max_length, expert_draft=answered,
                     needs_approval=case.needs_approval)


async def record_thread_message(
    *, session: AsyncSession, channel: str, thread_ts: str, user: str, text: str, now: datetime
) -> int | None:
    """Keep a team member's message in a card's thread in the case history; the case id, or None."""
    case_id = await session.scalar(
        select(Case.id).where(Case.card_channel == channel, Case.card_ts == thread_ts)
    )
    if case_id is None:
        return None
    audit.record(session, case_id=case_id, actor=user, action="comment", at=now, text=text[:4000])
    return case_id


async def show_text(*, session: AsyncSession, ref: CaseRef, actor: str, now: datetime, coord: Coord) -> str:
    """The text behind a card's content warning (who looked is audited)."""
    coord.team.require_member(actor, action="case.show")
    case = await get_case(session, ref)
    mention = await latest_mention(session, case.id)
    audit.record(session, case_id=case.id, actor=actor, action="show", at=now, mention_id=mention.id)
    return mention.text


async def ref_for_card(session: AsyncSession, *, channel: str, ts: str) -> CaseRef:
    """The case whose card is the message at (channel, ts) (for controls that carry no value)."""
    ref = await session.scalar(select(Case.ref).where(Case.card_channel == channel, Case.card_ts == ts))
    if ref is None:
        raise CaseNotFound()
    return CaseRef(case=ref)


def _author(m: Mention) -> AuthorView:
    return AuthorView(handle=m.author_handle, name=m.author_name, followers=m.author_followers,
                      verified=m.author_verified)


async def load_card(session: AsyncSession, case_id: int, *, sinks: Sinks,
                    compact_skipped: bool = False) -> CaseCard | None:
    """Build the card view of a case from the database (None if the case is gone)."""
    case = await session.get(Case, case_id)
    if case is None:
        return None
    first = await session.scalar(
        select(Mention).where(Mention.case_id == case.id).order_by(Mention.created_at, Mention.id)
        .limit(1)
    )
    if first is None:
        return None
    latest = await latest_mention(session, case.id)
    replies = list(await session.scalars(
        select(Reply).where(Reply.case_id == case.id).order_by(Reply.id.desc()).limit(1)))
    sent = await session.scalar(
        select(func.count()).where(Reply.case_id == case.id, Reply.status == ReplyStatus.SENT.value))
    last = replies[0] if replies else None
    caps = sinks.capabilities(case.source)
    now = utcnow()
    reply_until = latest.created_at + caps.reply_window if caps.reply_window else None
    window_closed = reply_until is not None and now > reply_until
    actions: list[CardAction] = []
    open_case = case.status != CaseStatus.IGNORED
    if open_case and case.owner is None:
        actions.append(CardAction.CLAIM)
    if caps.reply and not window_closed:
        actions.append(CardAction.REPLY)
    if caps.read_only and latest.url:
        actions.append(CardAction.OPEN)
    if caps.like and latest.liked_at is None and latest.deleted_at is None:
        actions.append(CardAction.LIKE)
    if caps.hide and latest.deleted_at is None:
        actions.append(CardAction.UNHIDE if latest.hidden else CardAction.HIDE)
    if open_case:
        if caps.reply and not caps.read_only:
            actions.append(CardAction.PROMISE)
        actions += [CardAction.ASK_EXPERT, CardAction.SNOOZE, CardAction.IGNORE, CardAction.ASSIGN]
    problem = case.card_error
    if last is not None and last.status == ReplyStatus.FAILED:
        problem = last.error or "failed"
    eta = None
    if last is not None and last.status == ReplyStatus.QUEUED:
        eta = await session.scalar(
            select(OutboxItem.not_before).where(
                OutboxItem.case_id == case.id, OutboxItem.kind == REPLY,
                OutboxItem.status == OutboxStatus.PENDING.value,
                OutboxItem.last_error.is_not(None)).order_by(OutboxItem.id.desc()).limit(1))
        eta = eta if eta is not None and eta > now else None
    return CaseCard(
        ref=case.ref, status=case.status, source=case.source, venue=case.venue,
        author=_author(first), text=latest.text, url=latest.url, created_at=first.created_at,
        mention_count=case.mention_count, owner=case.owner, ignored_reason=case.ignored_reason,
        last_reply=ReplyView(agent=last.agent, text=last.text, at=last.sent_at or last.created_at,
                             status=last.status, error=last.error, eta=eta) if last else None,
        replies_sent=sent or 0, actions=tuple(actions), problem=problem, notice=case.notice,
        reply_until=reply_until, window_closed=window_closed,
        edited=latest.edited_at is not None, deleted=latest.deleted_at is not None,
        hidden=latest.hidden, liked=latest.liked_at is not None, triage=_triage_view(case, latest),
        compact=compact_skipped and case.decision == "skip" and case.status == CaseStatus.OPEN
        and case.owner is None,
        coordination=await _coordination_view(session, case, now,
                                              last_reply_at=last.created_at if last else None),
        threat=latest.threat,
    )


async def _coordination_view(session: AsyncSession, case: Case, now: datetime, *,
                             last_reply_at: datetime | None = None) -> CoordinationView | None:
    """The case's running clocks, promises, pending approval, expert question and snooze."""
    running = list(await session.scalars(
        select(Clock).where(Clock.case_id == case.id, Clock.stopped_at.is_(None))))
    response = max((c for c in running if c.kind == ClockKind.FIRST_RESPONSE), key=lambda c: c.started_at,
                   default=None)
    promises = list(await session.scalars(
        select(Promise).where(Promise.case_id == case.id, Promise.state.in_(["open", "broken"]))
        .order_by(Promise.due_at)))
    experts = await session.scalar(
        select(ExpertRequest).where(ExpertRequest.case_id == case.id)
        .order_by(ExpertRequest.id.desc()).limit(1))
    pending = any(c.kind == ClockKind.APPROVAL for c in running)
    snoozed = case.snoozed_until if case.snoozed_until is not None and case.snoozed_until > now else None
    view = CoordinationView(
        response_due=response.due_at if response else None,
        response_late=response is not None and now > response.due_at,
        promises=tuple(PromiseView(what=p.what, due=p.due_at, overdue=now > p.due_at)
                       for p in promises if p.state == "open"),
        broken_promises=sum(1 for p in promises if p.state == "broken"),
        approval_pending=pending,
        experts_asked=tuple(experts.experts) if experts is not None and experts.state == "open" else (),
        expert_answered_by=experts.answered_by if experts is not None and experts.state == "answered" else None,
        expert_draft=experts.answer if experts is not None and experts.state == "answered" and (
            last_reply_at is None or (experts.answered_at is not None and experts.answered_at > last_reply_at))
        else None,
        snoozed_until=snoozed, snooze_reason=case.snooze_reason if snoozed else None,
    )
    return None if view == CoordinationView() else view


def _triage_view(case: Case, latest: Mention) -> TriageView | None:
    if case.decision is None and latest.intent is None:
        return None
    stored = latest.triage or {}
    reasons = reasons_from_json(stored.get("reasons")) + reasons_from_json(stored.get("approval"))
    return TriageView(decision=case.decision, priority=case.priority, intent=latest.intent,
                      sentiment=latest.sentiment, language=latest.language,
                      needs_approval=case.needs_approval, reasons=tuple(reasons))
