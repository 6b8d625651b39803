"""POST /webhooks/mentions: signatures, bad bodies, partial batches, duplicates, case joining."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.models import Case, Mention, OutboxItem, RejectedPayload
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, Bot, mention, settle


async def count(bot: Bot, model: type) -> int:
    async with bot.rt.maker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_batch_and_single_are_accepted(bot: Bot) -> None:
    status, body = await bot.post_mentions([mention(1), mention(2), mention(3)])
    assert (status, body) == (202, {"accepted": 3, "duplicates": 0, "rejected": []})
    assert await count(bot, Mention) == 3 and await count(bot, Case) == 3


async def test_redelivery_is_a_no_op(bot: Bot, fake_slack: FakeSlack) -> None:
    await bot.post_mentions([mention(1), mention(2)])
    await settle(bot)
    outbox_before = await count(bot, OutboxItem)
    status, body = await bot.post_mentions([mention(2), mention(1), mention(1)])
    assert (status, body) == (202, {"accepted": 0, "duplicates": 3, "rejected": []})
    assert await count(bot, Mention) == 2 and await count(bot, Case) == 2
    assert await count(bot, OutboxItem) == outbox_before
    # the same (source, id) twice in one batch counts once
    status, body = await bot.post_mentions([mention(9), mention(9)])
    assert body == {"accepted": 1, "duplicates": 1, "rejected": []}


async def test_missing_or_wrong_signature_is_401(bot: Bot) -> None:
    status, body = await bot.post_mentions(mention(1), secret=None)
    assert status == 401 and "X-Webcare-Signature" in body["error"]
    status, _ = await bot.post_mentions(mention(1), secret="not-the-secret")
    assert status == 401
    assert await count(bot, Mention) == 0


async def test_not_json_is_400_and_kept_for_inspection(bot: Bot) -> None:
    status, body = await bot.post_mentions(None, raw=b"{not json")
    assert status == 400 and "not JSON" in body["error"]
    status, body = await bot.post_mentions(None, raw=b"42")
    assert status == 400
    async with bot.rt.maker() as session:
        kept = list(await session.scalars(select(RejectedPayload).order_by(RejectedPayload.id)))
    assert kept[0].body == "{not json" and "not JSON" in kept[0].reason


async def test_batch_with_bad_items_keeps_the_good_ones(bot: Bot, fake_slack: FakeSlack) -> None:
    bad_time = mention(2, created_at="yesterday")
    no_text = mention(3)
    del no_text["text"]
    naive = mention(4, created_at="2026-11-22T09:15:00")
    status, body = await bot.post_mentions([mention(1), bad_time, no_text, "junk", naive, mention(5)])
    assert status == 202 and body["accepted"] == 2 and body["duplicates"] == 0
    rejected = {r["index"]: r["errors"] for r in body["rejected"]}
    assert set(rejected) == {1, 2, 3, 4}
    assert any(e.startswith("created_at") for e in rejected[1])
    assert any(e.startswith("text") for e in rejected[2])
    assert rejected[3] == ["expected a JSON object"]
    assert any("timezone" in e for e in rejected[4])
    await fake_slack.wait_for(lambda: len(fake_slack.messages[CHANNEL]) == 2)
    async with bot.rt.maker() as session:
        kept = await session.scalar(select(RejectedPayload))
    assert kept is not None and "item 1" in kept.reason and "yesterday" in kept.body


async def test_nothing_valid_is_400(bot: Bot) -> None:
    status, body = await bot.post_mentions([{"source": "x"}, {"id": 1}])
    assert status == 400 and body["accepted"] == 0 and len(body["rejected"]) == 2


async def test_batch_over_the_limit_is_refused_whole(bot_factory, fake_slack: FakeSlack) -> None:
    bot = await bot_factory(slack=fake_slack, ingest={"max_batch": 2})
    status, body = await bot.post_mentions([mention(1), mention(2), mention(3)])
    assert status == 413 and "limit of 2" in body["error"]


async def test_follow_up_in_thread_joins_the_case(bot: Bot, fake_slack: FakeSlack) -> None:
    first = mention(1, thread_id="t1")
    await bot.post_mentions(first)
    card = await fake_slack.wait_for(lambda: fake_slack.messages[CHANNEL][0])
    # same author, same thread: joins; another author in the same thread: a new case
    follow = mention(2, thread_id="t1", author=first["author"], text="Nog steeds niks!",
                     created_at="2026-11-22T10:00:00Z")
    other = mention(3, thread_id="t1")
    reply_to = mention(4, in_reply_to="m1", text="Ik heb hetzelfde", created_at="2026-11-22T10:05:00Z")
    status, body = await bot.post_mentions([follow, other, reply_to])
    assert body["accepted"] == 3
    assert await count(bot, Case) == 2
    note = await fake_slack.wait_for(lambda: next(
        m for m in fake_slack.messages[CHANNEL] if m.get("thread_ts") == card["ts"]
        and "Nog steeds niks" in m["text"]))
    assert "@klant1" in note["text"]
    await fake_slack.wait_for(lambda: "3 berichten" in str(fake_slack.messages[CHANNEL][0]["blocks"]))


async def test_venue_defaults_by_source(bot: Bot) -> None:
    item = mention(1, source="forum")
    del item["venue"]
    await bot.post_mentions(item)
    async with bot.rt.maker() as session:
        assert (await session.scalar(select(Mention.venue))) == "third_party"


async def test_explicit_nulls_are_accepted(bot: Bot) -> None:
    item = mention(1, thread_id=None, in_reply_to=None, url=None, lang=None)
    item["author"]["id"] = None
    status, body = await bot.post_mentions(item)
    assert (status, body) == (202, {"accepted": 1, "duplicates": 0, "rejected": []})
