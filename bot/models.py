"""Database models (SQLAlchemy 2, typed). Times are timezone-aware UTC everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer, "sqlite")
CHANNEL_ID = 200
"""A chat conversation id: Slack's `C0…` is short, a Teams 1:1 chat's `a:1…` runs past 130 characters."""
MESSAGE_ID = 64
"""A chat message id: Slack's ts, a Teams message or activity id."""
LANE_KEY = 240
"""An outbox lane: a kind of call and its conversation (see bot/kinds.py)."""


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC; SQLite returns naive values, which are read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class CaseStatus(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    IGNORED = "ignored"
    IMPORTED = "imported"
    """Stored from a historical export: no card, no clocks."""
    SKIPPED = "skipped"
    """The policy says skip and the team wants no card for those (triage.skipped: none)."""
    CLUSTERED = "clustered"
    """Arrived on a thread in a surge: counted in a cluster card instead of a card of its own."""


class ReplyStatus(StrEnum):
    AWAITING_APPROVAL = "pending_approval"
    """Sensitive: waits for a spokesperson; nothing is sent before the approval."""
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    INFLIGHT = "inflight"
    DONE = "done"
    DEAD = "dead"
    SKIPPED = "skipped"


OPEN_OUTBOX = (OutboxStatus.PENDING.value, OutboxStatus.INFLIGHT.value)


class Case(Base):
    """One conversation with one author in one thread: what the team handles and the card shows."""

    __tablename__ = "cases"
    __table_args__ = (
        Index(None, "source", "thread_key", "author_key"),
        Index(None, "card_channel", "card_ts"),
        Index(None, "owner", "status"),
        Index(None, "opened_at"),
        Index(None, "first_response_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    venue: Mapped[str] = mapped_column(String(16))
    thread_key: Mapped[str] = mapped_column(String(200))
    author_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    owner: Mapped[str | None] = mapped_column(String(64))
    ignored_reason: Mapped[str | None] = mapped_column(Text)
    mention_count: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime]
    last_mention_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    card_channel: Mapped[str | None] = mapped_column(String(CHANNEL_ID))
    """Where the card is (or will be) posted; `card_ts` is set once it is."""
    card_ts: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    card_error: Mapped[str | None] = mapped_column(Text)
    notice: Mapped[str | None] = mapped_column(Text)
    """Something the team should know about how this case arrived (e.g. a gap in X polling)."""
    evidence_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Keep deleted posts' text (threats): evidence for a police report."""
    decision: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(16))
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    snoozed_until: Mapped[datetime | None]
    """Snoozed: nudges about this case wait until then (the reason is in the audit trail)."""
    snooze_reason: Mapped[str | None] = mapped_column(Text)


class Mention(Base):
    """One inbound post, comment or message, normalised from any source."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(None, "case_id"),
        Index(None, "cluster_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    thread_id: Mapped[str | None] = mapped_column(String(200))
    in_reply_to: Mapped[str | None] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(200))
    author_handle: Mapped[str | None] = mapped_column(String(200))
    author_name: Mapped[str | None] = mapped_column(String(300))
    author_followers: Mapped[int | None] = mapped_column(BigInteger)
    author_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(16))
    account: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    received_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    liked_at: Mapped[datetime | None]
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # triage (null when a mention was stored before triage existed)
    language: Mapped[str | None] = mapped_column(String(8))
    intent: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[float | None] = mapped_column(Float)
    threat: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    topics: Mapped[list[str] | None] = mapped_column(JSON)
    decision: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[str | None] = mapped_column(String(16))
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    triage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Evidence and reasons: {"evidence": {...}, "reasons": [...], "approval": [...], "version": ...}."""
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("surge_clusters.id", ondelete="SET NULL"))
    """During a surge: the near-duplicate cluster this mention is counted in."""


