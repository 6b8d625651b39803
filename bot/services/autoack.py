"""The automatic acknowledgement outside office hours: "we reageren maandag om 08:30".

Small teams are not in at night or at weekends; an author in our own house gets one honest message
saying when the answer will come, at most once per `auto_ack.period`, never on someone else's page
or forum, and in varied wording (the built-in variants, or `auto_ack.texts`). It is sent like any
reply (outbox, idempotency key) but marked automatic: it is not the first response, so the SLA
clock keeps running and no promise counts as kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Translator
from bot.kinds import REPLY
from bot.models import AutoAck, Reply, ReplyStatus
from bot.outbox import enqueue
from bot.services import audit
from bot.services.cardwork import network_lane
from bot.services.coord import Coord
from bot.sla import auto_ack_due
from bot.sql import insert_ignore

AGENT = "webcare-bot"
BUILT_IN = ("auto_ack.1", "auto_ack.2", "auto_ack.3")


@dataclass(frozen=True)
class Waiting:
    """A new message in our own house that waits for an answer."""

    case_id: int
    mention_id: int
    source: str
    author_key: str
    venue: str
    account: str | None


def wording(t: Translator, texts: list[str], *, when: str, nth: int) -> str:
    """The `nth` wording in turn (so consecutive authors read different sentences)."""
    if texts:
        return texts[nth % len(texts)].format(when=when)
    return t(BUILT_IN[nth % len(BUILT_IN)], when=when)


def _person(source: str, author_key: str) -> str:
    return f"{source}:{author_key}"[:240]


async def acknowledge(session: AsyncSession, waiting: list[Waiting], *, now: datetime, coord: Coord) -> int:
    """Queue the acknowledgement for each author that should get one now; return how many."""
    cfg = coord.cfg.auto_ack
    if not cfg.enabled or not waiting or coord.calendar.is_open(now):
        return 0
    people = {_person(w.source, w.author_key): w for w in waiting if w.venue == "own"}
    if not people:
        return 0
    last = {row.author_key: row for row in await session.scalars(
        select(AutoAck).where(AutoAck.author_key.in_(list(people))).with_for_update())}
    sent = 0
    for person, w in people.items():
        row = last.get(person)
        when_at = auto_ack_due(cfg, coord.calendar, at=now, source=w.source, venue=w.venue,
                               last_ack_at=row.last_at if row else None)
        if when_at is None:
            continue
        nth = int(hashlib.sha256(person.encode()).hexdigest(), 16) + (row.count if row else 0)
        text = wording(coord.t, list(cfg.texts), when=coord.t.when(when_at, now=now), nth=nth)
        reply = Reply(case_id=w.case_id, mention_id=w.mention_id, agent=AGENT, text=text, automatic=True,
                      status=ReplyStatus.QUEUED.value, created_at=now)
        session.add(reply)
        await session.flush()
        enqueue(session, kind=REPLY, lane=network_lane(w.source, w.account), case_id=w.case_id, now=now,
                payload={"reply_id": reply.id})
        audit.record(session, case_id=w.case_id, actor=AGENT, action="auto_ack", at=now, reply_id=reply.id,
                     until=when_at.isoformat())
        if row is None:
            await session.execute(insert_ignore(session, AutoAck, ["author_key"]),
                                  [{"author_key": person, "last_at": now, "count": 1}])
        else:
            row.last_at, row.count = now, row.count + 1
        sent += 1
    return sent
