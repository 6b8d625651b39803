"""Ask an expert: the topic's experts get the question; their answer becomes the agent's draft.

The experts get a direct message with the question, the mention and a link to the card. They answer
in that message's thread, in the card's thread, or with the Answer button's modal; the answer lands
in the card's thread and pre-fills the Reply modal. Unanswered questions nudge and escalate.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import AlreadyDecided, BadReference, InvalidInput, NoExperts, NotAllowed
from bot.kinds import MESSAGE, post_lane
from bot.models import Case, ClockKind, DirectThread, ExpertRequest, ExpertState, Mention
from bot.outbox import enqueue
from bot.services import audit, cases, clocks
from bot.services.cardwork import get_case, latest_mention, refresh_card, touch_card
from bot.services.coord import Coord
from bot.team import LEADS
from bot.views import CaseRef, parse_model

MAX_TEXT = 3000


class ExpertRef(BaseModel):
    """What the expert's Answer button and modal carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


def expert_value(ref: str) -> str:
    """Serialise an expert-request reference."""
    return ExpertRef(question=ref).model_dump_json()


def parse_expert(raw: str | None) -> ExpertRef:
    """Read an expert-request reference; a malformed one raises BadReference."""
    return parse_model(ExpertRef, raw)


async def suggested(*, session: AsyncSession, ref: CaseRef, coord: Coord) -> tuple[str | None, list[str]]:
    """The topic and experts the Ask-an-expert modal proposes for this case."""
    case = await get_case(session, ref)
    mention = await latest_mention(session, case.id)
    return coord.team.experts_for(list(mention.topics or []))


async def ask(
    *, session: AsyncSession, ref: CaseRef, actor: str, question: str, now: datetime, coord: Coord,
    experts: list[str] | None = None,
) -> ExpertRequest:
    """Send the question to the experts (of the case's topic unless chosen) and start the clock."""
    coord.team.require_member(actor, action="case.ask_expert")
    question = question.strip()
    if not question:
        raise InvalidInput(field="question", reason="empty")
    case = await get_case(session, ref, lock=True)
    mention = await latest_mention(session, case.id)
    topic, default = coord.team.experts_for(list(mention.topics or []))
    chosen = [e for e in (experts or default) if e != actor] or list(experts or default)
    if not chosen:
        raise NoExperts(topics=", ".join(mention.topics or []) or "-")
    request = ExpertRequest(ref=secrets.token_urlsafe(9), case_id=case.id, topic=topic, experts=chosen,
                            question=question[:MAX_TEXT], asked_by=actor, asked_at=now,
                            state=ExpertState.OPEN.value)
    session.add(request)
    await session.flush()
    for expert in chosen:
        enqueue(session, kind=MESSAGE, lane=post_lane(expert), case_id=case.id, now=now,
                payload={"to": expert, "event": "expert_question", "expert_request_id": request.id,
                         "params": {"actor": actor, "topic": topic or ""}, "text": request.question})
    clocks.start(session, case_id=case.id, kind=ClockKind.EXPERT, now=now, cfg=coord.cfg,
                 timeline=coord.timeline, subject_id=request.id, office_time=coord.office_time,
                 due_at=coord.timeline.deadline(now, coord.cfg.experts.answer_within, office=coord.office_time))
    await clocks.own_if_unowned(session, case, actor)
    case.updated_at = now
    audit.record(session, case_id=case.id, actor=actor, action="expert.asked", at=now,
                 request_id=request.id, experts=chosen, question=request.question)
    touch_card(session, case, now=now, note={"event": "expert_asked", "actor": actor, "text": request.question,
                                             "params": {"people": " ".join(chosen)}})
    await refresh_card(session, case, now=now)
    return request


async def answer(
    *, session: AsyncSession, ref: str, actor: str, text: str, now: datetime, coord: Coord,
) -> ExpertRequest:
    """Record the expert's answer: it becomes the draft of the case's next reply."""
    text = text.strip()
    if not text:
        raise InvalidInput(field="answer", reason="empty")
    request = await session.scalar(select(ExpertRequest).where(ExpertRequest.ref == ref).with_for_update())
    if request is None:
        raise BadReference()
    if actor not in request.experts and not coord.team.has(actor, *LEADS):
        raise NotAllowed(action="expert.answer", role="expert", user=actor)
    if request.state != ExpertState.OPEN:
        raise AlreadyDecided(by=request.answered_by or "?", state=request.state)
    case = await session.get(Case, request.case_id)
    assert case is not None
    request.state, request.answer = ExpertState.ANSWERED.value, text[:MAX_TEXT]
    request.answered_by, request.answered_at = actor, now
    await clocks.stop(session, case_id=case.id, kind=ClockKind.EXPERT, subject_id=request.id, now=now)
    audit.record(session, case_id=case.id, actor=actor, action="expert.answered", at=now,
                 request_id=request.id)
    touch_card(session, case, now=now, note={"event": "expert_answered", "actor": actor, "text": request.answer,
                                             "params": {"agent": request.asked_by}})
    case.updated_at = now
    await refresh_card(session, case, now=now)
    return request


