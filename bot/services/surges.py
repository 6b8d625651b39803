"""Surge decisions: open and update alerts from detector events; acknowledge, escalate, resolve, crisis.

An alert is a `Surge` row per scope key (organisation, topic, thread) while it is not resolved. A
raise opens one (or lifts its level: a re-alert), and each raise sends the managers and
spokespersons a direct message (the security contact too when there are threats); the alert card
in `slack.alerts_channel` is updated in place, coalesced to one update per `surge.card_every`. An
alert nobody acknowledges within `surge.ack_within` is escalated once (coordinators and managers).
Crisis mode on a surge's scope makes every reply there need a spokesperson's approval.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import AlreadyDecided, BadReference, InvalidInput, NoStatement
from bot.i18n import Translator
from bot.kinds import (
    CLUSTER_POST,
    CLUSTER_UPDATE,
    HIDE,
    REPLY,
    STORM_POST,
    STORM_UPDATE,
    SURGE_MESSAGE,
    SURGE_NOTE,
    SURGE_POST,
    SURGE_UPDATE,
    UPDATE_LANE,
    post_lane,
)
from bot.models import Case, Mention, Reply, ReplyStatus, Surge, SurgeCluster, SurgeState
from bot.outbox import enqueue
from bot.services.cardwork import network_lane
from bot.services.coord import Coord
from bot.sinks import Sinks
from bot.surge.events import SurgeEvent
from bot.team import Role
from bot.views import parse_model

LEVELS = {"watch": 0, "alert": 1, "crisis": 2}
HISTORY = 60
ALERT_REFRESH = 6
"""While a storm grows by a tenth or more, the alert card is updated every six `surge.card_every`
(a minute by default): it is the managers' overview, the storm card in the mention channel counts live."""
ALERT_GROWTH = 1.1
FADED_REFRESH = timedelta(minutes=10)
"""Smaller changes (a fading storm's trickle) are shown at most this often."""
LOST_UPDATE = timedelta(minutes=5)
"""An alert-card update this long overdue was given up (or its row taken over): the next change queues one."""
LEADS = (Role.MANAGER, Role.COORDINATOR, Role.SPOKESPERSON)
"""Who may acknowledge, escalate, resolve and declare a crisis."""


class SurgeRef(BaseModel):
    """What the alert's buttons carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    surge: str = Field(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")


def surge_value(ref: str) -> str:
    """Serialise a surge reference for a button value."""
    return SurgeRef(surge=ref).model_dump_json()


class ClusterRef(BaseModel):
    """What a cluster card's buttons carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: int = Field(ge=1)


def cluster_value(cluster_id: int) -> str:
    """Serialise a cluster reference for a button value."""
    return ClusterRef(cluster=cluster_id).model_dump_json()


def parse_cluster(raw: str | None) -> ClusterRef:
    """Read a cluster reference; a malformed one raises BadReference."""
    return parse_model(ClusterRef, raw)


def parse_surge(raw: str | None) -> SurgeRef:
    """Read a surge reference; a malformed one raises BadReference."""
    return parse_model(SurgeRef, raw)


def alerts_channel(coord: Coord) -> str:
    """Where alert cards go (the mention channel when no alerts channel is configured)."""
    return coord.cfg.channels.alerts


async def open_surges(session: AsyncSession, *, lock: bool = False) -> list[Surge]:
    """Surges not yet resolved (a handful at most; indexed by state); `lock` for the runner's round."""
    query = select(Surge).where(Surge.state.in_([SurgeState.OPEN.value, SurgeState.ACKED.value]))
    return list(await session.scalars(query.with_for_update() if lock else query))


