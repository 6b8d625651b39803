"""Reply craft decisions: suggestions for the Reply modal, the tone check before sending, and what a
sent reply leaves behind for rotation and promise tracking."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import and_, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.craft.answers import Craft, Suggestion, fill, rank
from bot.craft.promises import detect_promise
from bot.craft.text import text_hash
from bot.craft.tone import ToneContext, check_tone
from bot.errors import AnswerGone, BadReference
from bot.models import AnswerUse, Case, Mention, Reply, ReplyStatus
from bot.services import audit, cases
from bot.services.coord import Coord
from bot.sinks import Sinks
from bot.views import AnswerRef, ReplyForm, ReplyRef, ReplyReview


@dataclass(frozen=True)
class Review:
    """The draft has tone warnings the agent has not seen yet: show them, send nothing."""

    form: ReplyForm
    warned: tuple[str, ...]
    """Every warning code shown so far; submitting again with no others sends."""


@dataclass(frozen=True)
class Sent:
    """The reply is queued."""

    reply: Reply


def parse_reply_ref(raw: str | None) -> ReplyRef:
    """Read the reply modal's private_metadata; a malformed one raises BadReference."""
    try:
        return ReplyRef.model_validate_json(raw or "")
    except ValidationError:
        raise BadReference() from None


def parse_answer_ref(raw: str | None) -> AnswerRef:
    """Read a suggestion button's value; a malformed one raises BadReference."""
    try:
        return AnswerRef.model_validate_json(raw or "")
    except ValidationError:
        raise BadReference() from None


def reply_ref_value(case_ref: str, warned: tuple[str, ...] = ()) -> str:
    """The reply modal's private_metadata (plain `{"case": …}` until warnings were shown)."""
    return ReplyRef.model_validate({"case": case_ref, "warned": warned}).model_dump_json(exclude_defaults=True)


def answer_ref_value(case_ref: str, variant: str) -> str:
    """A suggestion button's value."""
    return AnswerRef(case=case_ref, variant=variant).model_dump_json()


def person(case: Case) -> str:
    """One person on one network (the author key of rotation)."""
    return f"{case.source}:{case.author_key}"


def addressee(m: Mention) -> tuple[str | None, tuple[str, ...]]:
    """The name to greet the author with, and every name that counts as addressing them."""
    first = m.author_name.split()[0] if m.author_name and m.author_name.split() else None
    handle = m.author_handle.lstrip("@") if m.author_handle else None
    greet = first or (f"@{handle}" if handle else None)
    names = tuple(dict.fromkeys(n for n in (first, m.author_name, handle) if n and len(n) >= 2))
    return greet, names


async def recent_uses(session: AsyncSession, keys: list[str], *, author: str,
                      since: datetime) -> dict[str, datetime]:
    """Per variant, its last use for someone other than `author` since `since` (index: variant, time)."""
    if not keys:
        return {}
    rows = await session.execute(
        select(AnswerUse.variant_key, func.max(AnswerUse.used_at))
        .where(AnswerUse.variant_key.in_(keys), AnswerUse.used_at >= since, AnswerUse.author_key != author)
        .group_by(AnswerUse.variant_key))
    return {key: at for key, at in rows}


async def duplicate_at(session: AsyncSession, *, fingerprint: str, case: Case,
                       since: datetime) -> datetime | None:
    """When the same wording last went to someone else since `since` (index: text_hash, created_at)."""
    return await session.scalar(
        select(Reply.created_at).join(Case, Case.id == Reply.case_id)
        .where(Reply.text_hash == fingerprint, Reply.created_at >= since,
               Reply.status != ReplyStatus.FAILED.value,
               not_(and_(Case.source == case.source, Case.author_key == case.author_key)))
        .order_by(Reply.created_at.desc()).limit(1))


