"""The seams between the core and the outside: chat transports and reply sinks, and their errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.views import ApprovalCard, CaseCard, ClusterCard, PersonMessage, StormCard, SurgeAlert, ThreadNote


class DeliveryError(Exception):
    """A call to the outside failed; subclasses say whether and when to try again."""


class RateLimited(DeliveryError):
    """The provider asked us to wait `retry_after` seconds (HTTP 429)."""

    def __init__(self, retry_after: float, detail: str = "rate limited") -> None:
        super().__init__(f"{detail}; retry after {retry_after:g}s")
        self.retry_after = retry_after


class TransientError(DeliveryError):
    """The call failed in a way that a later try may fix (5xx, a refused connection)."""


class UnknownOutcome(DeliveryError):
    """The request may or may not have reached the provider (timeout, dropped connection)."""


class PermanentError(DeliveryError):
    """Trying again cannot help (bad request, channel not found, reply refused)."""


@dataclass(frozen=True)
class MessageRef:
    """Where a posted chat message lives."""

    channel: str
    ts: str


class ChatPort(Protocol):
    """A chat transport that shows cards and their history (Slack; Teams later)."""

    async def post_card(self, *, channel: str, card: CaseCard, marker: str) -> MessageRef:
        """Post a new card; `marker` is stored with the message so it can be found again."""
        ...

    async def update_card(self, *, ref: MessageRef, card: CaseCard) -> None:
        """Replace a posted card in place."""
        ...

    async def post_note(self, *, parent: MessageRef, note: ThreadNote, marker: str) -> MessageRef:
        """Post a line of history in the card's thread."""
        ...

    async def post_notice(self, *, channel: str, note: ThreadNote, marker: str) -> MessageRef:
        """Post a short notice to a channel (a failing source, a gap in polling)."""
        ...

    async def find_marker(
        self, *, channel: str, marker: str, since: datetime, thread_ts: str | None = None
    ) -> MessageRef | None:
        """Find a message we posted with `marker` (after an unknown outcome), or None."""
        ...

    def is_person(self, to: str) -> bool:
        """Whether `to` names a person (their direct conversation is opened) rather than a channel."""
        ...

    async def direct_channel(self, user: str) -> str:
        """The channel of our direct conversation with `user` (opened if need be)."""
        ...

    async def post_message(self, *, channel: str, message: PersonMessage, marker: str) -> MessageRef:
        """Post a message to a person's direct channel (or a channel): nudge, escalation, question."""
        ...

    async def post_approval(self, *, channel: str, card: ApprovalCard, marker: str) -> MessageRef:
        """Post an approval card for the spokespersons."""
        ...

    async def update_approval(self, *, ref: MessageRef, card: ApprovalCard) -> None:
        """Show the decision on a posted approval card."""
        ...

    async def post_surge(self, *, channel: str, alert: SurgeAlert, marker: str) -> MessageRef:
        """Post a surge alert card."""
        ...

    async def update_surge(self, *, ref: MessageRef, alert: SurgeAlert) -> None:
        """Update a surge alert card in place."""
        ...

    async def post_storm(self, *, channel: str, card: StormCard, marker: str) -> MessageRef:
        """Post the storm card of a surge (every collapsed message counted)."""
        ...

    async def update_storm(self, *, ref: MessageRef, card: StormCard) -> None:
        """Update the storm card in place."""
        ...

    async def post_cluster(self, *, channel: str, card: ClusterCard, marker: str) -> MessageRef:
        """Post a cluster card (near-duplicate messages of a surge)."""
        ...

    async def update_cluster(self, *, ref: MessageRef, card: ClusterCard) -> None:
        """Update a cluster card in place."""
        ...


@dataclass(frozen=True)
class OutboundReply:
    """A reply to deliver to the network a mention came from."""

    case_ref: str
    source: str
    mention_id: str
    thread_id: str | None
    text: str
    agent: str
    idempotency_key: str
    author_id: str | None = None
    account: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class MentionTarget:
    """The network post a like or a hide acts on."""

    source: str
    mention_id: str
    thread_id: str | None = None
    author_id: str | None = None
    account: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a network allows, declared by its sink, so the card offers only what works."""

    reply: bool = True
    max_length: int | None = None
    like: bool = False
    hide: bool = False
    reply_window: timedelta | None = None
    """Replies are only possible this long after the customer's last message (WhatsApp: 24 h)."""
    read_only: bool = False
    """We only read this source: the card offers "open to respond" instead of Reply."""


class ReplySink(Protocol):
    """Sends replies to one network (or to the generic reply webhook).

    Sinks whose capabilities say `like` or `hide` also implement `like(target)` and
    `hide(target, hidden)`. Errors are the DeliveryError subclasses above: RateLimited schedules the
    lane (X quota, 429), PermanentError gives up and shows the reason on the card.
    """

    capabilities: Capabilities

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """Deliver the reply; return the network's id for it when it gives one."""
        ...


@dataclass(frozen=True)
class MentionChange:
    """An edit or a deletion reported by a network for a stored mention."""

    source: str
    mention_id: str
    deleted: bool = False
    text: str | None = None
    at: datetime | None = None


@dataclass
class PollResult:
    """What one poll of a source produced; saved with the new cursor in one transaction."""

    mentions: list[Any] = field(default_factory=list)  # list[bot.schemas.MentionIn]
    changes: list[MentionChange] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    next_in: timedelta | None = None
    """When to poll again (e.g. the rate-limit reset), instead of the source's interval."""
    gap: str | None = None
    """A gap the source could not fill (e.g. X after long downtime), shown on the new cards."""


class Poller(Protocol):
    """A source that is polled: X mentions, RSS/Atom feeds. The core schedules it and keeps its cursor.

    `poll` must not write anything: it returns mentions and the new cursor, and the core stores both
    in one transaction, so a restart neither loses nor repeats mentions. Raise DeliveryError (or
    any exception) when the source fails; the core reports a failing source once, not every poll.
    """

    key: str
    interval: timedelta

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        """Fetch what is new since `cursor`."""
        ...