async def _label(session: AsyncSession, key: str) -> tuple[str, str | None]:
    """What people recognise the scope by, and a link when there is one."""
    if key == "org":
        return "", None
    kind, _, rest = key.partition(":")
    if kind == "topic":
        return rest, None
    source, _, thread = rest.partition(":")
    first_case = await session.scalar(  # index (source, thread_key, author_key)
        select(Case.id).where(Case.source == source, Case.thread_key == thread).order_by(Case.id).limit(1)
    )
    first = (
        await session.scalar(select(Mention).where(Mention.case_id == first_case).order_by(Mention.id).limit(1))
        if first_case is not None
        else None
    )
    root = await session.scalar(
        select(Mention).where(Mention.source == source, Mention.external_id == thread).limit(1)
    )
    m = root or first
    if m is None:
        return f"{source} {thread}", None
    text = m.text if len(m.text) <= 80 else m.text[:79] + "…"
    return f"{source}: {text}", m.url


def _queue_card(
    session: AsyncSession, surge: Surge, *, now: datetime, coord: Coord, delay: timedelta | None = None
) -> None:
    """Post the alert card, or queue one coalesced update of it `delay` (`surge.card_every`) from now
    (and of the storm card, if any)."""
    if surge.storm_channel is not None:
        queue_storm_card(session, surge, now=now, coord=coord, channel=surge.storm_channel)
    if surge.card_ts is None and surge.card_channel is None:
        surge.card_channel = alerts_channel(coord)
        enqueue(
            session,
            kind=SURGE_POST,
            lane=post_lane(surge.card_channel),
            now=now,
            payload={"surge_id": surge.id},
        )
    else:
        delay = delay or coord.cfg.surge.card_every
        if surge.card_due_at is not None and now - LOST_UPDATE <= surge.card_due_at <= now + delay:
            return  # an update is due soon enough: it shows this change too
        # none queued, or only a slow one (a fading storm): this one comes sooner, and the slow one,
        # no longer the one due, is skipped when its time comes (the job compares `due`)
        surge.card_due_at = now + delay
        enqueue(
            session,
            kind=SURGE_UPDATE,
            lane=UPDATE_LANE,
            now=now,
            delay=delay,
            payload={"surge_id": surge.id, "due": due_key(surge.card_due_at)},
        )