async def reply_form(*, session: AsyncSession, ref: ReplyRef, sinks: Sinks, craft: Craft,
                     now: datetime) -> ReplyForm:
    """The Reply modal: the message, and answers for its topics that this person has not had yet."""
    form = await cases.reply_form(session=session, ref=ref, sinks=sinks)
    if not craft.config.library or not craft.config.suggestions:
        return form
    case = await cases.get_case(session, ref)
    m = await cases.latest_mention(session, case.id)
    candidates = craft.library.candidates(m.topics or (), m.language)
    recent = await recent_uses(session, [v.key for v in candidates], author=person(case),
                               since=now - craft.config.rotation)
    suggestions = rank(candidates, recent, name=addressee(m)[0], limit=craft.config.suggestions)
    return replace(form, suggestions=tuple(suggestions))


async def draft_form(*, session: AsyncSession, ref: AnswerRef, sinks: Sinks, craft: Craft) -> ReplyForm:
    """The Reply modal started from a chosen answer, its `{name}` filled in."""
    variant = craft.library.get(ref.variant)
    if variant is None:
        raise AnswerGone()
    form = await cases.reply_form(session=session, ref=ref, sinks=sinks)
    case = await cases.get_case(session, ref)
    m = await cases.latest_mention(session, case.id)
    draft = Suggestion(variant.key, variant.topic, variant.owner, fill(variant.text, addressee(m)[0]))
    return replace(form, draft=draft)


async def submit_reply(*, session: AsyncSession, ref: ReplyRef, actor: str, text: str, sinks: Sinks,
                       craft: Craft, now: datetime, coord: Coord, ask_approval: bool = False) -> Review | Sent:
    """Check the draft's tone; with warnings not yet shown, return them; otherwise queue the reply,
    with its promise, the warnings overridden, and the answer it used (rotation)."""
    coord.team.require_member(actor, action="case.reply")
    text = text.strip()
    case = await cases.get_case(session, ref, lock=True)  # a second submit waits, then sees the first
    m = await cases.check_reply(session=session, case=case, text=text, sinks=sinks, now=now)
    twin = await cases.recent_twin(session, case=case, mention=m, text=text, now=now)
    if twin is not None:  # the same reply again (a double click): it is already on its way
        audit.record(session, case_id=case.id, actor=actor, action="reply.repeated", at=now, reply_id=twin.id)
        return Sent(twin)
    _, names = addressee(m)
    fingerprint = text_hash(text, names)
    since = now - craft.config.rotation
    ctx = ToneContext(
        complaint=m.intent == "complaint", names=names, soft_limit=craft.soft_limit(case.source),
        duplicate_at=await duplicate_at(session, fingerprint=fingerprint, case=case, since=since),
        checks=frozenset(craft.config.checks))
    warnings = check_tone(text, ctx, craft.lexicon)
    promise = detect_promise(text, now=now, tz=craft.tz, default_due=craft.default_due, lexicon=craft.lexicon)
    codes = [w.code.value for w in warnings]
    if any(code not in ref.warned for code in codes):
        form = await cases.reply_form(session=session, ref=ref, sinks=sinks)
        review = ReplyReview(text=text, warnings=tuple(warnings), promise=promise)
        return Review(replace(form, review=review), tuple(dict.fromkeys([*ref.warned, *codes])))
    overrides = [w.as_json() for w in warnings] or None
    reply = await cases.submit_reply(
        session=session, ref=ref, actor=actor, text=text, sinks=sinks, now=now, coord=coord,
        ask_approval=ask_approval,
        craft=cases.ReplyCraft(text_hash=fingerprint, promise=promise.as_json() if promise else None,
                               promise_due_at=promise.due_at if promise else None,
                               tone_overrides=overrides))
    if overrides:
        audit.record(session, case_id=case.id, actor=actor, action="tone.override", at=now,
                     reply_id=reply.id, warnings=overrides)
    if promise is not None:
        audit.record(session, case_id=case.id, actor=actor, action="promise", at=now, reply_id=reply.id,
                     promise=promise.as_json())
    variant = craft.library.match(text, m.topics or (), names)
    if variant is not None:
        session.add(AnswerUse(variant_key=variant.key, topic=variant.topic, author_key=person(case),
                              case_id=case.id, reply_id=reply.id, used_at=now))
    return Sent(reply)

