"""A chat transport and a reply sink that only record: what the replay would have sent, and when.

They stand in for Slack and the networks, so the real outbox dispatcher and its real jobs run
(rendering from the case's state at send time, coalescing, Slack's pacing per lane) and nothing
leaves the process. Each call is noted with the simulated time at which it would have been made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count

from bot.ports import Capabilities, MessageRef, OutboundReply
from bot.views import ApprovalCard, CaseCard, ClusterCard, PersonMessage, StormCard, SurgeAlert, ThreadNote


@dataclass(frozen=True)
class Call:
    """One call the bot would have made: its Slack method (or `reply`), where, and when."""

    at: datetime
    method: str
    channel: str
    detail: str = ""


@dataclass
class Recorder:
    """The calls, in the order they would have been made."""

    clock: Callable[[], datetime]
    calls: list[Call] = field(default_factory=list)
    _ts: count[int] = field(default_factory=lambda: count(1))

    def note(self, method: str, channel: str, detail: str = "") -> MessageRef:
        """Record a call and return a message reference like Slack's."""
        self.calls.append(Call(self.clock(), method, channel, detail))
        return MessageRef(channel, f"{next(self._ts)}.000100")


class RecordingChat:
    """A `ChatPort` that records each post and update instead of calling Slack."""

    def __init__(self, recorder: Recorder) -> None:
        self._r = recorder

    async def post_card(self, *, channel: str, card: CaseCard, marker: str) -> MessageRef:
        """Record chat.postMessage of a case card."""
        return self._r.note("chat.postMessage", channel, "card")

    async def update_card(self, *, ref: MessageRef, card: CaseCard) -> None:
        """Record chat.update of a case card."""
        self._r.note("chat.update", ref.channel, "card")

    async def post_note(self, *, parent: MessageRef, note: ThreadNote, marker: str) -> MessageRef:
        """Record a line in a card's thread."""
        return self._r.note("chat.postMessage", parent.channel, f"note:{note.event}")

    async def post_notice(self, *, channel: str, note: ThreadNote, marker: str) -> MessageRef:
        """Record a notice in a channel."""
        return self._r.note("chat.postMessage", channel, f"notice:{note.event}")

    async def find_marker(
        self, *, channel: str, marker: str, since: datetime, thread_ts: str | None = None
    ) -> MessageRef | None:
        """Nothing is ever half-sent in a replay."""
        return None

    def is_person(self, to: str) -> bool:
        """As on Slack, the replay's chat: user ids start with U or W."""
        return to[:1] in ("U", "W")

    async def direct_channel(self, user: str) -> str:
        """The direct channel of `user` (Slack's conversations.open, cached by the transport)."""
        return f"D:{user}"

    async def post_message(self, *, channel: str, message: PersonMessage, marker: str) -> MessageRef:
        """Record a direct message (nudge, escalation, surge message)."""
        return self._r.note("chat.postMessage", channel, f"message:{message.event}")

    async def post_approval(self, *, channel: str, card: ApprovalCard, marker: str) -> MessageRef:
        """Record an approval card."""
        return self._r.note("chat.postMessage", channel, "approval")

    async def update_approval(self, *, ref: MessageRef, card: ApprovalCard) -> None:
        """Record an approval card's update."""
        self._r.note("chat.update", ref.channel, "approval")

    async def post_surge(self, *, channel: str, alert: SurgeAlert, marker: str) -> MessageRef:
        """Record a surge alert card."""
        return self._r.note("chat.postMessage", channel, "surge")

    async def update_surge(self, *, ref: MessageRef, alert: SurgeAlert) -> None:
        """Record a surge alert card's update."""
        self._r.note("chat.update", ref.channel, "surge")

    async def post_storm(self, *, channel: str, card: StormCard, marker: str) -> MessageRef:
        """Record a storm card."""
        return self._r.note("chat.postMessage", channel, "storm")

    async def update_storm(self, *, ref: MessageRef, card: StormCard) -> None:
        """Record a storm card's update."""
        self._r.note("chat.update", ref.channel, "storm")

    async def post_cluster(self, *, channel: str, card: ClusterCard, marker: str) -> MessageRef:
        """Record a cluster card."""
        return self._r.note("chat.postMessage", channel, "cluster")

    async def update_cluster(self, *, ref: MessageRef, card: ClusterCard) -> None:
        """Record a cluster card's update."""
        self._r.note("chat.update", ref.channel, "cluster")


class RecordingSink:
    """A `ReplySink` for every source that records automatic replies (auto_ack) instead of sending."""

    capabilities = Capabilities(reply=True)

    def __init__(self, recorder: Recorder) -> None:
        self._r = recorder

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """Record the reply."""
        self._r.note("reply", reply.source, "reply")
        return f"replay-{reply.idempotency_key}"
