"""Teams activities → one service call in one transaction, the same services the Slack listeners call.

A button on an Adaptive Card (`Action.Submit`) arrives as a `message` activity whose `value` is the
button's data: {"action": <the Slack action id>, "value": <the opaque reference>} plus the card's
inputs by id (handlers/teams/cards.py). A plain message in a card's thread is history, or an expert's
answer. People are known by their Microsoft Entra object id (`from.aadObjectId`, as in `roles.teams`).
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.errors import InvalidInput
from bot.models import ChatPerson
from bot.runtime import Runtime
from bot.services import approvals, cases, experts, ownership, promises, replies, surges
from bot.services.inbound import first_time
from bot.sql import upsert
from bot.views import ReplyForm
from handlers.teams import cards, commands
from handlers.teams.markdown import markdown

log = logging.getLogger(__name__)
MENTION = re.compile(r"<at>(.*?)</at>", re.S)
BREAK = re.compile(r"<br\s*/?>|</(p|div|li)>", re.I)
TAG = re.compile(r"<[^>]+>")
REPLY_FIELD = re.compile(r"text_\d{1,2}")
"""The input a reply's text comes from when the submit names one (a wording's form: text_1, text_2…)."""


@dataclass(frozen=True)
class Click:
    """One Action.Submit: who clicked which button, with the card's inputs."""

    user: str
    action: str
    value: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def text(self, key: str) -> str:
        """An input's text, trimmed ('' when absent)."""
        raw = self.inputs.get(key)
        return raw.strip() if isinstance(raw, str) else ""


@dataclass(frozen=True)
class Outcome:
    """What the person who acted should be told in the conversation (None: the card says it all)."""

    message: str | None = None
    """For the person alone (never in the channel): e.g. the text behind a content warning."""
    answer: str | None = None
    """An answer to a command: privately when possible, else where it was asked."""
    review: replies.Review | None = None
    suggestions: ReplyForm | None = None
    """The answer library's wordings for a case, to start a reply from."""


Handler = Callable[[AsyncSession, Click], Awaitable[Outcome | None]]


def user_of(activity: dict[str, Any]) -> str:
    """The person behind an activity: their Entra object id in lower case, as roles.teams lists them.

    "" when there is none (a bot, or a guest Teams did not identify): such activities are ignored."""
    return str((activity.get("from") or {}).get("aadObjectId") or "").lower()[:64]


def click_of(activity: dict[str, Any]) -> Click | None:
    """The button click an activity carries, or None (a plain message, or a card we did not make)."""
    value = activity.get("value")
    if activity.get("type") != "message" or not isinstance(value, dict):
        return None
    action, ref = value.get("action"), value.get("value")
    if not isinstance(action, str) or not isinstance(ref, str):
        return None
    inputs = {k: v for k, v in value.items() if k not in ("action", "value")}
    return Click(user=user_of(activity), action=action, value=ref, inputs=inputs)


