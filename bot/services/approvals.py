"""Spokesperson approval: nothing sensitive leaves without it, and nobody else can give it.

A reply that triage marks sensitive (or that the agent sends for approval) is stored as
`awaiting_approval` and an approval card goes to `slack.approvals_channel`. Approve (optionally with
an edited text) queues the reply; Reject keeps it back with a reason. No decision within
`approvals.timeout`: the backup spokespersons, then the managers (the approval clock's ladder).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import AlreadyDecided, ApprovalNotFound, InvalidInput
from bot.kinds import APPROVAL_POST, APPROVAL_UPDATE, REPLY, UPDATE_LANE, post_lane
from bot.models import Approval, ApprovalState, Case, ClockKind, Mention, Reply, ReplyStatus
from bot.outbox import enqueue
from bot.services import audit, clocks
from bot.services.cardwork import network_lane, refresh_card, touch_card
from bot.services.coord import Coord
from bot.team import APPROVERS
from bot.views import parse_model


class ApprovalRef(BaseModel):
    """What an approval card's buttons and modals carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approval: str = Field(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


def approval_value(ref: str) -> str:
    """Serialise an approval reference for a button value or private_metadata."""
    return ApprovalRef(approval=ref).model_dump_json()


def parse_approval(raw: str | None) -> ApprovalRef:
    """Read an approval reference; a malformed one raises BadReference."""
    return parse_model(ApprovalRef, raw)


def approvals_channel(coord: Coord) -> str:
    """Where approval cards go (the mention channel when no approvals channel is configured)."""
    return coord.cfg.channels.approvals


async def request(
    session: AsyncSession, case: Case, reply: Reply, *, actor: str, reasons: list[Any], now: datetime,
    coord: Coord,
) -> Approval:
    """Hold `reply` for a spokesperson: the approval row, its card and its clock, in this transaction."""
    reply.status = ReplyStatus.AWAITING_APPROVAL.value
    approval = Approval(ref=secrets.token_urlsafe(9), case_id=case.id, reply_id=reply.id, requested_by=actor,
                        requested_at=now, reasons=reasons, draft=reply.text, state=ApprovalState.PENDING.value,
                        edited=False, card_channel=approvals_channel(coord))
    session.add(approval)
    await session.flush()
    enqueue(session, kind=APPROVAL_POST, lane=post_lane(approval.card_channel or ""), case_id=case.id,
            now=now, payload={"approval_id": approval.id})
    clocks.start(session, case_id=case.id, kind=ClockKind.APPROVAL, now=now, cfg=coord.cfg,
                 timeline=clocks.Timeline(), due_at=now + coord.cfg.approvals.timeout, subject_id=approval.id)
    audit.record(session, case_id=case.id, actor=actor, action="approval.requested", at=now,
                 approval_id=approval.id, reply_id=reply.id, reasons=reasons)
    touch_card(session, case, now=now, note={"event": "approval_requested", "actor": actor})
    return approval


async def _load(session: AsyncSession, ref: str) -> tuple[Approval, Reply, Case]:
    approval = await session.scalar(select(Approval).where(Approval.ref == ref).with_for_update())
    if approval is None:
        raise ApprovalNotFound()
    reply = await session.get(Reply, approval.reply_id)
    case = await session.get(Case, approval.case_id)
    if reply is None or case is None:
        raise ApprovalNotFound()
    return approval, reply, case


def _check(coord: Coord, approval: Approval, actor: str, action: str) -> None:
    coord.team.require(actor, *APPROVERS, action=action)
    if approval.state != ApprovalState.PENDING:
        raise AlreadyDecided(by=approval.decided_by or "?", state=approval.state)


async def approve(
    *, session: AsyncSession, ref: str, actor: str, now: datetime, coord: Coord, text: str | None = None,
) -> Approval:
    """Approve the held reply (with `text` when the spokesperson edited it) and queue it."""
    approval, reply, case = await _load(session, ref)
    _check(coord, approval, actor, "approval.edit" if text is not None else "approval.approve")
    if text is not None:
        text = text.strip()
        if not text:
            raise InvalidInput(field="text", reason="empty")
        approval.edited = text != reply.text
        reply.text = text
    approval.state, approval.decided_by, approval.decided_at = ApprovalState.APPROVED.value, actor, now
    reply.status = ReplyStatus.QUEUED.value
    mention = await session.get(Mention, reply.mention_id)
    enqueue(session, kind=REPLY, lane=network_lane(case.source, mention.account if mention else None),
            case_id=case.id, now=now, payload={"reply_id": reply.id})
    await _decided(session, approval, case, actor=actor, now=now, event="approved" if not approval.edited
                   else "approved_edited", text=reply.text if approval.edited else None)
    return approval


async def reject(
    *, session: AsyncSession, ref: str, actor: str, reason: str, now: datetime, coord: Coord,
) -> Approval:
    """Reject the held reply with a reason; it is never sent, and the agent sees why."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(field="reason", reason="empty")
    approval, reply, case = await _load(session, ref)
    _check(coord, approval, actor, "approval.reject")
    approval.state, approval.decided_by, approval.decided_at = ApprovalState.REJECTED.value, actor, now
    approval.note = reason[:1000]
    reply.status, reply.error = ReplyStatus.REJECTED.value, reason[:500]
    await _decided(session, approval, case, actor=actor, now=now, event="rejected", text=reason)
    return approval


async def _decided(
    session: AsyncSession, approval: Approval, case: Case, *, actor: str, now: datetime, event: str,
    text: str | None,
) -> None:
    await clocks.stop(session, case_id=case.id, kind=ClockKind.APPROVAL, subject_id=approval.id, now=now)
    audit.record(session, case_id=case.id, actor=actor, action=f"approval.{event}", at=now,
                 approval_id=approval.id, text=text)
    enqueue(session, kind=APPROVAL_UPDATE, lane=UPDATE_LANE, case_id=case.id, now=now,
            payload={"approval_id": approval.id})
    touch_card(session, case, now=now, note={"event": f"approval_{event}", "actor": actor, "text": text,
                                             "params": {"agent": approval.requested_by}})
    case.updated_at = now
    await refresh_card(session, case, now=now)


async def may_decide(*, session: AsyncSession, ref: str, actor: str, coord: Coord, action: str) -> str:
    """Check that `actor` may decide on this approval now (before a modal asks for more); the draft."""
    approval = await session.scalar(select(Approval).where(Approval.ref == ref))
    if approval is None:
        raise ApprovalNotFound()
    _check(coord, approval, actor, action)
    reply = await session.get(Reply, approval.reply_id)
    return reply.text if reply is not None else approval.draft