class Reply(Base):
    """A reply an agent sent (or is sending) to the network."""

    __tablename__ = "replies"
    __table_args__ = (
        Index(None, "case_id"),
        Index(None, "text_hash", "created_at"),
        Index(None, "promise_due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ReplyStatus.QUEUED.value)
    external_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Sent by the bot (the acknowledgement outside office hours): not an answer, keeps no promise."""
    # reply craft (null on replies stored before it existed)
    text_hash: Mapped[str | None] = mapped_column(String(64))
    """Fingerprint of the wording without the addressee (bot.craft.text.text_hash): "identical to a recent
    reply" is one indexed lookup."""
    promise: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The promise this reply makes (bot.craft.promises.Promise.as_json): {"version": 1, "phrases": [...],
    "language": "nl", "due_hint": "morgen" | null, "due_at": ISO-8601, "due_from": "hint" | "default"}."""
    promise_due_at: Mapped[datetime | None]
    """`promise.due_at` as a column, so due promises are found by index."""
    tone_overrides: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    """Tone warnings the agent read and sent anyway (audit): [{"code", "evidence", ...}], null if none."""


class AnswerUse(Base):
    """A wording from the answer library went to an author: rotation suggests it last to others."""

    __tablename__ = "answer_uses"
    __table_args__ = (Index(None, "variant_key", "used_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    variant_key: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(64))
    author_key: Mapped[str] = mapped_column(String(240))
    """`<source>:<case author key>`: one person on one network."""
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id", ondelete="SET NULL"))
    used_at: Mapped[datetime]


class AutoAck(Base):
    """When an author last got the automatic "we answer on ... from ..." (at most one per period)."""

    __tablename__ = "auto_acks"

    author_key: Mapped[str] = mapped_column(String(240), primary_key=True)
    """`<source>:<author key>`: one person on one network."""
    last_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)


class CaseEvent(Base):
    """Audit trail: who did what to a case, and when."""

    __tablename__ = "case_events"
    __table_args__ = (Index(None, "case_id", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    """None for a refused click whose case could not be told (a malformed or unknown reference)."""
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxItem(Base):
    """One outbound call, written in the transaction that caused it; delivered by the dispatcher.

    `not_before` is when the dispatcher next looks at the row: the due time of a pending row, or the
    lease end of an in-flight one (after which its outcome is unknown and it is reconciled).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "not_before",
            postgresql_where=text("status IN ('pending', 'inflight')"),
            sqlite_where=text("status IN ('pending', 'inflight')"),
        ),
        Index(
            "ix_outbox_open_case",
            "case_id",
            "kind",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    lane: Mapped[str] = mapped_column(String(LANE_KEY))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    provider_ref: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)


class Lane(Base):
    """Pacing of one rate-limited destination (a Slack channel, a network account), shared by instances."""

    __tablename__ = "lanes"

    key: Mapped[str] = mapped_column(String(LANE_KEY), primary_key=True)
    next_at: Mapped[datetime]


class InboundSeen(Base):
    """Keys of inbound deliveries already handled (Slack event ids), to drop retries."""

    __tablename__ = "inbound_seen"
    __table_args__ = (Index(None, "seen_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime]


class RejectedPayload(Base):
    """A request body the ingest refused, kept (size-capped) so an integrator can see what went wrong."""

    __tablename__ = "rejected_payloads"
    __table_args__ = (Index(None, "received_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    route: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)


class IntegrationState(Base):
    """A polled source's cursor, its lease (one instance polls at a time) and its health."""

    __tablename__ = "integration_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    next_poll_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    failing_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ClockKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    PROMISE = "promise"
    EXPERT = "expert"
    APPROVAL = "approval"


class Clock(Base):
    """Something the team must do by `due_at`; the sweep walks its ladder of nudges and escalations.

    `next_at` is when the sweep must look at it next (NULL once the ladder is done or the clock is
    stopped), `step` how many rungs of the ladder have been taken. The sweep claims due rows with
    `FOR UPDATE SKIP LOCKED` and advances `step` in the same transaction as the messages it queues,
    so every rung is taken exactly once, whatever the number of instances.
    """

    __tablename__ = "clocks"
    __table_args__ = (
        Index("ix_clocks_next", "next_at", postgresql_where=text("next_at IS NOT NULL"),
              sqlite_where=text("next_at IS NOT NULL")),
        Index("ix_clocks_open_case", "case_id", "kind", postgresql_where=text("stopped_at IS NULL"),
              sqlite_where=text("stopped_at IS NULL")),
        Index("ix_clocks_owner", "owner", "due_at", postgresql_where=text("stopped_at IS NULL"),
              sqlite_where=text("stopped_at IS NULL")),
        Index("ix_clocks_running_due", "due_at", postgresql_where=text("stopped_at IS NULL"),
              sqlite_where=text("stopped_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(Id)
    """The promise, expert request or approval this clock belongs to (none for first response)."""
    owner: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    step: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    """met (in time), late (done after due), cancelled."""
    office_time: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """The ladder counts office time only (sla.office_hours_only): no escalation at night."""


class PromiseState(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    """A later reply went to the author (in time or late: the promise's clock tells)."""
    BROKEN = "broken"
    """The case was closed with the promise still open."""
    CANCELLED = "cancelled"


class Promise(Base):
    """"We komen erop terug": what was promised to the author of a case, and by when."""

    __tablename__ = "promises"
    __table_args__ = (
        Index(None, "case_id", "state"), Index(None, "state", "due_at"), Index(None, "state", "settled_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    what: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))
    """button (case.promise), reply (a promise phrase in a sent reply) or expert (a holding reply)."""
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default=PromiseState.OPEN.value)
    settled_at: Mapped[datetime | None]
    settled_by_reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id", ondelete="SET NULL"))


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Approval(Base):
    """A reply that waits for a spokesperson: the approval card, the decision and who took it."""

    __tablename__ = "approvals"
    __table_args__ = (Index(None, "case_id"), Index(None, "reply_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id", ondelete="CASCADE"))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """Why approval is needed: triage reason codes, or the agent's own request."""
    draft: Mapped[str] = mapped_column(Text)
    """The agent's text as submitted (the reply's text may be edited by the spokesperson)."""
    state: Mapped[str] = mapped_column(String(16), default=ApprovalState.PENDING.value)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    """The reason of a rejection."""
    edited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    card_channel: Mapped[str | None] = mapped_column(String(CHANNEL_ID))
    card_ts: Mapped[str | None] = mapped_column(String(MESSAGE_ID))


class ExpertState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


class ExpertRequest(Base):
    """A question to the experts of a topic; their answer becomes the agent's draft."""

    __tablename__ = "expert_requests"
    __table_args__ = (Index(None, "case_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    topic: Mapped[str | None] = mapped_column(String(64))
    experts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    question: Mapped[str] = mapped_column(Text)
    asked_by: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=ExpertState.OPEN.value)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]


class ChatPerson(Base):
    """A person's display name as the chat last told it (Teams: cards show names, roles list Entra ids)."""

    __tablename__ = "chat_people"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class DirectThread(Base):
    """A message we posted to a person (an expert's question), so a reply in its thread finds its subject."""

    __tablename__ = "direct_threads"
    __table_args__ = (UniqueConstraint("channel", "ts"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_ID))
    ts: Mapped[str] = mapped_column(String(MESSAGE_ID))
    user: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Id)
    created_at: Mapped[datetime]


class SurgeState(StrEnum):
    OPEN = "open"
    ACKED = "acked"
    RESOLVED = "resolved"


class Surge(Base):
    """A storm on the organisation, a topic or one thread: the alert, its figures and who handles it."""

    __tablename__ = "surges"
    __table_args__ = (Index(None, "state", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    """org, topic or thread"""
    key: Mapped[str] = mapped_column(String(240))
    """The detector's scope key: `org`, `topic:<name>`, `thread:<source>:<thread id>`."""
    label: Mapped[str | None] = mapped_column(Text)
    """What people recognise: the thread's post URL or first words, the topic's name."""
    level: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=SurgeState.OPEN.value)
    started_at: Mapped[datetime]
    raised_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    messages: Mapped[int] = mapped_column(Integer, default=0)
    authors: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    threats: Mapped[int] = mapped_column(Integer, default=0)
    rate_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    expected_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    history: Mapped[list[Any]] = mapped_column(JSON, default=list)
    """[[iso time, messages per hour], ...] for the card's chart (capped)."""
    acked_by: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    crisis_by: Mapped[str | None] = mapped_column(String(64))
    crisis_at: Mapped[datetime | None]
    statement: Mapped[str | None] = mapped_column(Text)
    """The holding statement, once a spokesperson approved it (offered to every author, varied)."""
    statement_by: Mapped[str | None] = mapped_column(String(64))
    statement_at: Mapped[datetime | None]
    card_channel: Mapped[str | None] = mapped_column(String(CHANNEL_ID))
    card_ts: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    card_due_at: Mapped[datetime | None]
    """An update of the card is queued for then (updates are coalesced: at most one per interval)."""
    card_messages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The message count the alert card last showed (it is updated sooner while the storm grows)."""
    storm_channel: Mapped[str | None] = mapped_column(String(CHANNEL_ID))
    """The storm card in the mention channel: every collapsed message of the surge counted, in place."""
    storm_ts: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    storm_due_at: Mapped[datetime | None]


class SurgeCluster(Base):
    """Near-duplicate messages of a surge, shown as one card that is updated in place."""

    __tablename__ = "surge_clusters"
    __table_args__ = (UniqueConstraint("surge_id", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    surge_id: Mapped[int] = mapped_column(ForeignKey("surges.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    sample: Mapped[str] = mapped_column(Text)
    words: Mapped[list[Any]] = mapped_column(JSON, default=list)
    count: Mapped[int] = mapped_column(Integer, default=0)
    threats: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    card_channel: Mapped[str | None] = mapped_column(String(CHANNEL_ID))
    card_ts: Mapped[str | None] = mapped_column(String(MESSAGE_ID))
    card_due_at: Mapped[datetime | None]
    shown_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """The count the card showed last (and when): the storm card keeps counting, the card says when."""
    shown_at: Mapped[datetime | None]
