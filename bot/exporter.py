"""`webcare export mentions`: stored mentions with their case state, for audits, GDPR requests and evidence.

Rows are read in batches by keyset pagination (``WHERE mentions.id > last ORDER BY id LIMIT n``),
each batch in its own short read transaction, so an export of millions of rows runs in constant
memory and never holds a long transaction open on a live database. One mention is one row:

- the mention schema's fields (`source`, `id`, `thread_id`, `in_reply_to`, `venue`, `url`, `author`,
  `text`, `created_at`, `lang`, `account`), so the JSON Lines output is accepted again by
  `webcare import`;
- what we know about it: `received_at`, `edited_at`, `deleted_at`, `hidden`, `triage` (language,
  intent, sentiment, threat, topics, decision, priority, needs_approval), `case` (ref, status, owner,
  opened_at, first_response_at, evidence_hold) and `replies` (the replies sent to this mention);
- `text` is null when the post was deleted at the source and its text dropped (GDPR); a case with an
  evidence hold keeps the text of deleted posts.

`evidence=True` keeps only threats and abuse (triage) and mentions of cases with an evidence hold, and
adds `sha256` (of the stored text, UTF-8) and `threat_evidence` (the words that made it a threat).
CSV flattens nested fields into dotted columns (`author.handle`, `case.status`), `topics` joined with
``|`` and `replies` as a JSON string.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Case, Mention, Reply

BATCH = 1000
FORMATS = ("jsonl", "csv")
TRIAGE = ("language", "intent", "sentiment", "threat", "topics", "decision", "priority", "needs_approval")
CASE = ("ref", "status", "owner", "opened_at", "first_response_at", "evidence_hold")
AUTHOR = ("id", "handle", "name", "followers", "verified")
CSV_COLUMNS = (
    "source", "id", "thread_id", "in_reply_to", "venue", "url", *(f"author.{k}" for k in AUTHOR),
    "text", "created_at", "received_at", "edited_at", "deleted_at", "hidden", "lang", "account",
    *(f"triage.{k}" for k in TRIAGE), *(f"case.{k}" for k in CASE), "replies",
)
EVIDENCE_COLUMNS = ("sha256", "threat_evidence")


@dataclass(frozen=True)
class ExportFilter:
    """Which mentions to export; all given conditions must hold."""

    since: datetime | None = None
    """Posted at or after (`created_at`)."""
    until: datetime | None = None
    """Posted before."""
    author: str | None = None
    """An author id, or a handle (case-insensitive, a leading @ is ignored), on any source."""
    case_ref: str | None = None
    source: str | None = None
    evidence: bool = False
    """Only threats and abuse, and mentions of cases with an evidence hold; adds sha256."""

    def conditions(self) -> list[ColumnElement[bool]]:
        """The WHERE conditions (on mentions outer-joined to cases)."""
        out: list[ColumnElement[bool]] = []
        if self.since is not None:
            out.append(Mention.created_at >= self.since)
        if self.until is not None:
            out.append(Mention.created_at < self.until)
        if self.author:
            handle = self.author.removeprefix("@").lower()
            out.append(or_(Mention.author_id == self.author, func.lower(Mention.author_handle) == handle))
        if self.case_ref:
            out.append(Case.ref == self.case_ref)
        if self.source:
            out.append(Mention.source == self.source)
        if self.evidence:
            out.append(or_(Mention.threat.is_(True), Mention.intent == "threat", Case.evidence_hold.is_(True)))
        return out


@dataclass
class ExportSummary:
    """What an export wrote."""

    mentions: int = 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def record(m: Mention, case: Case | None, replies: list[Reply], *, evidence: bool = False) -> dict[str, Any]:
    """One exported mention as a JSON-ready dict."""
    dropped = m.deleted_at is not None and m.text == ""
    out: dict[str, Any] = {
        "source": m.source, "id": m.external_id, "thread_id": m.thread_id, "in_reply_to": m.in_reply_to,
        "venue": m.venue, "url": m.url,
        "author": {"id": m.author_id, "handle": m.author_handle, "name": m.author_name,
                   "followers": m.author_followers, "verified": m.author_verified},
        "text": None if dropped else m.text,
        "created_at": _iso(m.created_at), "received_at": _iso(m.received_at),
        "edited_at": _iso(m.edited_at), "deleted_at": _iso(m.deleted_at), "hidden": m.hidden,
        "lang": m.lang, "account": m.account,
        "triage": {"language": m.language, "intent": m.intent, "sentiment": m.sentiment,
                   "threat": m.threat, "topics": list(m.topics or []), "decision": m.decision,
                   "priority": m.priority, "needs_approval": m.needs_approval},
        "case": None if case is None else {
            "ref": case.ref, "status": case.status, "owner": case.owner, "opened_at": _iso(case.opened_at),
            "first_response_at": _iso(case.first_response_at), "evidence_hold": case.evidence_hold},
        "replies": [{"created_at": _iso(r.created_at), "sent_at": _iso(r.sent_at), "agent": r.agent,
                     "status": r.status, "text": r.text} for r in replies],
    }
    if evidence:
        out["sha256"] = None if dropped else hashlib.sha256(m.text.encode("utf-8")).hexdigest()
        threat = ((m.triage or {}).get("evidence") or {}).get("threat")
        out["threat_evidence"] = list(threat) if isinstance(threat, list) else []
    return out


async def iter_mentions(maker: async_sessionmaker[AsyncSession], flt: ExportFilter, *,
                        batch: int = BATCH) -> AsyncIterator[dict[str, Any]]:
    """Yield the matching mentions in id order, one short read transaction per batch."""
    last = 0
    conditions = flt.conditions()
    while True:
        async with maker() as session:
            rows = (await session.execute(
                select(Mention, Case).outerjoin(Case, Case.id == Mention.case_id)
                .where(Mention.id > last, *conditions).order_by(Mention.id).limit(batch))).all()
            if not rows:
                return
            replies: dict[int, list[Reply]] = defaultdict(list)
            for reply in await session.scalars(
                    select(Reply).where(Reply.mention_id.in_([m.id for m, _ in rows])).order_by(Reply.id)):
                replies[reply.mention_id].append(reply)
        for m, case in rows:
            yield record(m, case, replies.get(m.id, []), evidence=flt.evidence)
        last = rows[-1][0].id


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A record as one CSV row: dotted columns, topics joined with `|`, replies as JSON."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if key == "replies":
            flat[key] = json.dumps(value, ensure_ascii=False) if value else ""
        elif key == "threat_evidence":
            flat[key] = "|".join(value)
        elif isinstance(value, dict) or (value is None and key == "case"):
            for sub in (AUTHOR if key == "author" else TRIAGE if key == "triage" else CASE):
                flat[f"{key}.{sub}"] = _cell((value or {}).get(sub))
        else:
            flat[key] = _cell(value)
    return flat


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    return value


async def export_mentions(maker: async_sessionmaker[AsyncSession], out: TextIO, flt: ExportFilter, *,
                          fmt: str = "jsonl", batch: int = BATCH) -> ExportSummary:
    """Write the matching mentions to `out` as JSON Lines or CSV (with a header row)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    summary = ExportSummary()
    writer: csv.DictWriter[str] | None = None
    if fmt == "csv":
        columns = CSV_COLUMNS + (EVIDENCE_COLUMNS if flt.evidence else ())
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
    async for row in iter_mentions(maker, flt, batch=batch):
        if writer is not None:
            writer.writerow(flatten(row))
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        summary.mentions += 1
        if summary.mentions % batch == 0:
            out.flush()
    out.flush()
    return summary


__all__ = ["BATCH", "CSV_COLUMNS", "ExportFilter", "ExportSummary", "export_mentions", "flatten",
           "iter_mentions", "record"]
