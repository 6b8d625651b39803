"""Ingest: store new mentions once, attach each to its case, and queue the card work.

A mention joins a case when it replies to a mention of that case, or when its author writes again in
the same thread; otherwise it opens a new case (so 7,000 people commenting on one post are 7,000
conversations, while one customer's follow-ups stay on one card). A batch costs a fixed number of
statements (one INSERT per table), not a few per mention.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.kinds import CARD_POST, CARD_UPDATE, MESSAGE, NOTE, NOTICE, UPDATE_LANE, post_lane
from bot.models import Case, CaseStatus, Clock, ClockKind, Mention
from bot.outbox import enqueue_many, outbox_row, pending_cases
from bot.ports import MentionChange
from bot.schemas import MentionIn
from bot.services import autoack, clocks
from bot.services.coord import Coord
from bot.services.surges import open_surges
from bot.sql import insert_ignore
from bot.triage.service import Assessment, Triage, reasons_json

__all__ = [
    "CARD_POST", "CARD_UPDATE", "NOTE", "NOTICE", "UPDATE_LANE", "IngestResult", "apply_changes", "ingest",
    "post_lane",
]


@dataclass
class IngestResult:
    """What an ingest call did."""

    accepted: int = 0
    duplicates: int = 0
    new_cases: int = 0
    by_source: Counter[str] = field(default_factory=Counter)
    duplicates_by_source: Counter[str] = field(default_factory=Counter)


@dataclass
class _Target:
    """The case a mention goes to: an existing one, or a new one still to be inserted."""

    case: Case | None = None
    row: dict[str, Any] | None = None

    @property
    def id(self) -> int:
        return self.case.id if self.case is not None else self.row["id"]  # type: ignore[index]

    def add(self, m: MentionIn, now: datetime, a: Assessment | None) -> None:
        decision = a.verdict.decision.value if a else None
        priority = a.verdict.priority.value if a else None
        approval = bool(a and a.verdict.needs_approval)
        if self.case is not None:
            case = self.case
            case.mention_count += 1
            case.last_mention_at = max(case.last_mention_at, m.created_at)
            case.updated_at = now
            case.decision = _more_urgent(case.decision, decision, DECISION_RANK)
            case.priority = _more_urgent(case.priority, priority, PRIORITY_RANK)
            case.needs_approval = case.needs_approval or approval
        else:
            assert self.row is not None
            row = self.row
            row["mention_count"] += 1
            row["last_mention_at"] = max(row["last_mention_at"], m.created_at)
            row["decision"] = _more_urgent(row.get("decision"), decision, DECISION_RANK)
            row["priority"] = _more_urgent(row.get("priority"), priority, PRIORITY_RANK)
            row["needs_approval"] = row.get("needs_approval", False) or approval


PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
DECISION_RANK = {"respond": 0, "consider": 1, "skip": 2}


def _triage_fields(a: Assessment | None) -> dict[str, object]:
    if a is None:
        return {}
    c, v = a.classification, a.verdict
    return {
        "language": c.language, "intent": c.intent.value, "sentiment": round(c.sentiment, 3),
        "threat": c.threat, "topics": list(c.topics), "decision": v.decision.value,
        "priority": v.priority.value, "needs_approval": v.needs_approval,
        "triage": {
            "version": a.version,
            "evidence": {"language": list(c.language_evidence), "intent": list(c.intent_evidence),
                         "sentiment": list(c.sentiment_evidence), "threat": list(c.threat_evidence),
                         "topics": {k: list(w) for k, w in c.topic_evidence.items()}},
            "reasons": reasons_json(v.reasons), "approval": reasons_json(v.approval_reasons),
        },
    }


def _more_urgent(current: str | None, new: str | None, rank: dict[str, int]) -> str | None:
    if new is None:
        return current
    if current is None:
        return new
    return new if rank.get(new, 9) < rank.get(current, 9) else current


def _mention_row(m: MentionIn, now: datetime, a: Assessment | None = None) -> dict[str, object]:
    return _triage_fields(a) | {
        "source": m.source, "external_id": m.id, "thread_id": m.thread_id,
        "in_reply_to": m.in_reply_to, "venue": m.resolved_venue, "url": m.url,
        "author_id": m.author.id, "author_handle": m.author.handle, "author_name": m.author.name,
        "author_followers": m.author.followers, "author_verified": m.author.verified,
        "text": m.text, "lang": m.lang, "account": m.account, "created_at": m.created_at,
        "received_at": now,
    }


def _case_row(
    m: MentionIn, now: datetime, *, status: CaseStatus, notice: str | None, channel: str | None
) -> dict[str, Any]:
    return {
        "ref": secrets.token_urlsafe(9), "source": m.source, "venue": m.resolved_venue,
        "thread_key": m.thread_id or m.id, "author_key": m.author_key,
        "status": status.value, "mention_count": 0, "opened_at": now,
        "last_mention_at": m.created_at, "updated_at": now, "notice": notice,
        "evidence_hold": False, "card_channel": channel, "decision": None, "priority": None,
        "needs_approval": False,
    }


def _thread_key(m: MentionIn) -> tuple[str, ...]:
    return (m.source, m.thread_id or m.id, m.author_key)


def _reply_key(source: str, external_id: str) -> tuple[str, ...]:
    return ("reply", source, external_id)


async def ingest(
    session: AsyncSession,
    mentions: list[MentionIn],
    *,
    now: datetime,
    channel: str,
    notice: str | None = None,
    post_cards: bool = True,
    triage: Triage | None = None,
    coord: Coord | None = None,
) -> IngestResult:
    """Store the mentions that are new, open or join cases, and queue cards; duplicates change nothing.

    `notice` is shown on the cards of new cases (e.g. a polling gap); `post_cards=False` stores a
    historical export: cases are created as `imported`, with no cards and no clocks. With `triage`,
    each new mention is classified and judged, and its case takes the most urgent verdict. With
    `coord`, every case that now waits for an answer gets its response clock (SLA), and an answered
    case whose author writes again is reopened.
    """
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

    hot: set[str] = set()
    crisis: set[str] = set()
    if coord is not None and post_cards:
        for surge in await open_surges(session):
            if surge.scope == "thread" and coord.cfg.surge.collapse:
                hot.add(surge.key)
            if surge.crisis_at is not None:
                crisis.add(surge.key)
    assessed = {key: triage.assess(m, crisis=bool(crisis and _in_scopes(m, crisis)))
                for key, m in unique.items()} if triage else {}
    if triage and any(k.startswith("topic:") for k in crisis):  # a topic in crisis: known after triage
        for key, a in assessed.items():
            if not a.verdict.needs_approval and any(f"topic:{t}" in crisis for t in a.classification.topics):
                assessed[key] = triage.assess(unique[key], crisis=True)
    stmt = insert_ignore(session, Mention, ["source", "external_id"]).returning(
        Mention.id, Mention.source, Mention.external_id
    )
    inserted = {
        (row.source, row.external_id): row.id
        for row in await session.execute(
            stmt, [_mention_row(m, now, assessed.get(key)) for key, m in unique.items()])
    }
    for key, m in unique.items():
        counter = result.by_source if key in inserted else result.duplicates_by_source
        counter[m.source] += 1
    result.accepted = len(inserted)
    result.duplicates += len(unique) - len(inserted)
    if not inserted:
        return result

    fresh = sorted((m for key, m in unique.items() if key in inserted), key=lambda x: x.created_at)
    targets = await _existing_targets(session, fresh)
    new_rows: list[dict[str, Any]] = []
    assignments: list[tuple[int, _Target]] = []
    for m in fresh:
        target = targets.get(_reply_key(m.source, m.in_reply_to or "")) or targets.get(_thread_key(m))
        if target is None:
            status = CaseStatus.OPEN if post_cards else CaseStatus.IMPORTED
            target = _Target(row=_case_row(m, now, status=status, notice=notice,
                                           channel=channel if post_cards else None))
            new_rows.append(target.row)  # type: ignore[arg-type]
        target.add(m, now, assessed.get((m.source, m.id)))
        targets[_thread_key(m)] = targets[_reply_key(m.source, m.id)] = target
        assignments.append((inserted[(m.source, m.id)], target))

    if new_rows:
        ids = {r.ref: r.id for r in await session.execute(
            insert(Case).returning(Case.id, Case.ref), new_rows)}
        for row in new_rows:
            row["id"] = ids[row["ref"]]
    await session.flush()  # the joined (existing) cases' counters
    await session.execute(update(Mention), [{"id": mid, "case_id": t.id} for mid, t in assignments])

    result.new_cases = len(new_rows)
    if not post_cards:
        return result
    # Skipped by policy, and the team wants no card for those: stored and counted, no card.
    silent = triage is not None and triage.policy.cfg.skipped == "none"
    unposted = {row["id"] for row in new_rows if silent and row.get("decision") == "skip"}
    if unposted:
        await session.execute(update(Case).where(Case.id.in_(unposted)).values(
            status=CaseStatus.SKIPPED.value, card_channel=None))
    # A thread in a surge: new conversations are counted in cluster cards, not carded one by one.
    clustered = {t.id for m, (_, t) in zip(fresh, assignments, strict=True)
                 if t.case is None and f"thread:{m.source}:{m.thread_id or m.id}" in hot} - unposted
    if clustered:
        await session.execute(update(Case).where(Case.id.in_(clustered)).values(
            status=CaseStatus.CLUSTERED.value))
        unposted |= clustered
    # A live message in a conversation known only from an import, or one that was skipped and now
    # needs an answer, opens it: it gets its card now.
    revived = {t.case.id: t.case for _, t in assignments
               if t.case is not None and (t.case.status == CaseStatus.IMPORTED or (
                   t.case.status == CaseStatus.SKIPPED and t.case.decision != "skip"))}
    for case in revived.values():
        case.status, case.card_channel = CaseStatus.OPEN.value, channel
    lane = post_lane(channel)
    outbox = [outbox_row(kind=CARD_POST, lane=lane, case_id=cid, now=now, payload={"channel": channel})
              for cid in [row["id"] for row in new_rows if row["id"] not in unposted] + list(revived)]
    first_of_new = {row["id"] for row in new_rows}
    touched: set[int] = set()
    for mid, target in assignments:
        if target.id in revived or target.id in unposted or (
                target.case is not None and target.case.status == CaseStatus.SKIPPED):
            continue  # the new card shows the conversation as it stands, or there is no card
        if target.id in first_of_new:
            first_of_new.discard(target.id)  # the card itself shows the case's first message
            continue
        touched.add(target.id)
        outbox.append(outbox_row(kind=NOTE, lane=lane, case_id=target.id, now=now,
                                 payload={"event": "new_message", "mention_id": mid}))
    touched -= unposted
    if coord is not None:
        waiting = [row for row in new_rows if row["id"] not in unposted and row.get("decision") != "skip"]
        intents = {t.id: assessed[(m.source, m.id)].classification.intent.value
                   for m, (_, t) in zip(fresh, assignments, strict=True) if (m.source, m.id) in assessed}
        reopened = [t.case for _, t in assignments if t.case is not None
                    and t.case.status == CaseStatus.ANSWERED and t.case.id not in revived]
        for case in {c.id: c for c in reopened}.values():
            case.status = (CaseStatus.CLAIMED if case.owner else CaseStatus.OPEN).value
            outbox.append(outbox_row(kind=NOTE, lane=lane, case_id=case.id, now=now,
                                     payload={"event": "reopened"}))
        await start_response_clocks(
            session, coord, now=now, intents=intents, fresh={c.id for c in reopened},
            cases=[(r["id"], r["source"], r["venue"], r.get("priority"), None) for r in waiting]
            + [(c.id, c.source, c.venue, c.priority, c.owner) for c in [*revived.values(), *reopened]
               if c.decision != "skip"])
        skipped = {row["id"] for row in new_rows if row.get("decision") == "skip"} | unposted
        await autoack.acknowledge(session, [
            autoack.Waiting(case_id=t.id, mention_id=mid, source=m.source, author_key=m.author_key,
                            venue=m.resolved_venue, account=m.account)
            for m, (mid, t) in zip(fresh, assignments, strict=True)
            if t.id not in skipped and (t.case is None or t.case.decision != "skip")], now=now, coord=coord)
    threats = {key for key, found in assessed.items() if found.classification.threat}
    threatened = {t.id for m, (_, t) in zip(fresh, assignments, strict=True) if (m.source, m.id) in threats}
    if threatened:  # staff protection: keep the evidence (also if the post is deleted), tell security
        await session.execute(update(Case).where(Case.id.in_(threatened)).values(evidence_hold=True))
        for case_id in sorted(threatened):
            for person in coord.cfg.surge.security if coord is not None else []:
                outbox.append(outbox_row(kind=MESSAGE, lane=post_lane(person), case_id=case_id, now=now,
                                         payload={"to": person, "event": "threat_reported", "params": {}}))
    already = await pending_cases(session, case_ids=sorted(touched), kind=CARD_UPDATE)
    outbox += [outbox_row(kind=CARD_UPDATE, lane=UPDATE_LANE, case_id=cid, now=now)
               for cid in sorted(touched - already)]
    await enqueue_many(session, outbox)
    return result


def _in_scopes(m: MentionIn, keys: set[str]) -> bool:
    """Whether a mention falls in one of the surge scopes `keys` (org, its topics are not known yet: thread)."""
    return "org" in keys or f"thread:{m.source}:{m.thread_id or m.id}" in keys


async def start_response_clocks(
    session: AsyncSession, coord: Coord, *, now: datetime, intents: dict[int, str],
    cases: list[tuple[int, str, str, str | None, str | None]], fresh: set[int] | None = None,
) -> None:
    """Start the response clock (first-response SLA) of cases that now wait for us, unless one runs.

    `fresh`: reopened cases, whose running clock (if any) belongs to the question a reply still on
    its way answers: they get a clock of their own.
    """
    if not cases:
        return
    running = set(await session.scalars(select(Clock.case_id).where(
        Clock.case_id.in_([c[0] for c in cases]), Clock.kind == ClockKind.FIRST_RESPONSE.value,
        Clock.stopped_at.is_(None)))) - (fresh or set())
    seen: set[int] = set()
    for case_id, source, venue, priority, owner in cases:
        if case_id in running or case_id in seen:
            continue
        seen.add(case_id)
        target = coord.response_target(source=source, venue=venue, priority=priority,
                                       intent=intents.get(case_id))
        office = target.office_hours_only and not coord.calendar.always_open
        clocks.start(session, case_id=case_id, kind=ClockKind.FIRST_RESPONSE, now=now, cfg=coord.cfg,
                     timeline=coord.timeline, owner=owner, office_time=office,
                     due_at=coord.timeline.deadline(now, target.first_response, office=office))


async def _existing_targets(session: AsyncSession, fresh: list[MentionIn]) -> dict[tuple[str, ...], _Target]:
    """Existing cases the new mentions belong to, keyed by reply target and by thread+author."""
    found: dict[tuple[str, ...], _Target] = {}
    by_id: dict[int, _Target] = {}

    def target(case: Case) -> _Target:
        return by_id.setdefault(case.id, _Target(case=case))

    replies = {(m.source, m.in_reply_to) for m in fresh if m.in_reply_to}
    if replies:
        rows = await session.execute(
            select(Mention.source, Mention.external_id, Case)
            .join(Case, Case.id == Mention.case_id)
            .where(tuple_(Mention.source, Mention.external_id).in_(list(replies)))
        )
        for source, external_id, case in rows:
            found[_reply_key(source, external_id)] = target(case)
    threaded = {_thread_key(m) for m in fresh if m.thread_id}
    if threaded:
        cases = await session.scalars(
            select(Case)
            .where(tuple_(Case.source, Case.thread_key, Case.author_key).in_(list(threaded)))
            .order_by(Case.id)
        )
        for case in cases:
            found[(case.source, case.thread_key, case.author_key)] = target(case)
    return found


async def apply_changes(session: AsyncSession, changes: list[MentionChange], *, now: datetime) -> int:
    """Apply edits and deletions reported by networks; return how many stored mentions changed.

    An edit replaces the stored text. A deletion marks the mention deleted and drops its text
    (GDPR: keep only what is needed) unless its case holds evidence (threats), where the text stays.
    Either way the card is updated. Changes for mentions we never stored are ignored.
    """
    changed = 0
    for change in changes:
        row = (await session.execute(
            select(Mention, Case.evidence_hold)
            .outerjoin(Case, Case.id == Mention.case_id)
            .where(Mention.source == change.source, Mention.external_id == change.mention_id)
        )).first()
        if row is None:
            continue
        mention, hold = row
        if change.deleted:
            if mention.deleted_at is not None:
                continue
            mention.deleted_at = change.at or now
            if not hold:
                mention.text = ""
        else:
            if change.text is None or change.text == mention.text or mention.deleted_at is not None:
                continue
            mention.text = change.text
            mention.edited_at = change.at or now
        changed += 1
        if mention.case_id is not None:
            case = await session.get(Case, mention.case_id)
            if case is not None:
                case.updated_at = now
                if case.status != CaseStatus.IMPORTED and not await pending_cases(
                        session, case_ids=[case.id], kind=CARD_UPDATE):
                    await enqueue_many(session, [outbox_row(kind=CARD_UPDATE, lane=UPDATE_LANE,
                                                            case_id=case.id, now=now)])
    return changed
