"""Several `webcare serve` instances on one PostgreSQL share the outbox without sending twice."""

from __future__ import annotations

import pytest

from tests.conftest import POSTGRES_URL, reset_postgres
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, card_actions, make_settings, mention, settle, start_bot, stop_bot

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL")


async def test_two_instances_deliver_each_row_once(receiver: ReplyReceiver) -> None:
    assert POSTGRES_URL
    await reset_postgres(POSTGRES_URL)
    async with FakeSlack(post_rate_per_s=100, post_burst=100) as fake:
        bots = []
        for name in ("a", "b"):
            settings = make_settings(db_url=POSTGRES_URL, slack=fake, reply_url=receiver.url,
                                     slack_config={"post_interval": "20ms"})
            bots.append(await start_bot(settings, instance=f"instance-{name}"))
        try:
            first, second = bots
            await first.post_mentions([mention(i) for i in range(0, 30)])
            await second.post_mentions([mention(i) for i in range(30, 60)])
            await fake.wait_for(lambda: len(fake.messages[CHANNEL]) >= 60, timeout=30)
            await settle(first)
            refs = [card_actions(m)["case.ignore"] for m in fake.messages[CHANNEL]]
            assert len(refs) == 60 and len(set(refs)) == 60
            claimed_by = {c.args.get("channel") for c in fake.calls_to("chat.postMessage")}
            assert claimed_by == {CHANNEL}
            from sqlalchemy import func, select

            from bot.models import OutboxItem
            async with first.rt.maker() as session:
                rows = dict((await session.execute(
                    select(OutboxItem.claimed_by, func.count()).group_by(OutboxItem.claimed_by)
                )).all())
            assert set(rows) == {"instance-a", "instance-b"}  # both did work
        finally:
            for bot in bots:
                await stop_bot(bot)
