"""Ingest: store new mentions once, attach each to its case, and queue the card work.

A mention joins a case when it replies to a mention of that case, or when its author writes again in
the same thread; otherwise it opens a new case (so 7,000 people commenting on one post are 7,000
conversations, while one customer's follow-ups stay on one card).
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Case, CaseStatus, Mention
from bot.outbox import enqueue, has_pending
from bot.schemas import MentionIn
from bot.sql import insert_ignore

CARD_POST = "card.post"
CARD_UPDATE = "card.update"
NOTE = "note.post"


def post_lane(channel: str) -> str:
    """The lane of messages posted to one chat channel (paced about one per second)."""
    return f"chat.post:{channel}"


UPDATE_LANE = "chat.update"


@dataclass
class IngestResult:
    """What an ingest call did."""

    accepted: int = 0
    duplicates: int = 0
    new_cases: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    duplicates_by_source: Counter[str] = field(default_factory=Counter)


def _row(m: MentionIn, now: datetime) -> dict[str, object]:
    return {
        "source": m.source, "external_id": m.id, "thread_id": m.thread_id,
        "in_reply_to": m.in_reply_to, "venue": m.resolved_venue, "url": m.url,
        "author_id": m.author.id, "author_handle": m.author.handle, "author_name": m.author.name,
        "author_followers": m.author.followers, "author_verified": m.author.verified,
        "text": m.text, "lang": m.lang, "created_at": m.created_at, "received_at": now,
    }


async def ingest(
    session: AsyncSession, mentions: list[MentionIn], *, now: datetime, channel: str
) -> IngestResult:
    """Store the mentions that are new, open or join cases, and queue cards; duplicates change nothing."""
    result = IngestResult()
    unique: dict[tuple[str, str], MentionIn] = {}
    for m in mentions:
        if (m.source, m.id) in unique:
            result.duplicates += 1
            result.duplicates_by_source[m.source] += 1
        else:
            unique[(m.source, m.id)] = m
    if not unique:
        return result

    stmt = insert_ignore(session, Mention, ["source", "external_id"]).returning(
        Mention.id, Mention.source, Mention.external_id
    )
    inserted = {
        (row.source, row.external_id): row.id
        for row in await session.execute(stmt, [_row(m, now) for m in unique.values()])
    }
    for key, m in unique.items():
        if key in inserted:
            result.accepted += 1
            result.by_source[m.source] += 1
        else:
            result.duplicates += 1
            result.duplicates_by_source[m.source] += 1
    if not inserted:
        return result

    fresh = [m for key, m in unique.items() if key in inserted]
    cases = await _resolve_cases(session, fresh)
    assignments: list[tuple[int, Case]] = []
    touched: dict[int, Case] = {}
    new_cases: list[Case] = []
    for m in sorted(fresh, key=lambda x: x.created_at):
        case = cases.get(("reply", m.source, m.in_reply_to or "")) or cases.get(_thread_key(m))
        if case is None:
            case = Case(
                ref=secrets.token_urlsafe(9), source=m.source, venue=m.resolved_venue,
                thread_key=m.thread_id or m.id, author_key=m.author_key,
                status=CaseStatus.OPEN.value, mention_count=0, opened_at=now,
                last_mention_at=m.created_at, updated_at=now,
            )
            session.add(case)
            new_cases.append(case)
        case.mention_count = (case.mention_count or 0) + 1
        case.last_mention_at = max(case.last_mention_at, m.created_at)
        case.updated_at = now
        cases[_thread_key(m)] = case
        cases[("reply", m.source, m.id)] = case
        touched.setdefault(id(case), case)
        assignments.append((inserted[(m.source, m.id)], case))
    await session.flush()
    await session.execute(
        update(Mention), [{"id": mid, "case_id": case.id} for mid, case in assignments]
    )
    result.new_cases = len(new_cases)
    for case in new_cases:
        enqueue(session, kind=CARD_POST, lane=post_lane(channel), case_id=case.id, now=now,
                payload={"channel": channel})
    opened = {id(c) for c in new_cases}
    for mid, case in assignments:
        if id(case) in opened:
            opened.discard(id(case))  # the card itself shows the case's first message
            continue
        enqueue(session, kind=NOTE, lane=post_lane(channel), case_id=case.id, now=now,
                payload={"event": "new_message", "mention_id": mid})
    created = {id(c) for c in new_cases}
    for case in touched.values():
        if id(case) not in created and not await has_pending(
            session, case_id=case.id, kind=CARD_UPDATE
        ):
            enqueue(session, kind=CARD_UPDATE, lane=UPDATE_LANE, case_id=case.id, now=now)
    return result


def _thread_key(m: MentionIn) -> tuple[str, str, str]:
    return (m.source, m.thread_id or m.id, m.author_key)


async def _resolve_cases(session: AsyncSession, fresh: list[MentionIn]) -> dict[tuple[str, ...], Case]:
    """Existing cases the new mentions belong to, keyed by reply target and by thread+author."""
    found: dict[tuple[str, ...], Case] = {}
    replies = {(m.source, m.in_reply_to) for m in fresh if m.in_reply_to}
    if replies:
        rows = await session.execute(
            select(Mention.source, Mention.external_id, Case)
            .join(Case, Case.id == Mention.case_id)
            .where(tuple_(Mention.source, Mention.external_id).in_(list(replies)))
        )
        for source, external_id, case in rows:
            found[("reply", source, external_id)] = case
    threaded = {_thread_key(m) for m in fresh if m.thread_id}
    if threaded:
        rows2 = await session.scalars(
            select(Case)
            .where(tuple_(Case.source, Case.thread_key, Case.author_key).in_(list(threaded)))
            .order_by(Case.id)
        )
        for case in rows2:
            found[(case.source, case.thread_key, case.author_key)] = case
    return found
