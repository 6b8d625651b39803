"""The surge runner's lease and checkpoint: one instance counts, another carries on from its checkpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.craft.answers import build_craft
from bot.db import create_engine, create_sessionmaker, upgrade
from bot.i18n import Translator
from bot.metrics import Metrics
from bot.models import IntegrationState, Mention
from bot.pipeline import ingest
from bot.runtime import Runtime
from bot.schemas import MentionIn
from bot.services.coord import build_coord
from bot.surge.detect import Detector
from bot.surge.runner import KEY, SurgeRunner
from bot.triage.service import build_triage
from tests.harness import make_settings, mention

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def rt(db_url: str) -> AsyncIterator[Runtime]:
    settings = make_settings(db_url=db_url, slack=None)
    cfg = settings.config
    engine = create_engine(db_url)
    await upgrade(engine)
    runtime = Runtime(
        settings=settings, instance="test", engine=engine, maker=create_sessionmaker(engine),
        metrics=Metrics(), t=Translator(cfg.locale, cfg.tz), coord=build_coord(cfg),
        triage=build_triage(cfg), craft=build_craft(cfg),
    )
    yield runtime
    await engine.dispose()


def instance(rt: Runtime, name: str) -> Runtime:
    """The same database as another instance of the bot would see it."""
    other = Runtime(settings=rt.settings, instance=name, engine=rt.engine, maker=rt.maker, metrics=rt.metrics,
                    t=rt.t, coord=rt.coord, craft=rt.craft, triage=rt.triage)
    return other


async def store(rt: Runtime, n: int, *, at: datetime, first: int = 0) -> None:
    batch = [
        MentionIn.model_validate(
            mention(k, thread_id="post1", author={"id": f"p{k}", "handle": f"p{k}"}, created_at=at.isoformat())
        )
        for k in range(first, first + n)
    ]
    async with rt.uow() as session:
        await ingest(session, batch, now=at, channel=rt.settings.config.slack.channel, triage=rt.triage,
                     coord=rt.coord)


async def saved(rt: Runtime) -> dict[str, Any]:
    async with rt.maker() as session:
        row = await session.get(IntegrationState, KEY)
    assert row is not None
    return {"cursor": dict(row.cursor), "owner": row.lease_owner, "until": row.lease_until}


async def last_id(rt: Runtime) -> int:
    async with rt.maker() as session:
        return int(await session.scalar(select(Mention.id).order_by(Mention.id.desc()).limit(1)) or 0)


async def test_the_checkpoint_carries_the_count_to_the_next_instance(rt: Runtime) -> None:
    clock = Clock()
    a = SurgeRunner(instance(rt, "a"), clock=clock)
    b = SurgeRunner(instance(rt, "b"), clock=clock)
    assert await a.run_once() == 0  # takes the lease on the empty database
    await store(rt, 5, at=clock.now)
    clock.now += timedelta(seconds=5)
    assert await a.run_once() == 5
    assert (await saved(rt))["cursor"] == {}  # the first checkpoint is a minute after the start

    assert await b.run_once() == 0  # a holds the lease
    clock.now += timedelta(minutes=1)
    await store(rt, 3, at=clock.now - timedelta(seconds=2), first=5)
    assert await a.run_once() == 3
    state = await saved(rt)
    assert state["owner"] == "a"
    assert state["cursor"]["after"] == await last_id(rt)
    detector = state["cursor"]["detector"]
    assert detector == json.loads(Detector.from_json(json.dumps(detector), rt.settings.config.surge).to_json())

    await store(rt, 2, at=clock.now, first=8)
    clock.now += timedelta(seconds=5)
    assert await a.run_once() == 2
    await a.stop()  # saves what it counted since and gives the lease back
    state = await saved(rt)
    assert state["owner"] is None and state["until"] is None
    assert state["cursor"]["after"] == await last_id(rt)

    await store(rt, 4, at=clock.now, first=10)
    clock.now += timedelta(seconds=5)
    assert await b.run_once() == 4  # carries on after a's last checkpoint: nothing counted twice
    assert (await saved(rt))["owner"] == "b"


async def test_a_runner_stops_counting_when_another_instance_took_the_lease(rt: Runtime) -> None:
    clock = Clock()
    a = SurgeRunner(instance(rt, "a"), clock=clock)
    await a.run_once()
    await store(rt, 2, at=clock.now)
    clock.now += timedelta(seconds=5)
    async with rt.uow() as session:  # another instance took it (a's lease ran out while it hung)
        await session.execute(
            update(IntegrationState).where(IntegrationState.key == KEY).values(lease_owner="b")
        )
    assert await a.run_once() == 0
    assert (await saved(rt))["owner"] == "b"


async def test_without_a_checkpoint_interval_the_state_is_saved_only_at_stop(rt: Runtime) -> None:
    clock = Clock()
    a = SurgeRunner(instance(rt, "a"), clock=clock, checkpoint=None)
    await a.run_once()
    for minute in range(3):
        await store(rt, 2, at=clock.now, first=2 * minute)
        clock.now += timedelta(minutes=1)
        assert await a.run_once() == 2
    assert (await saved(rt))["cursor"] == {}
    await a.stop()
    assert (await saved(rt))["cursor"]["after"] == await last_id(rt)


async def test_a_sole_runner_keeps_its_lease_through_its_rounds(rt: Runtime) -> None:
    clock = Clock()
    a = SurgeRunner(instance(rt, "a"), clock=clock, sole=True)
    await a.run_once()
    for gap in (timedelta(seconds=5), timedelta(minutes=10), timedelta(seconds=5)):  # longer than the lease
        await store(rt, 2, at=clock.now, first=int(clock.now.timestamp()))
        clock.now += gap
        assert await a.run_once() == 2
        state = await saved(rt)
        assert state["owner"] == "a" and state["until"] > clock.now


async def test_the_first_threat_or_negative_message_of_a_group_changes_its_card(rt: Runtime) -> None:
    # a cluster card is not updated as its group grows, but it must hide its text once a threat
    # joins (staff protection) and offer Hide once abuse does
    from bot.models import Surge

    runner = SurgeRunner(rt)
    async with rt.uow() as session:
        surge = Surge(ref="r1", scope="thread", key="thread:facebook:post1", label="post1", level="alert",
                      severity="high", state="open", started_at=START, raised_at=START, updated_at=START,
                      history=[])
        session.add(surge)
        await session.flush()
        touched: dict[int, Any] = {}
        text = "Schaam je HEMA, weg met die campagne, ik kom nooit meer bij jullie"

        def said(n: int, *, threat: bool = False, sentiment: float | None = None) -> Mention:
            return Mention(text=f"{text} {'!' * n}", received_at=START, threat=threat, sentiment=sentiment)

        await runner._cluster(session, surge, said(1), touched)
        await runner._cluster(session, surge, said(2), touched)
        assert len(touched) == 1 and not runner._restyle
        await runner._cluster(session, surge, said(3, threat=True), touched)
        assert runner._restyle == set(touched)
        runner._restyle.clear()
        await runner._cluster(session, surge, said(4, threat=True), touched)  # not the first any more
        assert not runner._restyle
        await runner._cluster(session, surge, said(5, sentiment=-0.8), touched)  # the first negative one
        assert runner._restyle == set(touched)
