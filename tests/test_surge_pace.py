"""What a storm costs in Slack calls: the alert card's pace, cluster cards that do not chase their count."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db import create_engine, create_sessionmaker, upgrade
from bot.i18n import Translator
from bot.kinds import CLUSTER_UPDATE, SURGE_UPDATE
from bot.models import OutboxItem, Surge, SurgeCluster
from bot.outbox import Skip
from bot.services import surges
from bot.services.coord import Coord, build_coord
from bot.surge_delivery import SurgeCardJob, cluster_view
from handlers.slack.surge_blocks import render_cluster
from tests.harness import make_settings

NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[tuple[Any, Coord]]:
    settings = make_settings(db_url=db_url, slack=None, surge={"card_every": "10s"})
    engine = create_engine(db_url)
    await upgrade(engine)
    yield create_sessionmaker(engine), build_coord(settings.config)
    await engine.dispose()


def storm(**kw: Any) -> Surge:
    fields: dict[str, Any] = dict(
        ref="r1", scope="thread", key="thread:facebook:post1", label="post1", level="alert", severity="high",
        state="open", started_at=NOW, raised_at=NOW, updated_at=NOW, history=[],
        card_channel="C0ALERTS", card_ts="1.1", messages=1000, card_messages=1000,
    )
    fields.update(kw)
    return Surge(**fields)


async def updates(session: Any, kind: str) -> list[datetime]:
    rows = await session.scalars(select(OutboxItem).where(OutboxItem.kind == kind).order_by(OutboxItem.id))
    return [r.not_before.replace(tzinfo=UTC) if r.not_before.tzinfo is None else r.not_before for r in rows]


async def test_the_alert_card_keeps_pace_with_the_storm_and_slows_down_as_it_fades(db: Any) -> None:
    maker, coord = db
    async with maker.begin() as session:
        surge = storm(messages=1050)  # grew by 5 % since the card showed 1,000: a fading storm
        session.add(surge)
        await session.flush()
        surges.refresh_alert(session, surge, now=NOW, coord=coord)
        assert await updates(session, SURGE_UPDATE) == [NOW + surges.FADED_REFRESH]
        # it grows by a tenth again: an update within the minute overtakes the slow one
        surge.messages = 1100
        surges.refresh_alert(session, surge, now=NOW + timedelta(seconds=5), coord=coord)
        due = NOW + timedelta(seconds=5) + 6 * timedelta(seconds=10)
        assert await updates(session, SURGE_UPDATE) == [NOW + surges.FADED_REFRESH, due]
        assert surge.card_due_at == due
        # more growth before then joins that update
        surge.messages = 1500
        surges.refresh_alert(session, surge, now=NOW + timedelta(seconds=20), coord=coord)
        assert len(await updates(session, SURGE_UPDATE)) == 2


async def test_an_acknowledgement_is_shown_within_card_every_even_while_the_card_waits(db: Any) -> None:
    maker, coord = db
    async with maker.begin() as session:
        surge = storm(messages=1200)
        session.add(surge)
        await session.flush()
        surges.refresh_alert(session, surge, now=NOW, coord=coord)  # a minute away
        surges._queue_card(session, surge, now=NOW, coord=coord)  # what acknowledge() does
        assert (await updates(session, SURGE_UPDATE))[-1] == NOW + timedelta(seconds=10)


async def test_a_cluster_card_is_not_updated_as_its_group_grows_only_when_its_state_changes(db: Any) -> None:
    maker, coord = db
    async with maker.begin() as session:
        surge = storm()
        session.add(surge)
        await session.flush()
        cluster = SurgeCluster(surge_id=surge.id, key="k1", sample="Schaam je HEMA", words=["hema"], count=10,
                               first_at=NOW, last_at=NOW, card_channel="C0WEBCARE", card_ts="2.2",
                               shown_count=10, shown_at=NOW)
        session.add(cluster)
        await session.flush()
        for n in (20, 80, 700):  # it grows and grows: the storm card counts it, its own card stays
            cluster.count = n
            surges.queue_cluster_card(session, cluster, now=NOW + timedelta(minutes=n), coord=coord,
                                      channel="C0WEBCARE")
        assert await updates(session, CLUSTER_UPDATE) == []
        await surges.cluster_handled(session=session, cluster_id=cluster.id, actor="U0AGENT1", now=NOW,
                                     coord=coord)
        assert len(await updates(session, CLUSTER_UPDATE)) == 1

        # the card says when it counted, while the storm runs
        t = Translator("nl", ZoneInfo("Europe/Amsterdam"))
        text = str(render_cluster(cluster_view(cluster, surge), t)[1])
        assert "geteld om" in text and "de stormkaart telt verder" in text
        surge.state = "resolved"
        assert "geteld om" not in str(render_cluster(cluster_view(cluster, surge), t)[1])


async def test_the_slow_update_a_sooner_one_overtook_is_skipped_not_sent(db: Any) -> None:
    maker, coord = db
    job = SurgeCardJob(chat=object(), update=True)  # type: ignore[arg-type]  # prepare needs no chat
    async with maker.begin() as session:
        surge = storm(messages=1050)
        session.add(surge)
        await session.flush()
        surges.refresh_alert(session, surge, now=NOW, coord=coord)  # ten minutes away
        surge.messages = 1200
        surges.refresh_alert(session, surge, now=NOW, coord=coord)  # a minute away: it overtakes
    async with maker.begin() as session:
        slow, soon = (await session.scalars(select(OutboxItem).where(OutboxItem.kind == SURGE_UPDATE)
                                            .order_by(OutboxItem.id))).all()
        for item in (slow, soon):
            item.attempts = 1  # as the dispatcher claims them
    async with maker.begin() as session:
        shown = await job.prepare(session, soon)
        assert not isinstance(shown, Skip) and shown.view.messages == 1200
    async with maker.begin() as session:
        assert isinstance(await job.prepare(session, slow), Skip)  # the card already shows it all
        assert (await session.get(Surge, surge.id)).card_messages == 1200  # type: ignore[union-attr]
    # rate limited: the update is the one due again, and goes out when tried again
    async with maker.begin() as session:
        await job.delayed(session, soon)
    async with maker.begin() as session:
        again = await session.get(OutboxItem, soon.id)
        assert again is not None and again.payload.get("taken")
        assert not isinstance(await job.prepare(session, again), Skip)


async def test_an_update_that_never_came_does_not_freeze_the_card(db: Any) -> None:
    maker, coord = db
    async with maker.begin() as session:
        # its row was given up (or taken over) long ago: card_due_at still says an update is coming
        surge = storm(messages=2000, card_due_at=NOW - surges.LOST_UPDATE - timedelta(seconds=1))
        session.add(surge)
        await session.flush()
        surges.refresh_alert(session, surge, now=NOW, coord=coord)
        assert await updates(session, SURGE_UPDATE) == [NOW + 6 * timedelta(seconds=10)]


async def test_the_end_of_a_storm_shows_each_cluster_cards_final_count(db: Any) -> None:
    maker, coord = db
    async with maker.begin() as session:
        surge = storm()
        session.add(surge)
        await session.flush()
        session.add_all([
            SurgeCluster(surge_id=surge.id, key="grew", sample="a", words=[], count=700, first_at=NOW,
                         last_at=NOW, card_channel="C0WEBCARE", card_ts="2.2", shown_count=10, shown_at=NOW),
            SurgeCluster(surge_id=surge.id, key="same", sample="b", words=[], count=5, first_at=NOW,
                         last_at=NOW, card_channel="C0WEBCARE", card_ts="2.3", shown_count=5, shown_at=NOW),
            SurgeCluster(surge_id=surge.id, key="uncarded", sample="c", words=[], count=2, first_at=NOW,
                         last_at=NOW),
        ])
        await session.flush()
        await surges.resolve(session=session, ref="r1", actor="U0MGR1", now=NOW, coord=coord)
        assert len(await updates(session, CLUSTER_UPDATE)) == 1  # only the card whose count changed