def due_key(at: datetime) -> str:
    """An update's due time as its outbox row and the surge both say it (UTC, to the microsecond)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _tell(
    session: AsyncSession,
    surge: Surge,
    people: list[str],
    event: str,
    *,
    now: datetime,
    actor: str | None = None,
) -> None:
    for person in dict.fromkeys(people):
        enqueue(
            session,
            kind=SURGE_MESSAGE,
            lane=post_lane(person),
            now=now,
            payload={"surge_id": surge.id, "to": person, "event": event, "actor": actor},
        )


def _figures(surge: Surge, ev: SurgeEvent) -> None:
    surge.messages, surge.authors = max(surge.messages, ev.messages), max(surge.authors, ev.authors)
    surge.negative, surge.threats = max(surge.negative, ev.negative), max(surge.threats, ev.threats)
    surge.rate_per_hour, surge.expected_per_hour = ev.rate_per_hour, ev.expected_per_hour
    surge.severity = ev.severity


def grew(session: AsyncSession, surge: Surge, ev: SurgeEvent, point: tuple[datetime, float], *, now: datetime,
         coord: Coord) -> None:
    """The storm goes on: its figures now, and the rate of its current bucket on the chart (one point per
    bucket, counted further each round); the alert card shows them (see `refresh_alert`)."""
    if surge.state == SurgeState.RESOLVED:
        return
    history = list(surge.history or [])
    new = [point[0].isoformat(), round(point[1], 1)]
    if ev.messages <= surge.messages and history and history[-1] == new:
        return
    _figures(surge, ev)
    if history and str(history[-1][0]) == new[0]:
        history[-1] = new
    else:
        history.append(new)
    surge.history = history[-HISTORY:]
    refresh_alert(session, surge, now=now, coord=coord)


async def on_event(
    session: AsyncSession, ev: SurgeEvent, *, now: datetime, coord: Coord, surges: dict[str, Surge]
) -> Surge | None:
    """Apply one detector event: open or lift an alert (and tell people), or resolve it."""
    team = coord.team
    surge = surges.get(ev.key)
    if ev.state == "resolved":
        if surge is None:
            return None
        _figures(surge, ev)
        surge.state, surge.resolved_at, surge.updated_at = SurgeState.RESOLVED.value, now, now
        surges.pop(ev.key, None)
        await _summary(session, surge, actor=None, now=now)
        _queue_card(session, surge, now=now, coord=coord)
        await _final_counts(session, surge, now=now, coord=coord)
        return surge
    if surge is None and ev.scope != "thread":
        storm = next((x for x in surges.values() if x.scope == "thread"), None)
        if storm is not None:  # one storm, one alert: the post it is on says more than "all channels"
            if LEVELS[ev.level] > LEVELS.get(storm.level, 0):
                ev = replace(ev, key=storm.key, scope="thread")
                return await on_event(session, ev, now=now, coord=coord, surges=surges)
            return storm
    quiet = surge is None and any(LEVELS.get(x.level, 0) >= LEVELS[ev.level] for x in surges.values())
    if surge is None:
        label, _ = await _label(session, ev.key)
        surge = Surge(
            ref=secrets.token_urlsafe(9),
            scope=ev.scope,
            key=ev.key,
            label=label,
            level=ev.level,
            severity=ev.severity,
            state=SurgeState.OPEN.value,
            started_at=ev.started_at,
            raised_at=now,
            updated_at=now,
            history=[],
        )
        session.add(surge)
        await session.flush()
        surges[ev.key] = surge
        lifted = True
    else:
        lifted = LEVELS[ev.level] > LEVELS.get(surge.level, 0)
        if lifted:
            surge.level = ev.level
            surge.state = SurgeState.OPEN.value  # a higher level needs a new acknowledgement
            surge.acked_by, surge.acked_at, surge.escalated_at = None, None, None
    _figures(surge, ev)
    surge.updated_at = now
    _queue_card(session, surge, now=now, coord=coord)
    if lifted and not quiet:  # already told of this storm at this level (e.g. its org-wide alarm)
        people = team.members(Role.MANAGER) + team.members(Role.SPOKESPERSON)
        if surge.threats:
            people += list(coord.cfg.surge.security)
        _tell(session, surge, people, f"surge_{ev.level}", now=now)
    return surge


async def escalate_unacknowledged(session: AsyncSession, *, now: datetime, coord: Coord) -> int:
    """Alerts nobody acknowledged within `surge.ack_within`: tell coordinators and managers (once)."""
    late = list(
        await session.scalars(
            select(Surge)
            .where(
                Surge.state == SurgeState.OPEN.value,
                Surge.escalated_at.is_(None),
                Surge.raised_at <= now - coord.cfg.surge.ack_within,
            )
            .with_for_update()
        )
    )
    for surge in late:
        surge.escalated_at = now
        people = coord.team.members(Role.COORDINATOR) + coord.team.members(Role.MANAGER)
        _tell(session, surge, people, "surge_unacknowledged", now=now)
        _queue_card(session, surge, now=now, coord=coord)
    return len(late)


async def _load(session: AsyncSession, ref: str) -> Surge:
    surge = await session.scalar(select(Surge).where(Surge.ref == ref).with_for_update())
    if surge is None:
        raise BadReference()
    return surge


async def acknowledge(*, session: AsyncSession, ref: str, actor: str, now: datetime, coord: Coord) -> Surge:
    """Someone has it: stops the escalation of this alert (until a higher level)."""
    coord.team.require(actor, *LEADS, action="surge.ack")
    surge = await _load(session, ref)
    if surge.state == SurgeState.RESOLVED:
        raise AlreadyDecided(by=surge.acked_by or "?", state=surge.state)
    if surge.acked_by is None:
        surge.state, surge.acked_by, surge.acked_at, surge.updated_at = SurgeState.ACKED.value, actor, now, now
        _queue_card(session, surge, now=now, coord=coord)
    return surge


async def escalate(*, session: AsyncSession, ref: str, actor: str, now: datetime, coord: Coord) -> Surge:
    """Pull in everyone who decides now: managers, spokespersons and the security contact."""
    coord.team.require(actor, *LEADS, action="surge.escalate")
    surge = await _load(session, ref)
    team = coord.team
    _tell(
        session,
        surge,
        team.members(Role.MANAGER) + team.members(Role.SPOKESPERSON) + list(coord.cfg.surge.security),
        "surge_escalated",
        now=now,
        actor=actor,
    )
    surge.escalated_at, surge.updated_at = now, now
    _queue_card(session, surge, now=now, coord=coord)
    return surge


async def resolve(*, session: AsyncSession, ref: str, actor: str, now: datetime, coord: Coord) -> Surge:
    """Over: the card says so, crisis mode (if any) ends with it."""
    coord.team.require(actor, *LEADS, action="surge.resolve")
    surge = await _load(session, ref)
    if surge.state != SurgeState.RESOLVED:
        surge.state, surge.resolved_at, surge.updated_at = SurgeState.RESOLVED.value, now, now
        surge.acked_by = surge.acked_by or actor
        await _summary(session, surge, actor=actor, now=now)
        _queue_card(session, surge, now=now, coord=coord)
        await _final_counts(session, surge, now=now, coord=coord)
    return surge


async def _final_counts(session: AsyncSession, surge: Surge, *, now: datetime, coord: Coord) -> None:
    """The storm is over: its cluster cards show their final count (they were not updated as they grew)."""
    carded = await session.scalars(
        select(SurgeCluster).where(SurgeCluster.surge_id == surge.id, SurgeCluster.card_channel.is_not(None))
    )
    for cluster in carded:
        if cluster.count != cluster.shown_count:
            queue_cluster_card(session, cluster, now=now, coord=coord, channel=cluster.card_channel or "",
                               force=True)


async def _summary(session: AsyncSession, surge: Surge, *, actor: str | None, now: datetime) -> None:
    """Closing the incident writes a short summary in its timeline."""
    clusters = await session.scalar(
        select(func.count()).select_from(SurgeCluster).where(SurgeCluster.surge_id == surge.id)
    )
    replies = await session.scalar(
        select(func.count())
        .select_from(Reply)
        .join(Mention, Mention.id == Reply.mention_id)
        .join(SurgeCluster, SurgeCluster.id == Mention.cluster_id)
        .where(SurgeCluster.surge_id == surge.id)
    )
    minutes = int((now - surge.started_at).total_seconds() // 60)
    statement = (
        str(int((surge.statement_at - surge.started_at).total_seconds() // 60)) if surge.statement_at else "-"
    )
    _timeline(
        session,
        surge,
        "surge_summary",
        now=now,
        actor=actor,
        params={
            "minutes": str(minutes),
            "messages": str(surge.messages),
            "authors": str(surge.authors),
            "threats": str(surge.threats),
            "clusters": str(clusters or 0),
            "replies": str(replies or 0),
            "statement": statement,
        },
    )


async def crisis(*, session: AsyncSession, ref: str, actor: str, now: datetime, coord: Coord) -> Surge:
    """Crisis mode on this surge's scope: every reply there needs a spokesperson's approval."""
    coord.team.require(actor, Role.MANAGER, Role.SPOKESPERSON, action="surge.crisis")
    surge = await _load(session, ref)
    if surge.crisis_at is None:
        surge.crisis_at, surge.crisis_by, surge.updated_at = now, actor, now
        surge.acked_by, surge.acked_at = surge.acked_by or actor, surge.acked_at or now
        if surge.state == SurgeState.OPEN:
            surge.state = SurgeState.ACKED.value
        _tell(
            session,
            surge,
            coord.team.members(Role.MANAGER)
            + coord.team.members(Role.SPOKESPERSON)
            + list(coord.cfg.surge.security),
            "surge_crisis_on",
            now=now,
            actor=actor,
        )
        _queue_card(session, surge, now=now, coord=coord)
    return surge


def queue_storm_card(session: AsyncSession, surge: Surge, *, now: datetime, coord: Coord, channel: str) -> None:
    """Post the storm card in the mention channel, or queue one update of it `surge.card_every` later.

    The storm card counts every collapsed message of the surge, so each is visible in Slack within
    about `surge.check` + `surge.card_every` at one update per interval, whatever the number of groups.
    """
    if surge.storm_channel is None:
        surge.storm_channel = channel
        enqueue(session, kind=STORM_POST, lane=post_lane(channel), now=now, payload={"surge_id": surge.id})
    elif surge.storm_due_at is None:
        every = coord.cfg.surge.card_every
        surge.storm_due_at = now + every
        enqueue(session, kind=STORM_UPDATE, lane=UPDATE_LANE, now=now, delay=every,
                payload={"surge_id": surge.id})


async def declare_crisis(
    *, session: AsyncSession, topic: str, known_topics: set[str], actor: str, now: datetime, coord: Coord
) -> Surge:
    """Crisis mode on a topic by command, before (or without) a measured storm.

    A webcare lead often knows of a crisis before the traffic shows it (a news item, a recall). The
    topic gets an alert like a detected one (card, direct messages, timeline), already in crisis
    mode; it ends when someone clicks *Voorbij* (the detector resolves only what it raised).
    """
    coord.team.require(actor, Role.MANAGER, Role.SPOKESPERSON, action="surge.crisis")
    name = topic.strip().lower()
    if name not in known_topics:
        raise InvalidInput(field="topic", reason="unknown")
    key = f"topic:{name}"
    surge = await session.scalar(
        select(Surge)
        .where(Surge.key == key, Surge.state.in_([SurgeState.OPEN.value, SurgeState.ACKED.value]))
        .with_for_update()
    )
    if surge is None:
        surge = Surge(
            ref=secrets.token_urlsafe(9),
            scope="topic",
            key=key,
            label=name,
            level="crisis",
            severity="high",
            state=SurgeState.OPEN.value,
            started_at=now,
            raised_at=now,
            updated_at=now,
            history=[],
        )
        session.add(surge)
        await session.flush()
    return await crisis(session=session, ref=surge.ref, actor=actor, now=now, coord=coord)


async def listed(session: AsyncSession) -> list[Surge]:
    """Open surges in the order `/webcare crisis` numbers them (oldest first)."""
    return sorted(await open_surges(session), key=lambda s: s.id)


@dataclass(frozen=True)
class CrisisOutcome:
    """What `crisis [N | TOPIC]` did, for any transport to say: crisis mode on `surge`; or the open
    surges `listed` (asked for, or after a number `no_such` that is not among them); or a topic
    `unknown`, with the known `topics`."""

    listed: list[Surge] = field(default_factory=list)
    surge: Surge | None = None
    no_such: str | None = None
    unknown: str | None = None
    topics: tuple[str, ...] = ()


async def crisis_command(*, session: AsyncSession, arg: str, actor: str, now: datetime, coord: Coord,
                         known_topics: set[str]) -> CrisisOutcome:
    """`crisis`: the open surges; `crisis N`: crisis mode on the N-th; `crisis TOPIC`: declare one on a
    topic (NotAllowed without the role, raised for the caller to explain and audit)."""
    if not arg:
        return CrisisOutcome(listed=await listed(session))
    if arg.isdigit():
        items = await listed(session)
        if not 1 <= int(arg) <= len(items):
            return CrisisOutcome(listed=items, no_such=arg[:6])
        return CrisisOutcome(surge=await crisis(session=session, ref=items[int(arg) - 1].ref, actor=actor,
                                                now=now, coord=coord))
    try:
        return CrisisOutcome(surge=await declare_crisis(session=session, topic=arg, known_topics=known_topics,
                                                        actor=actor, now=now, coord=coord))
    except InvalidInput:  # raised before anything is written
        return CrisisOutcome(unknown=arg[:40], topics=tuple(sorted(known_topics)))


def queue_cluster_card(
    session: AsyncSession,
    cluster: SurgeCluster,
    *,
    now: datetime,
    coord: Coord,
    channel: str,
    force: bool = False,
    may_post: bool = True,
) -> None:
    """Post the cluster's card once it has `surge.card_min` messages, or queue one coalesced update
    when its buttons or state change (`force`: a statement approved, handled).

    Only the largest groups get a card (`may_post`: the runner decides, `surge.cluster_cards`); the
    others are counted on the storm card. A card is not updated as its group grows: it says when it
    was counted, and the storm card (one update per `surge.card_every` for the whole storm) keeps every
    group's count, so Slack's calls stay a small share of the messages.
    """
    cfg = coord.cfg.surge
    if cluster.card_channel is None:
        if not channel or cluster.count < cfg.card_min or not may_post:
            return  # `force` changes a card's buttons; it never posts a small group's card
        cluster.card_channel = channel
        enqueue(
            session, kind=CLUSTER_POST, lane=post_lane(channel), now=now, payload={"cluster_id": cluster.id}
        )
        return
    if force and cluster.card_due_at is None:
        cluster.card_due_at = now + cfg.card_every
        enqueue(
            session,
            kind=CLUSTER_UPDATE,
            lane=UPDATE_LANE,
            now=now,
            delay=cfg.card_every,
            payload={"cluster_id": cluster.id},
        )


async def card_room(session: AsyncSession, surge_id: int, *, coord: Coord) -> set[int]:
    """The clusters of a surge that may get a card of their own: among the `surge.cluster_cards` largest.

    A group that later outgrows a carded one gets a card too, up to twice that many cards per surge;
    every other group is counted (and reachable) on the storm card.
    """
    most = coord.cfg.surge.cluster_cards
    carded = await session.scalar(
        select(func.count()).where(SurgeCluster.surge_id == surge_id, SurgeCluster.card_channel.is_not(None))
    )
    if not most or (carded or 0) >= 2 * most:
        return set()
    top = await session.execute(
        select(SurgeCluster.id, SurgeCluster.card_channel)
        .where(SurgeCluster.surge_id == surge_id)
        .order_by(SurgeCluster.count.desc(), SurgeCluster.id)
        .limit(most)
    )
    free = [cid for cid, channel in top if channel is None]  # the largest first
    return set(free[: 2 * most - (carded or 0)])


def history_points(surge: Surge) -> tuple[tuple[datetime, float], ...]:
    """The stored rate history as (time, messages per hour) pairs."""
    points: list[tuple[datetime, float]] = []
    for item in surge.history or []:
        try:
            points.append((datetime.fromisoformat(str(item[0])), float(item[1])))
        except (ValueError, TypeError, IndexError):
            continue
    return tuple(points)


def since(surge: Surge, now: datetime) -> timedelta:
    """How long the surge has been going on."""
    return now - surge.started_at


# --- crisis mode: the holding statement, the timeline, bulk actions on clusters ------------------

STATEMENT_ROLES = (Role.SPOKESPERSON, Role.BACKUP_SPOKESPERSON, Role.MANAGER)


def _timeline(
    session: AsyncSession,
    surge: Surge,
    event: str,
    *,
    now: datetime,
    actor: str | None = None,
    text: str | None = None,
    params: dict[str, str] | None = None,
) -> None:
    """A line in the alert card's thread: the incident's timeline."""
    enqueue(
        session,
        kind=SURGE_NOTE,
        lane=post_lane(surge.card_channel or ""),
        now=now,
        payload={"surge_id": surge.id, "event": event, "actor": actor, "text": text, "params": params or {}},
    )


async def approve_statement(
    *, session: AsyncSession, ref: str, actor: str, text: str, now: datetime, coord: Coord
) -> Surge:
    """The spokesperson approves the holding statement once; agents then offer it in varied wording."""
    coord.team.require(actor, *STATEMENT_ROLES, action="surge.statement")
    text = text.strip()
    if not text:
        raise InvalidInput(field="statement", reason="empty")
    surge = await _load(session, ref)
    surge.statement, surge.statement_by, surge.statement_at, surge.updated_at = text[:1000], actor, now, now
    _timeline(
        session,
        surge,
        "surge_statement",
        now=now,
        actor=actor,
        text=surge.statement,
        params={"minutes": str(int((now - surge.started_at).total_seconds() // 60))},
    )
    _queue_card(session, surge, now=now, coord=coord)
    for cluster in await session.scalars(select(SurgeCluster).where(SurgeCluster.surge_id == surge.id)):
        queue_cluster_card(
            session, cluster, now=now, coord=coord, channel=cluster.card_channel or "", force=True
        )
    return surge


async def current_statement(*, session: AsyncSession, ref: str) -> str | None:
    """The approved statement of a surge, if any (to edit it)."""
    return await session.scalar(select(Surge.statement).where(Surge.ref == ref))


def varied(t: Translator, statement: str, *, name: str | None, nth: int) -> str:
    """The statement in the `nth` wording: greeting, opening and closing vary, the statement does not."""
    opens, closes = (
        (t(f"statement.open.{i}") for i in range(1, 5)),
        [t(f"statement.close.{i}") for i in range(1, 4)],
    )
    opening = list(opens)[nth % 4]
    closing = closes[(nth // 4) % 3]
    greeting = t("statement.greeting", name=name) if name else ""
    return " ".join(p for p in (greeting, opening, statement, closing) if p)


async def reply_cluster(
    *, session: AsyncSession, cluster_id: int, actor: str, now: datetime, coord: Coord, sinks: Sinks
) -> int:
    """Answer every author in a cluster with the approved statement, each in a different wording."""
    coord.team.require_member(actor, action="cluster.reply")
    cluster, surge = await _cluster(session, cluster_id)
    if not surge.statement:
        raise NoStatement()
    replied = set(
        await session.scalars(
            select(Reply.mention_id)
            .join(Mention, Mention.id == Reply.mention_id)
            .where(Mention.cluster_id == cluster.id)
        )
    )
    mentions = list(
        await session.scalars(select(Mention).where(Mention.cluster_id == cluster.id).order_by(Mention.id))
    )
    sent = 0
    for nth, m in enumerate(mentions):
        caps = sinks.capabilities(m.source)
        if m.id in replied or m.case_id is None or not caps.reply or caps.read_only or m.deleted_at is not None:
            continue
        text = varied(
            coord.t, surge.statement, name=f"@{m.author_handle}" if m.author_handle else None, nth=nth
        )
        if caps.max_length is not None and len(text) > caps.max_length:
            text = surge.statement if len(surge.statement) <= caps.max_length else ""
        if not text:
            continue
        reply = Reply(
            case_id=m.case_id,
            mention_id=m.id,
            agent=actor,
            text=text,
            status=ReplyStatus.QUEUED.value,
            created_at=now,
        )
        session.add(reply)
        await session.flush()
        enqueue(
            session,
            kind=REPLY,
            lane=network_lane(m.source, m.account),
            case_id=m.case_id,
            now=now,
            payload={"reply_id": reply.id},
        )
        sent += 1
    _timeline(session, surge, "cluster_replied", now=now, actor=actor, params={"count": str(sent)})
    return sent


async def hide_cluster(
    *, session: AsyncSession, cluster_id: int, actor: str, now: datetime, coord: Coord, sinks: Sinks
) -> int:
    """Hide the abusive and threatening comments of a cluster where the network allows it."""
    coord.team.require_member(actor, action="cluster.hide")
    cluster, surge = await _cluster(session, cluster_id)
    abusive = list(
        await session.scalars(
            select(Mention).where(
                Mention.cluster_id == cluster.id, Mention.intent == "threat", Mention.hidden.is_(False)
            )
        )
    )
    hidden = 0
    for m in abusive:
        if not sinks.capabilities(m.source).hide or m.deleted_at is not None:
            continue
        m.hidden = True
        enqueue(
            session,
            kind=HIDE,
            lane=network_lane(m.source, m.account),
            case_id=m.case_id,
            now=now,
            payload={"mention_id": m.id, "hidden": True, "actor": actor},
        )
        hidden += 1
    _timeline(session, surge, "cluster_hidden", now=now, actor=actor, params={"count": str(hidden)})
    return hidden


async def cluster_handled(
    *, session: AsyncSession, cluster_id: int, actor: str, now: datetime, coord: Coord
) -> SurgeCluster:
    """Mark a cluster handled (its card says by whom)."""
    coord.team.require_member(actor, action="cluster.handled")
    cluster, surge = await _cluster(session, cluster_id)
    if cluster.handled_by is None:
        cluster.handled_by = actor
        queue_cluster_card(
            session, cluster, now=now, coord=coord, channel=cluster.card_channel or "", force=True
        )
    return cluster


async def _cluster(session: AsyncSession, cluster_id: int) -> tuple[SurgeCluster, Surge]:
    cluster = await session.get(SurgeCluster, cluster_id, with_for_update=True)
    surge = await session.get(Surge, cluster.surge_id) if cluster is not None else None
    if cluster is None or surge is None:
        raise BadReference()
    return cluster, surge


async def cluster_messages(
    *, session: AsyncSession, cluster_id: int, actor: str, coord: Coord, limit: int = 20
) -> tuple[SurgeCluster, list[Mention]]:
    """The newest messages of a cluster (every one stays reachable: `webcare export` has them all)."""
    coord.team.require_member(actor, action="cluster.show")
    cluster = await session.get(SurgeCluster, cluster_id)
    if cluster is None:
        raise BadReference()
    mentions = list(
        await session.scalars(
            select(Mention).where(Mention.cluster_id == cluster.id).order_by(Mention.id.desc()).limit(limit)
        )
    )
    return cluster, mentions


async def storm_groups(
    *, session: AsyncSession, ref: str, actor: str, coord: Coord, limit: int = 40
) -> tuple[Surge, list[SurgeCluster], int]:
    """The largest `limit` groups of a storm and how many there are (each opens its messages)."""
    coord.team.require_member(actor, action="surge.groups")
    surge = await session.scalar(select(Surge).where(Surge.ref == ref))
    if surge is None:
        raise BadReference()
    groups = list(
        await session.scalars(
            select(SurgeCluster)
            .where(SurgeCluster.surge_id == surge.id)
            .order_by(SurgeCluster.count.desc(), SurgeCluster.id)
            .limit(limit)
        )
    )
    total = await session.scalar(select(func.count()).where(SurgeCluster.surge_id == surge.id))
    return surge, groups, int(total or 0)


def refresh_alert(session: AsyncSession, surge: Surge, *, now: datetime, coord: Coord) -> None:
    """The storm changed: while it grows by a tenth since the card showed it, one update a minute
    (`ALERT_REFRESH`); a fading storm's trickle every ten minutes; the chart's next point alone waits
    for the next change. A change meanwhile joins that update; a level change, an acknowledgement or
    a statement comes sooner."""
    if surge.messages >= max(surge.card_messages + 1, surge.card_messages * ALERT_GROWTH):
        delay = coord.cfg.surge.card_every * ALERT_REFRESH
    elif surge.messages > surge.card_messages:
        delay = FADED_REFRESH
    else:
        return  # only the chart's next point: shown with the next change (or when it ends)
    _queue_card(session, surge, now=now, coord=coord, delay=delay)
