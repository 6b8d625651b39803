"""The Teams ChatPort: cards as Adaptive Cards through the Bot Connector REST API.

A card is a new thread in the team's channel; its history lines are replies in that thread. A
message's `ts` is the Teams message id (the `messageid=` of its thread), so a reply in a card's thread
(conversation `19:…;messageid=<ts>`) finds its case the way a Slack thread reply does.

The Bot Connector cannot read a channel back, so after an unknown outcome (a timed-out post) the bot
cannot look for what it may already have posted, as it does on Slack: `find_marker` knows only the
posts this process made. A post that timed out on the way back can therefore show twice; the outbox
never repeats a post that is known to have gone out.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import ids
from bot.i18n import Translator
from bot.models import ChatPerson
from bot.ports import MessageRef
from bot.sinks import Sinks
from bot.views import ApprovalCard, CaseCard, ClusterCard, PersonMessage, StormCard, SurgeAlert, ThreadNote
from handlers.teams import cards
from handlers.teams.connector import MESSAGE_ID, BotConnector, thread_conversation_id
from handlers.teams.markdown import escape

log = logging.getLogger(__name__)
REMEMBERED = 2000
"""How many recent posts' markers this process keeps (to reconcile a post whose recording failed)."""
ENTRA_ID = re.compile(rf"\b{ids.ENTRA_ID}\b")
UNKNOWN_FOR = 300.0
"""Seconds a person without a known name is not looked up again (their id shows until they act)."""
NOT_TEXT = frozenset({"data", "id", "value", "url", "choices.data"})
"""Card keys whose strings are machine values, never shown: names are not put in there."""


def is_channel(conversation: str) -> bool:
    """Whether a conversation id is a Teams channel (a new message there starts a thread)."""
    return conversation.startswith("19:") and "@thread" in conversation and MESSAGE_ID not in conversation


def thread_id(ref: MessageRef) -> str:
    """The conversation of a channel message's thread (replies go there; the message is updated there)."""
    return thread_conversation_id(ref.channel, ref.ts) if is_channel(ref.channel) else ref.channel


