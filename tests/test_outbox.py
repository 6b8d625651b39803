"""The outbox: pacing per Slack channel, 429 Retry-After, retries with a stable key, failures shown."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.models import OutboxItem, Reply
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, card_actions, card_text, mention, settle


async def test_posts_are_paced_per_channel_and_429_is_honoured(bot_factory, receiver: ReplyReceiver) -> None:
    # Slack-like limits: no burst, 1.5 per second; the bot is configured slightly faster
    # than Slack allows, so it meets 429s and must wait as told.
    async with FakeSlack(post_rate_per_s=1.5, post_burst=1) as fake:
        bot = await bot_factory(slack=fake, reply_url=receiver.url, slack_config={"post_interval": "400ms"})
        status, body = await bot.post_mentions([mention(i) for i in range(6)])
        assert body["accepted"] == 6
        await fake.wait_for(lambda: len(fake.messages[CHANNEL]) == 6, timeout=20)
        posts = [c for c in fake.calls_to("chat.postMessage") if c.status == 200]
        # paced by claim time: arrival jitter may shorten one gap, never the sustained rate
        span = posts[-1].at - posts[0].at
        assert span / (len(posts) - 1) >= 0.38, [c.at for c in posts]
        limited = [c for c in fake.calls_to("chat.postMessage") if c.status == 429]
        assert limited, "the fake should have answered 429 at least once"
        for hit in limited:  # after a 429 nothing is posted before Retry-After (1 s) has passed
            later = [c for c in posts if c.at > hit.at]
            assert not later or later[0].at - hit.at >= 0.95
        await settle(bot)
        metrics = await (await bot.http.get(bot.url("/metrics"))).text()
        assert 'webcare_ratelimited_total{lane="chat.post"}' in metrics
        # one card per mention, none twice
        refs = [card_actions(m)["case.ignore"] for m in fake.messages[CHANNEL]]
        assert len(set(refs)) == 6


async def test_reply_webhook_failures_are_retried_with_the_same_key(
        bot, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    receiver.fail_next = [500, 503, 429]
    await bot.post_mentions(mention(1))
    await settle(bot)
    card = fake_slack.messages[CHANNEL][0]
    value = card_actions(card)["case.reply"]
    await bot.submit(callback_id="case.reply", private_metadata=value,
                     values={"reply": {"text": "Dank voor je geduld!"}})
    await receiver.wait_for(lambda: receiver.delivered)
    keys = {r["idempotency_key"] for r in receiver.requests}
    assert len(receiver.requests) == 4 and len(keys) == 1
    await fake_slack.wait_for(lambda: "(verstuurd" in card_text(card))


async def test_permanent_reply_failure_shows_on_the_card(
        bot_factory, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, outbox={"max_attempts": 2})
    receiver.fail_next = [500, 500, 500]
    await bot.post_mentions(mention(1))
    await settle(bot)
    card = fake_slack.messages[CHANNEL][0]
    await bot.submit(callback_id="case.reply", private_metadata=card_actions(card)["case.reply"],
                     values={"reply": {"text": "Dank voor je geduld!"}})
    await fake_slack.wait_for(lambda: "niet verstuurd" in card_text(card) and "Let op" in card_text(card))
    note = await fake_slack.wait_for(lambda: next(
        m for m in fake_slack.messages[CHANNEL]
        if m.get("thread_ts") == card["ts"] and "kon niet worden verstuurd" in m["text"]))
    assert "500" in note["text"]
    async with bot.rt.maker() as session:
        reply = await session.scalar(select(Reply))
        row = await session.scalar(select(OutboxItem).where(OutboxItem.kind == "reply.send"))
    assert reply is not None and reply.status == "failed"
    assert row is not None and row.status == "dead" and row.attempts == 2
    assert "case.reply" in card_actions(card)  # the agent can try again


async def test_slack_outage_loses_nothing(bot_factory, receiver: ReplyReceiver) -> None:
    fake = FakeSlack(post_rate_per_s=50, post_burst=50)
    await fake.start()
    port = int(fake.api_url.split(":")[2].split("/")[0])
    bot = await bot_factory(slack=fake, reply_url=receiver.url)
    await fake.stop()  # Slack unreachable: cards wait in the outbox
    await bot.post_mentions([mention(1), mention(2)])
    async with bot.rt.maker() as session:
        rows = list(await session.scalars(select(OutboxItem)))
    assert {r.status for r in rows} <= {"pending", "inflight"}
    revived = FakeSlack(post_rate_per_s=50, post_burst=50, port=port)  # Slack is back
    await revived.start()
    try:
        await revived.wait_for(lambda: len(revived.messages[CHANNEL]) == 2, timeout=20)
        texts = json.dumps(revived.messages[CHANNEL])
        assert "klant1" in texts and "klant2" in texts
    finally:
        await revived.stop()