def plain_text(activity: dict[str, Any]) -> str:
    """A message's text without the bot's @mention and without Teams' HTML (paragraphs kept as lines).

    A colleague's @mention stays as their name."""
    bot = str((activity.get("recipient") or {}).get("name") or "")
    raw = MENTION.sub(lambda m: "" if m.group(1) == bot else m.group(1), str(activity.get("text") or ""))
    text = html.unescape(TAG.sub("", BREAK.sub("\n", raw)))
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def thread_of(activity: dict[str, Any]) -> tuple[str, str] | None:
    """(channel, root message id) of a message in a channel thread, else None."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    channel, _, root = conversation.partition(";messageid=")
    if not root:
        return None
    data_channel = ((activity.get("channelData") or {}).get("channel") or {}).get("id")
    return str(data_channel or channel), root


def moment_of(click: Click, tz: ZoneInfo, *, day: str, at: str, default_time: str = "17:00") -> datetime | None:
    """An Input.Date and an optional Input.Time (local time; `default_time` when left open) in UTC."""
    raw_date, raw_time = click.text(day), click.text(at) or default_time
    if not raw_date:
        return None
    try:
        moment = datetime.combine(date.fromisoformat(raw_date), time.fromisoformat(raw_time), tzinfo=tz)
    except ValueError as exc:
        raise InvalidInput(field=day, reason="invalid") from exc
    return moment.astimezone(UTC)


def handlers(rt: Runtime) -> dict[str, Handler]:
    """Action id → service call (the one place where that happens for Teams)."""
    coord = rt.coord

    async def claim(session: AsyncSession, c: Click) -> None:
        await cases.claim(session=session, ref=cases.parse_ref(c.value), actor=c.user, now=utcnow(),
                          coord=coord)

    async def like(session: AsyncSession, c: Click) -> None:
        await cases.like(session=session, ref=cases.parse_ref(c.value), actor=c.user, sinks=rt.sinks,
                         now=utcnow(), coord=coord)

    def hide(hidden: bool) -> Handler:
        async def run(session: AsyncSession, c: Click) -> None:
            await cases.hide(session=session, ref=cases.parse_ref(c.value), actor=c.user, hidden=hidden,
                             sinks=rt.sinks, now=utcnow(), coord=coord)
        return run

    async def ignore(session: AsyncSession, c: Click) -> None:
        await cases.ignore(session=session, ref=cases.parse_ref(c.value), actor=c.user,
                           reason=c.text("choice"), note=c.text("note") or None, now=utcnow(), coord=coord)

    async def reply(session: AsyncSession, c: Click) -> Outcome | None:
        named = c.inputs.get("field")  # a wording's own form (cards.suggestions_card): its input
        text = c.text(named if isinstance(named, str) and REPLY_FIELD.fullmatch(named) else "text")
        if not text:
            raise InvalidInput(field="text", reason="empty")
        outcome = await replies.submit_reply(
            session=session, ref=replies.parse_reply_ref(c.value), actor=c.user, text=text, sinks=rt.sinks,
            craft=rt.craft, now=utcnow(), coord=coord, ask_approval=c.text("approval") == "yes")
        return Outcome(review=outcome) if isinstance(outcome, replies.Review) else None

    async def suggest(session: AsyncSession, c: Click) -> Outcome:
        coord.team.require_member(c.user, action="case.reply")
        form = await replies.reply_form(session=session, ref=replies.parse_reply_ref(c.value), sinks=rt.sinks,
                                        craft=rt.craft, now=utcnow())
        return Outcome(suggestions=form)

    async def show(session: AsyncSession, c: Click) -> Outcome:
        text = await cases.show_text(session=session, ref=cases.parse_ref(c.value), actor=c.user, now=utcnow(),
                                     coord=coord)
        return Outcome(message=text)

    async def assign(session: AsyncSession, c: Click) -> None:
        assignee = c.text("users").split(",")[0].strip()
        if not assignee:
            raise InvalidInput(field="users", reason="empty")
        await ownership.assign(session=session, ref=cases.parse_ref(c.value), actor=c.user, assignee=assignee,
                               now=utcnow(), coord=coord)

    async def snooze(session: AsyncSession, c: Click) -> None:
        until = moment_of(c, rt.settings.config.tz, day="until", at="until_when", default_time="09:00")
        if until is None:
            raise InvalidInput(field="until", reason="empty")
        await ownership.snooze(session=session, ref=cases.parse_ref(c.value), actor=c.user, until=until,
                               now=utcnow(), reason=c.text("reason"), coord=coord)

    async def show_cluster(session: AsyncSession, c: Click) -> Outcome:
        cluster, mentions = await surges.cluster_messages(
            session=session, cluster_id=surges.parse_cluster(c.value).cluster, actor=c.user, coord=coord)
        rows = [(m.author_handle or m.author_name or "?", m.text) for m in mentions]
        return Outcome(message=cards.cluster_messages_text(rt.t, count=cluster.count, rows=rows))

    async def show_groups(session: AsyncSession, c: Click) -> Outcome:
        surge, groups, total = await surges.storm_groups(
            session=session, ref=surges.parse_surge(c.value).surge, actor=c.user, coord=coord)
        return Outcome(message=cards.storm_groups_text(rt.t, label=surge.label or surge.key, total=total,
                                                       groups=[(g.count, g.sample) for g in groups]))

    async def promise(session: AsyncSession, c: Click) -> None:
        due = moment_of(c, rt.settings.config.tz, day="due", at="when")
        if due is None:
            raise InvalidInput(field="due", reason="empty")
        await promises.make(session=session, ref=cases.parse_ref(c.value), actor=c.user, due_at=due,
                            now=utcnow(), what=c.text("what"), coord=coord)

    async def ask_expert(session: AsyncSession, c: Click) -> None:
        chosen = c.inputs.get("experts") or ""
        people = [p for p in (chosen.split(",") if isinstance(chosen, str) else chosen) if p]
        await experts.ask(session=session, ref=cases.parse_ref(c.value), actor=c.user, now=utcnow(),
                          coord=coord, question=c.text("question"), experts=people)

    async def expert_answer(session: AsyncSession, c: Click) -> None:
        await experts.answer(session=session, ref=experts.parse_expert(c.value).question, actor=c.user,
                             now=utcnow(), coord=coord, text=c.text("answer") or c.text("text"))

    async def approve(session: AsyncSession, c: Click) -> None:
        await approvals.approve(session=session, ref=approvals.parse_approval(c.value).approval, actor=c.user,
                                now=utcnow(), coord=coord)

    async def edit(session: AsyncSession, c: Click) -> None:
        await approvals.approve(session=session, ref=approvals.parse_approval(c.value).approval, actor=c.user,
                                now=utcnow(), coord=coord, text=c.text("text"))

    async def reject(session: AsyncSession, c: Click) -> None:
        await approvals.reject(session=session, ref=approvals.parse_approval(c.value).approval, actor=c.user,
                               now=utcnow(), coord=coord, reason=c.text("reason"))

    def surge(decide: Callable[..., Awaitable[object]]) -> Handler:
        async def run(session: AsyncSession, c: Click) -> None:
            await decide(session=session, ref=surges.parse_surge(c.value).surge, actor=c.user, now=utcnow(),
                         coord=coord)
        return run

    async def statement(session: AsyncSession, c: Click) -> None:
        await surges.approve_statement(session=session, ref=surges.parse_surge(c.value).surge, actor=c.user,
                                       text=c.text("statement") or c.text("text"), now=utcnow(), coord=coord)

    def cluster(decide: Callable[..., Awaitable[object]], *, with_sinks: bool) -> Handler:
        async def run(session: AsyncSession, c: Click) -> None:
            extra: dict[str, Any] = {"sinks": rt.sinks} if with_sinks else {}
            await decide(session=session, cluster_id=surges.parse_cluster(c.value).cluster, actor=c.user,
                         now=utcnow(), coord=coord, **extra)
        return run

    return {
        "case.claim": claim, "case.like": like, "case.hide": hide(True), "case.unhide": hide(False),
        "case.ignore": ignore, "case.reply": reply, cards.SUGGEST: suggest, "case.show": show,
        "case.promise": promise,
        "case.ask_expert": ask_expert, "case.assign": assign, "case.snooze": snooze,
        "expert.answer": expert_answer,
        "approval.approve": approve, "approval.edit": edit, "approval.reject": reject,
        "surge.ack": surge(surges.acknowledge), "surge.escalate": surge(surges.escalate),
        "surge.resolve": surge(surges.resolve), "surge.crisis": surge(surges.crisis),
        "surge.statement": statement, "surge.groups": show_groups, "cluster.show": show_cluster,
        "cluster.reply": cluster(surges.reply_cluster, with_sinks=True),
        "cluster.hide": cluster(surges.hide_cluster, with_sinks=True),
        "cluster.handled": cluster(surges.cluster_handled, with_sinks=False),
    }


def delivery_key(activity: dict[str, Any]) -> str:
    """What makes a delivery the same as an earlier one (Teams redelivers on timeouts): the
    conversation and the activity id (channel message ids are only unique per conversation)."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    ident = str(activity.get("id") or "") or hashlib.sha256(
        json.dumps(activity, sort_keys=True, default=str).encode()).hexdigest()
    return f"teams:{hashlib.sha256(conversation.encode()).hexdigest()[:16]}:{ident}"[:200]