class TeamsChat:
    """ChatPort over the Bot Connector; `service_url` follows what Teams last told us."""

    def __init__(self, connector: BotConnector, t: Translator, *, service_url: str,
                 tenant_id: str | None, sinks: Sinks | None = None,
                 maker: async_sessionmaker[AsyncSession] | None = None, library: bool = False) -> None:
        self._connector = connector
        self._library = library
        """The reply form offers the answer library's wordings (answers.library and answers.suggestions)."""
        self._t = t
        self._sinks = sinks
        self._maker = maker
        self._names: dict[str, tuple[str | None, float]] = {}
        """Entra object id → (display name or None, monotonic time until which that is trusted)."""
        self.service_url = service_url
        self._tenant = tenant_id
        self._direct: dict[str, str] = {}
        self._posted: OrderedDict[str, MessageRef] = OrderedDict()

    def heard_from(self, activity: dict[str, Any]) -> bool:
        """Keep the Bot Connector address of the latest activity (verified, from Teams, our tenant);
        whether it changed (the caller stores it, so a restart does not fall back to the default)."""
        sender = activity.get("from") or {}
        if sender.get("aadObjectId") and sender.get("name"):
            self._names[str(sender["aadObjectId"]).lower()] = (str(sender["name"]), float("inf"))
        url = activity.get("serviceUrl")
        if isinstance(url, str) and url.startswith(("https://", "http://")) and url != self.service_url:
            log.info("Teams: Bot Connector is now %s", url)
            self.service_url = url
            return True
        return False

    async def named(self, content: dict[str, Any]) -> dict[str, Any]:
        """The card with people's Entra ids in its texts replaced by their names, where known.

        Names come from the activities people send (kept in chat_people, so every instance knows
        them); someone who never acted in Teams shows as their id."""
        ids: set[str] = set()

        def collect(text: str) -> str:
            ids.update(ENTRA_ID.findall(text))
            return text

        _walk_texts(content, collect)
        if not ids:
            return content
        now = time.monotonic()
        missing = sorted(i for i in ids if self._names.get(i, (None, 0.0))[1] < now)
        if missing and self._maker is not None:
            async with self._maker() as session:
                rows = await session.execute(
                    select(ChatPerson.id, ChatPerson.name).where(ChatPerson.id.in_(missing)))
                found = {person: name for person, name in rows}
            for i in missing:  # a name heard meanwhile (the person just acted) is kept
                if i in found or self._names.get(i, (None, 0.0))[0] is None:
                    self._names[i] = (found[i], float("inf")) if i in found else (None, now + UNKNOWN_FOR)
        names = {i: escape(n) for i in ids if (n := self._names.get(i, (None, 0.0))[0])}
        if not names:
            return content
        return _walk_texts(content, lambda text: ENTRA_ID.sub(lambda m: names.get(m.group(0), m.group(0)),
                                                              text))

    async def post_card(self, *, channel: str, card: CaseCard, marker: str) -> MessageRef:
        """A new card: a new thread in the channel."""
        return await self._post(channel, self._case(card), marker, card)

    async def update_card(self, *, ref: MessageRef, card: CaseCard) -> None:
        """Replace the card in place."""
        await self._update(ref, self._case(card), card)

    async def post_note(self, *, parent: MessageRef, note: ThreadNote, marker: str) -> MessageRef:
        """A history line in the card's thread."""
        return await self._post(thread_id(parent), cards.thread_note(self._t, note), marker, note)

    async def post_notice(self, *, channel: str, note: ThreadNote, marker: str) -> MessageRef:
        """A notice in the channel."""
        return await self._post(channel, cards.notice(self._t, note), marker,
                                summary=cards.summary(self._t, note, channel_notice=True))

    async def find_marker(self, *, channel: str, marker: str, since: datetime,
                          thread_ts: str | None = None) -> MessageRef | None:
        """A post this process made with `marker` (Teams cannot be searched: see the module's note)."""
        return self._posted.get(marker)

    def is_person(self, to: str) -> bool:
        """People are Entra object ids; conversations are `19:…` or `a:…`."""
        return ENTRA_ID.fullmatch(to) is not None

    async def direct_channel(self, user: str) -> str:
        """The bot's 1:1 chat with `user` (by Entra object id), created once per process."""
        if user not in self._direct:
            self._direct[user] = await self._connector.create_personal(self.service_url, user_id=user,
                                                                        tenant_id=self._tenant)
        return self._direct[user]

    async def post_message(self, *, channel: str, message: PersonMessage, marker: str) -> MessageRef:
        """A nudge, escalation or expert question."""
        return await self._post(channel, cards.person_message(self._t, message), marker, message)

    async def post_approval(self, *, channel: str, card: ApprovalCard, marker: str) -> MessageRef:
        """An approval card for the spokespersons."""
        return await self._post(channel, cards.approval_card(self._t, card), marker, card)

    async def update_approval(self, *, ref: MessageRef, card: ApprovalCard) -> None:
        """Show the decision on the approval card."""
        await self._update(ref, cards.approval_card(self._t, card), card)

    async def post_surge(self, *, channel: str, alert: SurgeAlert, marker: str) -> MessageRef:
        """A surge alert card."""
        return await self._post(channel, cards.surge_alert(self._t, alert), marker, alert)

    async def update_surge(self, *, ref: MessageRef, alert: SurgeAlert) -> None:
        """Update the surge alert in place."""
        await self._update(ref, cards.surge_alert(self._t, alert), alert)

    async def post_storm(self, *, channel: str, card: StormCard, marker: str) -> MessageRef:
        """The storm card."""
        return await self._post(channel, cards.storm_card(self._t, card), marker, card)

    async def update_storm(self, *, ref: MessageRef, card: StormCard) -> None:
        """Update the storm card in place."""
        await self._update(ref, cards.storm_card(self._t, card), card)

    async def post_cluster(self, *, channel: str, card: ClusterCard, marker: str) -> MessageRef:
        """A cluster card."""
        return await self._post(channel, cards.cluster_card(self._t, card), marker, card)

    async def update_cluster(self, *, ref: MessageRef, card: ClusterCard) -> None:
        """Update a cluster card in place."""
        await self._update(ref, cards.cluster_card(self._t, card), card)

    async def tell(self, conversation: str, text: str, *, markdown: bool = False) -> None:
        """A message in a conversation (a refusal, or an answer to the person who clicked or asked)."""
        activity = await self.named({"type": "message", "text": text,
                                     "textFormat": "markdown" if markdown else "plain"})
        await self._send(conversation, activity)

    async def _send(self, conversation: str, activity: dict[str, Any]) -> str:
        """Post to a conversation: in a channel a new thread, elsewhere (a thread, a chat) a message."""
        if is_channel(conversation):
            return await self._connector.create_thread(self.service_url, channel_id=conversation,
                                                       tenant_id=self._tenant, activity=activity)
        return await self._connector.send(self.service_url, conversation, activity)

    def _case(self, card: CaseCard) -> dict[str, Any]:
        limit = self._sinks.capabilities(card.source).max_length if self._sinks else None
        return cards.case_card(self._t, card, max_length=limit, library=self._library)

    async def post_form(self, conversation: str, content: dict[str, Any], *, summary: str) -> None:
        """A card for the person who acted, in the conversation they acted in (e.g. the tone check)."""
        await self._send(conversation, await self.named(_activity(content, summary)))

    async def replace_form(self, conversation: str, activity_id: str, content: dict[str, Any], *,
                           summary: str) -> None:
        """Put a card in place of one posted for a person (e.g. a form once it was used)."""
        await self._connector.update(self.service_url, conversation, activity_id,
                                     await self.named(_activity(content, summary)))

    async def _post(self, conversation: str, content: dict[str, Any], marker: str,
                    view: cards.Renderable | None = None, *, summary: str | None = None) -> MessageRef:
        activity = await self.named(
            _activity(content, summary or (cards.summary(self._t, view) if view is not None else None)))
        ref = MessageRef(channel=conversation, ts=await self._send(conversation, activity))
        self._remember(marker, ref)
        return ref

    async def _update(self, ref: MessageRef, content: dict[str, Any], view: cards.Renderable) -> None:
        await self._connector.update(self.service_url, thread_id(ref), ref.ts,
                                     await self.named(_activity(content, cards.summary(self._t, view))))

    def _remember(self, marker: str, ref: MessageRef) -> None:
        self._posted[marker] = ref
        while len(self._posted) > REMEMBERED:
            self._posted.popitem(last=False)


def _activity(content: dict[str, Any], summary: str | None) -> dict[str, Any]:
    """A message activity carrying one Adaptive Card (`summary`: what the feed and notifications show)."""
    activity: dict[str, Any] = {"type": "message", "attachments": [cards.attachment(content)]}
    if summary:
        activity["summary"] = summary
    return activity


def _walk_texts(node: Any, change: Any) -> Any:
    """A copy of a card with `change` applied to every shown string (not to ids, values or data)."""
    if isinstance(node, dict):
        return {k: v if k in NOT_TEXT else _walk_texts(v, change) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk_texts(v, change) for v in node]
    if isinstance(node, str):
        return change(node)
    return node
