"""Neutral view models: what a card or note says, for any chat transport to render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.craft.answers import Suggestion
from bot.craft.promises import Promise
from bot.craft.tone import ToneCode, ToneWarning
from bot.errors import BadReference

M = TypeVar("M", bound=BaseModel)


class CardAction(StrEnum):
    """Buttons a case card can offer (their Slack action ids are in CONTRACT.md)."""

    CLAIM = "case.claim"
    REPLY = "case.reply"
    IGNORE = "case.ignore"
    ASK_EXPERT = "case.ask_expert"
    PROMISE = "case.promise"
    ASSIGN = "case.assign"
    """A user picker on the card: give the case to someone (hand over)."""
    SNOOZE = "case.snooze"
    LIKE = "case.like"
    HIDE = "case.hide"
    UNHIDE = "case.unhide"
    OPEN = "case.open"
    """A link button to the original, for sources we only read ("open to respond")."""
    SHOW = "case.show"
    """Show a threatening message that the card keeps behind a content warning."""


def parse_model(model: type[M], raw: str | None) -> M:
    """Read a button value or private_metadata into its model; a malformed one raises BadReference."""
    try:
        return model.model_validate_json(raw or "")
    except ValidationError:
        raise BadReference() from None


class CaseRef(BaseModel):
    """What a button value or modal private_metadata carries: an opaque case reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case: str = Field(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


class ReplyRef(CaseRef):
    """The reply modal's private_metadata: the case, and the tone warnings the agent has been shown
    (submitting again with no others sends the reply: the agent overrides them)."""

    warned: tuple[ToneCode, ...] = Field(default=(), max_length=len(ToneCode))


class AnswerRef(CaseRef):
    """A suggestion button's value: the case and the answer-library variant to start from."""

    variant: str = Field(min_length=8, max_length=32, pattern=r"^[a-f0-9]+$")


@dataclass(frozen=True)
class AuthorView:
    handle: str | None
    name: str | None
    followers: int | None
    verified: bool


@dataclass(frozen=True)
class ReplyView:
    agent: str
    text: str
    at: datetime
    status: str
    error: str | None = None
    eta: datetime | None = None
    """When a queued reply is expected to go (a network's quota or rate limit holds it)."""


@dataclass(frozen=True)
class TriageView:
    """What triage says about a case, compactly, with its reasons (code + params)."""

    decision: str | None
    priority: str | None
    intent: str | None
    sentiment: float | None
    language: str | None
    needs_approval: bool
    reasons: tuple[Any, ...] = ()
    """bot.triage.policy.Reason objects (why this decision, then why approval is needed)."""


@dataclass(frozen=True)
class CaseCard:
    """Everything a mention card shows."""

    ref: str
    status: str
    source: str
    venue: str
    author: AuthorView
    text: str
    url: str | None
    created_at: datetime
    mention_count: int
    owner: str | None
    ignored_reason: str | None
    last_reply: ReplyView | None
    replies_sent: int
    actions: tuple[CardAction, ...]
    problem: str | None = None
    notice: str | None = None
    reply_until: datetime | None = None
    """The end of the network's reply window (WhatsApp: 24 h after the customer's last message)."""
    window_closed: bool = False
    edited: bool = False
    deleted: bool = False
    hidden: bool = False
    liked: bool = False
    triage: TriageView | None = None
    compact: bool = False
    """Skipped by policy: show one line and a way to pick it up anyway."""
    coordination: CoordinationView | None = None
    threat: bool = False
    """The message threatens people: its text is behind a content warning (staff protection)."""


@dataclass(frozen=True)
class PromiseView:
    what: str
    due: datetime
    overdue: bool


@dataclass(frozen=True)
class CoordinationView:
    """Deadlines and people around a case: the SLA clock, promises, approval, experts, snooze."""

    response_due: datetime | None = None
    response_late: bool = False
    promises: tuple[PromiseView, ...] = ()
    broken_promises: int = 0
    approval_pending: bool = False
    experts_asked: tuple[str, ...] = ()
    expert_answered_by: str | None = None
    expert_draft: str | None = None
    """The expert's answer while no reply has gone out since: the reply starts from it (Teams' form)."""
    snoozed_until: datetime | None = None
    snooze_reason: str | None = None


@dataclass(frozen=True)
class ThreadNote:
    """One line of history in the card's thread: `event` picks the catalog text `note.<event>`."""

    event: str
    actor: str | None = None
    text: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyForm:
    """The context the reply modal shows above the text input."""

    ref: str
    source: str
    author: AuthorView
    text: str
    url: str | None
    max_length: int | None
    expert_draft: str | None = None
    """Pre-filled text: an expert's answer given since the last reply."""
    needs_approval: bool = False
    """Triage already says a spokesperson must approve (the modal says so)."""
    suggestions: tuple[Suggestion, ...] = ()
    """Answer-library wordings for the mention's topics, freshest first (rotation)."""
    draft: Suggestion | None = None
    """The wording the agent chose to start from (the input is filled with it)."""
    review: ReplyReview | None = None
    """Tone warnings on the submitted draft, shown before the agent sends it anyway."""


@dataclass(frozen=True)
class ReplyReview:
    """What the agent reads after submitting a draft with tone warnings."""

    text: str
    warnings: tuple[ToneWarning, ...]
    promise: Promise | None = None


@dataclass(frozen=True)
class CaseSummary:
    """A case in a few lines, for messages outside its card (approval cards, direct messages)."""

    ref: str
    source: str
    venue: str
    author: AuthorView
    text: str
    url: str | None
    card_channel: str | None
    card_ts: str | None


@dataclass(frozen=True)
class PersonMessage:
    """A message to one person: a nudge, an escalation, an expert's question (`event` picks the text)."""

    event: str
    params: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    case: CaseSummary | None = None
    answer_ref: str | None = None
    """An expert question: the reference the Answer button carries."""
    card_channel: str | None = None
    card_ts: str | None = None
    """A card the message is about when there is no case (a surge's alert card): linked as {link}."""


@dataclass(frozen=True)
class ApprovalCard:
    """What a spokesperson sees: the mention, the draft, why approval is needed, and the decision."""

    ref: str
    state: str
    case: CaseSummary
    text: str
    draft: str
    reasons: tuple[Any, ...]
    requested_by: str
    requested_at: datetime
    due: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None
    edited: bool = False


@dataclass(frozen=True)
class ClusterLine:
    """One near-duplicate group of a surge, as the alert lists it."""

    sample: str
    count: int
    threats: int


@dataclass(frozen=True)
class SurgeAlert:
    """What managers see about a storm: what, since when, how fast against normal, and what to do."""

    ref: str
    scope: str
    label: str
    level: str
    severity: str
    state: str
    started_at: datetime
    raised_at: datetime
    messages: int
    authors: int
    negative: int
    threats: int
    rate_per_hour: float
    expected_per_hour: float
    history: tuple[tuple[datetime, float], ...] = ()
    clusters: tuple[ClusterLine, ...] = ()
    acked_by: str | None = None
    crisis: bool = False
    crisis_at: datetime | None = None
    resolved_at: datetime | None = None
    url: str | None = None
    statement_by: str | None = None
    statement_at: datetime | None = None
    words: tuple[str, ...] = ()
    """What the storm is about: the top words of its largest groups."""
    small_messages: int = 0
    """Messages in clusters too small for a card of their own (counted here, so every one is visible)."""
    small_groups: int = 0


@dataclass(frozen=True)
class StormGroup:
    """One group on the storm card: the cluster's id (its "show" button), size and sample."""

    cluster_id: int
    sample: str
    count: int
    threats: int
    handled_by: str | None = None
    card_channel: str | None = None
    card_ts: str | None = None
    """Where its own card is (the storm card links to it)."""


@dataclass(frozen=True)
class StormCard:
    """One card in the mention channel per storm: every collapsed message counted, the largest groups.

    During a surge the messages on its post join near-duplicate groups instead of getting a card
    each; this card counts all of them (updated in place every `surge.card_every`), so the channel
    shows the whole storm at a glance while the largest groups get cluster cards of their own.
    """

    ref: str
    label: str
    level: str
    state: str
    started_at: datetime
    collapsed: int
    """Messages of the storm counted here (each in one group)."""
    groups: int
    top: tuple[StormGroup, ...] = ()
    threats: int = 0
    crisis: bool = False
    statement_at: datetime | None = None
    alert_channel: str | None = None
    alert_ts: str | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class ClusterCard:
    """Near-duplicate messages of a surge, one card updated in place instead of one card each."""

    ref: str
    cluster_id: int
    surge_label: str
    count: int
    sample: str
    words: tuple[str, ...]
    threats: int
    negative: int
    first_at: datetime
    last_at: datetime
    handled_by: str | None = None
    statement_ready: bool = False
    """A holding statement is approved: the card offers to answer every author with it."""
    counted_at: datetime | None = None
    """While the storm runs: when `count` was taken (the card is not updated as the group grows; the
    storm card keeps counting, so cluster cards spend no Slack calls on counts)."""