async def remember_person(session: AsyncSession, activity: dict[str, Any]) -> None:
    """Keep the sender's display name, so that cards show names where roles and owners are ids (the row
    is written only when the name is new or changed, not on every click)."""
    sender = activity.get("from") or {}
    person, name = user_of(activity), str(sender.get("name") or "").strip()
    if person and name:
        stmt = upsert(session, ChatPerson, ["id"], ["name", "updated_at"], when_changed=["name"])
        await session.execute(stmt, [{"id": person, "name": name[:200], "updated_at": utcnow()}])


async def handle(rt: Runtime, table: dict[str, Handler], activity: dict[str, Any]) -> Outcome | None:
    """Do what an activity asks, once (Teams redelivers on timeouts); the answer for the person who acted.

    Raises WebcareError (refusals, bad input) for the caller to explain; a refusal for lack of a role
    has been rolled back and is audited by the caller.
    """
    user = user_of(activity)
    if activity.get("type") != "message" or not user:
        return None
    click = click_of(activity)
    text = "" if click is not None else plain_text(activity)
    place = thread_of(activity)
    personal = (activity.get("conversation") or {}).get("conversationType") == "personal"
    asked = commands.command_of(text) if text else None
    if asked is not None and not (personal or place is None or place[1] == str(activity.get("id"))):
        asked = None  # a command is typed in the bot's 1:1 chat, or as a new post to @webcare
    work: Callable[[AsyncSession], Awaitable[Outcome | None]] | None = None
    if click is not None:
        handler = table.get(click.action)
        if handler is None:
            log.info("Teams: no handler for action %r", click.action)
            return None
        work = functools.partial(_clicked, handler, click)
    elif not text:
        return None
    elif asked is None and personal:
        work = functools.partial(_direct_message, rt, activity=activity, text=text)
    elif asked is None and place is not None:
        work = functools.partial(_thread_message, rt, channel=place[0], root=place[1], user=user, text=text)
    elif asked is None:
        return None
    async with rt.uow() as session:
        if not await first_time(session, key=delivery_key(activity), now=utcnow()):
            return None
        await remember_person(session, activity)
        outcome = await work(session) if work is not None else None
    if asked is not None:  # after the transaction: a command reads (and `crisis` writes) on its own
        return Outcome(answer=await commands.run(rt, command=asked[0], rest=asked[1], user_id=user))
    return outcome


async def _clicked(handler: Handler, click: Click, session: AsyncSession) -> Outcome | None:
    return await handler(session, click)


async def _direct_message(rt: Runtime, session: AsyncSession, *, activity: dict[str, Any],
                          text: str) -> Outcome | None:
    """A message in the 1:1 chat (it has no threads): an expert's answer to their open question, else
    the help."""
    answered = await experts.answer_in_direct_chat(
        session=session, channel=str((activity.get("conversation") or {}).get("id") or ""),
        user=user_of(activity), text=text, now=utcnow(), coord=rt.coord)
    return None if answered else Outcome(answer=markdown(rt.t)("teams.help"))


async def _thread_message(rt: Runtime, session: AsyncSession, *, channel: str, root: str, user: str,
                          text: str) -> None:
    """A message in a thread: an expert's answer, else a line of the case's history."""
    await experts.thread_message(session=session, channel=channel, thread_ts=root, user=user, text=text,
                                 now=utcnow(), coord=rt.coord)
