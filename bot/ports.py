"""The seams between the core and the outside: chat transports and reply sinks, and their errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.views import CaseCard, ThreadNote


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

    async def find_marker(
        self, *, channel: str, marker: str, since: datetime, thread_ts: str | None = None
    ) -> MessageRef | None:
        """Find a message we posted with `marker` (after an unknown outcome), or None."""
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


@dataclass(frozen=True)
class Capabilities:
    """What a network allows, so the card offers only what works."""

    reply: bool = True
    max_length: int | None = None


class ReplySink(Protocol):
    """Sends replies to one network (or to the generic reply webhook)."""

    capabilities: Capabilities

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """Deliver the reply; return the network's id for it when it gives one."""
        ...