async def answer_in_thread(
    *, session: AsyncSession, channel: str, thread_ts: str, user: str, text: str, now: datetime, coord: Coord,
) -> ExpertRequest | None:
    """A reply in the thread of our question to an expert answers it (None if it is no such thread)."""
    thread = await session.scalar(select(DirectThread).where(
        DirectThread.channel == channel, DirectThread.ts == thread_ts, DirectThread.kind == "expert"))
    if thread is None:
        return None
    request = await session.get(ExpertRequest, thread.subject_id)
    if request is None or request.state != ExpertState.OPEN:
        return None
    return await answer(session=session, ref=request.ref, actor=user, text=text, now=now, coord=coord)


async def thread_message(
    *, session: AsyncSession, channel: str, thread_ts: str, user: str, text: str, now: datetime, coord: Coord,
) -> None:
    """A person's message in a thread: an expert's answer (in their question's thread, or by an expert
    asked about the case in the card's thread), else a line of the case's history."""
    if await answer_in_thread(session=session, channel=channel, thread_ts=thread_ts, user=user, text=text,
                              now=now, coord=coord):
        return
    case_id = await cases.record_thread_message(session=session, channel=channel, thread_ts=thread_ts,
                                                user=user, text=text, now=now)
    if case_id is not None:
        await answer_in_card_thread(session, case_id, user=user, text=text, now=now, coord=coord)


async def answer_in_direct_chat(
    *, session: AsyncSession, channel: str, user: str, text: str, now: datetime, coord: Coord,
) -> ExpertRequest | None:
    """A chat without threads (Teams' 1:1 chat): what the expert writes there answers the newest open
    question we asked them in it (None if none is open)."""
    request = await session.scalar(  # one query (index: the chat's threads, then each request by its key)
        select(ExpertRequest).join(DirectThread, DirectThread.subject_id == ExpertRequest.id)
        .where(DirectThread.channel == channel, DirectThread.user == user, DirectThread.kind == "expert",
               ExpertRequest.state == ExpertState.OPEN.value)
        .order_by(DirectThread.id.desc()).limit(1))
    if request is None:
        return None
    return await answer(session=session, ref=request.ref, actor=user, text=text, now=now, coord=coord)


async def answer_in_card_thread(
    session: AsyncSession, case_id: int, *, user: str, text: str, now: datetime, coord: Coord,
) -> ExpertRequest | None:
    """An expert asked about this case writes in the card's thread: that is the answer."""
    request = await session.scalar(
        select(ExpertRequest).where(ExpertRequest.case_id == case_id, ExpertRequest.state == "open")
        .order_by(ExpertRequest.id.desc()).limit(1))
    if request is None or user not in request.experts:
        return None
    return await answer(session=session, ref=request.ref, actor=user, text=text, now=now, coord=coord)


async def latest_answer(session: AsyncSession, case_id: int, *, since: datetime | None) -> ExpertRequest | None:
    """The newest expert answer on the case given after `since` (the draft for the next reply)."""
    query = select(ExpertRequest).where(ExpertRequest.case_id == case_id,
                                        ExpertRequest.state == ExpertState.ANSWERED.value)
    if since is not None:
        query = query.where(ExpertRequest.answered_at > since)
    return await session.scalar(query.order_by(ExpertRequest.answered_at.desc()).limit(1))


def remember_thread(session: AsyncSession, *, channel: str, ts: str, user: str, request_id: int,
                    now: datetime) -> None:
    """Keep where the question to an expert was posted, so a reply in its thread finds it."""
    session.add(DirectThread(channel=channel, ts=ts, user=user, kind="expert", subject_id=request_id,
                             created_at=now))


async def context(session: AsyncSession, request_id: int) -> tuple[ExpertRequest, Case, Mention] | None:
    """The request, its case and the mention, for rendering the expert's message."""
    request = await session.get(ExpertRequest, request_id)
    if request is None:
        return None
    case = await session.get(Case, request.case_id)
    if case is None:
        return None
    return request, case, await latest_mention(session, case.id)
