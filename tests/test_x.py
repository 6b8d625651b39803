"""X (Twitter) through real HTTP at every boundary: FakeX mentions → cards in FakeSlack → replies on X.

The bot runs with the X plugin against a fake X API v2 on loopback; nothing of ours is patched.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import create_async_engine

from bot.i18n import Translator
from bot.models import IntegrationState, OutboxItem, Reply
from bot.ports import OutboundReply, RateLimited, TransientError, UnknownOutcome
from bot.settings import AppConfig, Env, Settings
from integrations.x.client import XClient, XUnauthorized
from integrations.x.plugin import check
from integrations.x.sink import XReplySink
from integrations.x.source import XMentionsPoller, snowflake_at, snowflake_time, to_mention
from tests.fakes.slack_api import FakeSlack
from tests.fakes.x_api import FakeX
from tests.harness import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Bot,
    StartBot,
    base_config,
    bots,
    card_actions,
    card_text,
    start_bot,
    stop_bot,
    wait_until,
)

PLUGINS = ["integrations.webhook.plugin", "handlers.slack.plugin", "integrations.x.plugin"]
BEARER, API_KEY, API_SECRET = "x-bearer", "x-key", "x-secret"
ACCESS_TOKEN, ACCESS_SECRET = "1500000000000000001-token", "x-access-secret"
X_ENV = {"x_bearer_token": BEARER, "x_api_key": API_KEY, "x_api_secret": API_SECRET,
         "x_access_token": ACCESS_TOKEN, "x_access_secret": ACCESS_SECRET}


def x_settings(*, db_url: str, slack: FakeSlack, fake_x: FakeX, x_env: dict[str, str] | None = None,
               **x_config: Any) -> Settings:
    """Settings as `webcare serve` builds them, with integrations.x and the X variables set."""
    cfg = base_config(organisation={"name": "T", "accounts": {"x": "testbedrijf"}},
                      integrations={"webhook": {"timeout": "800ms"},
                                    "x": {"poll": "200ms", "timeout": "1s", **x_config}})
    env = {"database_url": db_url, "webcare_webhook_secret": WEBHOOK_SECRET, "slack_bot_token": BOT_TOKEN,
           "slack_api_url": slack.api_url, "slack_signing_secret": SIGNING_SECRET,
           "x_api_url": fake_x.api_url, **(X_ENV if x_env is None else x_env)}
    return Settings(config=AppConfig.model_validate(cfg), env=Env.model_validate(env))


@pytest.fixture
async def fake_x() -> AsyncIterator[FakeX]:
    async with FakeX(bearer_token=BEARER, consumer_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def x_bot(db_url: str, fake_slack: FakeSlack, fake_x: FakeX) -> AsyncIterator[StartBot]:
    """Start bots with the X plugin on the test database: `await x_bot(backfill="5s")`."""
    def settings(**x_config: Any) -> Settings:
        return x_settings(db_url=db_url, slack=fake_slack, fake_x=fake_x, **x_config)

    async with bots(settings, plugins=PLUGINS) as start:
        yield start


async def stop(bot: Bot) -> None:
    """Stop a bot in the middle of a test (stopping twice is harmless)."""
    await stop_bot(bot)


def x_cards(slack: FakeSlack) -> list[dict[str, Any]]:
    """Top-level card messages that link to a tweet."""
    return [m for m in slack.messages[CHANNEL] if not m.get("thread_ts") and "x.com/" in card_text(m)]


def card_for(slack: FakeSlack, tweet_id: str) -> dict[str, Any] | None:
    """The card of the tweet with this id, or None."""
    return next((c for c in x_cards(slack) if f"/status/{tweet_id}" in card_text(c)), None)


def cards_per_tweet(slack: FakeSlack) -> dict[str, int]:
    """How many cards link to each tweet id."""
    counts: dict[str, int] = {}
    for card in x_cards(slack):
        for tweet_id in set(re.findall(r"/status/(\d+)", card_text(card))):
            counts[tweet_id] = counts.get(tweet_id, 0) + 1
    return counts


async def reply_from_slack(bot: Bot, slack: FakeSlack, card: dict[str, Any], text: str) -> None:
    """Click Reply on the card and submit the modal, as an agent does."""
    value = card_actions(card)["case.reply"]
    views_before = set(slack.views)
    status, _ = await bot.click(slack, action_id="case.reply", value=value, message_ts=card["ts"])
    assert status == 200
    view = await slack.wait_for(lambda: next(
        v for k, v in slack.views.items() if k not in views_before and v.get("private_metadata")
        and "input" in str(v.get("blocks"))))
    status, _ = await bot.submit(callback_id="case.reply", private_metadata=view["private_metadata"],
                                 values={"reply": {"text": text}})
    assert status == 200


def answered(card: dict[str, Any]) -> bool:
    """The card shows the case answered and its reply sent (not just queued)."""
    text = card_text(card)
    return "Status: *Beantwoord*" in text and re.search(r"(?<!wordt )verstuurd", text) is not None


async def replies(bot: Bot) -> list[Reply]:
    """Every reply row, oldest first."""
    async with bot.rt.maker() as session:
        return list(await session.scalars(select(Reply).order_by(Reply.id)))


# --- inbound ---


async def test_mentions_become_cards_with_followers_and_verified(x_bot: StartBot, fake_slack: FakeSlack,
                                                                 fake_x: FakeX) -> None:
    jan = fake_x.add_mention("Waar blijft mijn pakket?", author="jan", followers=120, verified=True)
    piet = fake_x.add_mention("Top service, dank!", author="piet", followers=7)
    answer = fake_x.add_tweet(author="piet", text="@testbedrijf en nog iets", in_reply_to=piet["id"])
    fake_x.add_tweet(author="kees", text="geen vermelding van ons")
    await x_bot()

    await fake_slack.wait_for(lambda: len(x_cards(fake_slack)) == 2, what="two X cards")
    jan_card = card_text(card_for(fake_slack, jan["id"]) or {})
    assert "@jan" in jan_card and "120 volgers" in jan_card and "geverifieerd" in jan_card
    assert f"https://x.com/jan/status/{jan['id']}" in jan_card and "Waar blijft mijn pakket" in jan_card
    assert "eigen kanaal" in jan_card
    # piet's follow-up in the same conversation joined his case: one card, showing the latest message
    piet_card = card_text(card_for(fake_slack, answer["id"]) or {})
    assert "@piet" in piet_card and "7 volgers" in piet_card and "geverifieerd" not in piet_card
    assert "en nog iets" in piet_card and "2 berichten" in piet_card
    assert piet["id"] not in cards_per_tweet(fake_slack)

    first = fake_x.calls_to("users.mentions")[0]
    assert first.auth == "bearer" and first.path == f"/2/users/{fake_x.account.id}/mentions"
    assert first.query["expansions"] == "author_id" and first.query["max_results"] == "100"
    assert {"public_metrics", "verified", "username", "name"} <= set(first.query["user.fields"].split(","))
    assert {"created_at", "conversation_id", "in_reply_to_user_id", "referenced_tweets", "lang",
            "public_metrics"} <= set(first.query["tweet.fields"].split(","))
    # later polls ask only for what is newer than the newest tweet seen
    later = await fake_x.wait_for(lambda: [c for c in fake_x.calls_to("users.mentions")
                                           if c.query.get("since_id") == answer["id"]])
    assert later[0].status == 200
    assert len(fake_x.calls_to("users.by_username")) == 1  # our account id is kept in the cursor


async def test_restart_neither_loses_nor_repeats_mentions(x_bot: StartBot, fake_slack: FakeSlack,
                                                          fake_x: FakeX) -> None:
    first = [fake_x.add_mention(f"vraag {n}", author=f"klant{n}") for n in range(3)]
    bot = await x_bot()
    await fake_slack.wait_for(lambda: len(x_cards(fake_slack)) == 3, what="three cards")
    polls_before_stop = len(fake_x.calls_to("users.mentions"))
    await stop(bot)

    later = [fake_x.add_mention(f"vraag {n}", author=f"klant{n}") for n in range(3, 7)]
    await x_bot()
    await fake_slack.wait_for(lambda: len(x_cards(fake_slack)) == 7, what="seven cards")
    # a few more polls of the new bot change nothing
    await fake_x.wait_for(lambda: len(fake_x.calls_to("users.mentions")) >= polls_before_stop + 4)
    counts = cards_per_tweet(fake_slack)
    assert counts == {t["id"]: 1 for t in first + later}
    resumed = fake_x.calls_to("users.mentions")[polls_before_stop]
    assert resumed.query["since_id"] == first[-1]["id"]  # the cursor survived the restart


async def test_gap_after_downtime_longer_than_backfill(x_bot: StartBot, fake_slack: FakeSlack,
                                                       fake_x: FakeX, db_url: str) -> None:
    bot = await x_bot(backfill="30s")
    cursor = await wait_until(lambda: polled(bot), what="a complete poll")
    await stop(bot)
    # The bot was last up two minutes ago (its stored cursor says so), longer than the 30 s catch-up
    # window. Backdating the cursor instead of sleeping keeps `fresh` well inside the window however
    # slowly the next bot starts on a busy machine.
    down_since = datetime.now(UTC) - timedelta(minutes=2)
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(update(IntegrationState).where(
                IntegrationState.key == "x:mentions:testbedrijf").values(cursor={
                    **cursor, "since_id": str(snowflake_at(down_since)),
                    "polled_at": down_since.isoformat()}))
    finally:
        await engine.dispose()

    lost = fake_x.add_mention("tijdens de storing", author="bert",
                              created_at=datetime.now(UTC) - timedelta(minutes=1))
    fresh = fake_x.add_mention("na de storing", author="cor")
    await x_bot(backfill="30s")

    card = await fake_slack.wait_for(lambda: card_for(fake_slack, fresh["id"]), what="the new card")
    assert "niet opgehaald" in card_text(card) and "inhaalperiode" in card_text(card)
    assert card_for(fake_slack, lost["id"]) is None
    # the team also hears it once in the channel
    notices = await fake_slack.wait_for(lambda: [m for m in fake_slack.messages[CHANNEL]
                                                 if "niet opgehaald" in m.get("text", "")])
    assert len(notices) == 1
    # X was asked once whether anything fell between the last poll and the window
    probes = [c for c in fake_x.calls_to("users.mentions") if "until_id" in c.query]
    assert len(probes) == 1


async def polled(bot: Bot) -> dict[str, Any] | None:
    """The X poller's cursor once a poll has completed."""
    async with bot.rt.maker() as session:
        cursor = await session.scalar(select(IntegrationState.cursor).where(
            IntegrationState.key == "x:mentions:testbedrijf"))
    return cursor if cursor and cursor.get("polled_at") else None


async def test_poller_waits_for_the_rate_limit_reset(x_bot: StartBot, fake_slack: FakeSlack,
                                                     fake_x: FakeX) -> None:
    fake_x.add_mention("eerste", author="anna")
    await x_bot()
    await fake_slack.wait_for(lambda: len(x_cards(fake_slack)) == 1)
    calls = fake_x.calls_to("users.mentions")
    await fake_x.wait_for(lambda: len(fake_x.calls_to("users.mentions")) >= len(calls) + 2)

    # the last request of the window: the poller uses it, then waits for the reset instead of a 429
    fake_x.set_rate("users.mentions", remaining=1, reset_in=1.2)
    set_at = time.monotonic()  # the fake's clock for calls
    mark = len(fake_x.calls_to("users.mentions"))
    await fake_x.wait_for(lambda: len(fake_x.calls_to("users.mentions")) >= mark + 2, timeout=15)
    last, after = fake_x.calls_to("users.mentions")[mark:mark + 2]
    assert last.status == 200 and after.status == 200
    assert after.at - set_at >= 1.15  # not before the window's reset (however late the last call came)
    assert not fake_x.calls_to("users.mentions", status=429)

    # a 429 (another app on the same quota): no crash, the next call waits for x-rate-limit-reset
    fake_x.set_rate("users.mentions", reset_in=1.2, force_429=1)
    set_at = time.monotonic()
    refused = (await fake_x.wait_for(lambda: fake_x.calls_to("users.mentions", status=429)))[0]
    fake_x.add_mention("tweede", author="bert")
    await fake_slack.wait_for(lambda: len(x_cards(fake_slack)) == 2, timeout=15)
    following = [c for c in fake_x.calls_to("users.mentions") if c.at > refused.at]
    assert following[0].at - set_at >= 1.15  # not before x-rate-limit-reset
    assert len(fake_x.calls_to("users.mentions", status=429)) == 1
    assert not [m for m in fake_slack.messages[CHANNEL] if "werkt niet" in m.get("text", "")]


# --- outbound ---


async def test_reply_from_slack_goes_out_on_x(x_bot: StartBot, fake_slack: FakeSlack,
                                              fake_x: FakeX) -> None:
    mention = fake_x.add_mention("Mijn pakket is kwijt", author="jan")
    bot = await x_bot()
    card = await fake_slack.wait_for(lambda: card_for(fake_slack, mention["id"]))

    await reply_from_slack(bot, fake_slack, card, "Wat vervelend! Stuur je ons je ordernummer via DM?")
    posted = await fake_x.wait_for(lambda: fake_x.calls_to("tweets.create", status=201))
    assert posted[0].auth == "oauth1"
    assert posted[0].json == {"text": "Wat vervelend! Stuur je ons je ordernummer via DM?",
                              "reply": {"in_reply_to_tweet_id": mention["id"]}}
    await fake_slack.wait_for(lambda: answered(card))
    [ours] = fake_x.replies_to(mention["id"])
    [row] = await replies(bot)
    assert row.status == "sent" and row.external_id == ours["id"]
    assert ours["author_id"] == fake_x.account.id


async def test_reply_quota_makes_the_next_reply_wait(x_bot: StartBot, fake_slack: FakeSlack,
                                                     fake_x: FakeX) -> None:
    one = fake_x.add_mention("vraag een", author="anna")
    two = fake_x.add_mention("vraag twee", author="bert")
    bot = await x_bot(reply_quota=1, quota_window="6s")  # wide enough for a slow machine
    await fake_slack.wait_for(lambda: len(x_cards(fake_slack)) == 2)

    await reply_from_slack(bot, fake_slack, card_for(fake_slack, one["id"]) or {}, "Antwoord een")
    await fake_x.wait_for(lambda: fake_x.calls_to("tweets.create", status=201))
    await reply_from_slack(bot, fake_slack, card_for(fake_slack, two["id"]) or {}, "Antwoord twee")

    async def waiting() -> OutboxItem | None:
        async with bot.rt.maker() as session:
            return (await session.scalars(select(OutboxItem).where(
                OutboxItem.kind == "reply.send", OutboxItem.last_error.like("rate limited%")))).first()

    row = await wait_until(waiting, what="the second reply held by the quota")
    assert row.status == "pending"
    assert 0.5 < (row.not_before - datetime.now(UTC)).total_seconds() < 6.5  # when the slot frees
    assert len(fake_x.calls_to("tweets.create")) == 1  # held before calling X
    # the card says the reply waits for X's limit, and when it will go
    await fake_slack.wait_for(lambda: "wacht op de limiet" in card_text(card_for(fake_slack, two["id"]) or {}),
                              timeout=5)

    sent = await fake_x.wait_for(lambda: fake_x.calls_to("tweets.create", status=201)[1:], timeout=15)
    assert sent[0].json["text"] == "Antwoord twee"
    first_at = fake_x.calls_to("tweets.create")[0].at
    assert sent[0].at - first_at >= 5.9  # the quota window (6 s) after the first reply
    await wait_until(lambda: _all_sent(bot), what="both replies marked sent")


async def _all_sent(bot: Bot) -> bool:
    rows = await replies(bot)
    return len(rows) == 2 and all(r.status == "sent" for r in rows)


async def test_duplicate_text_403_finds_the_reply_already_posted(x_bot: StartBot, fake_slack: FakeSlack,
                                                                 fake_x: FakeX) -> None:
    mention = fake_x.add_mention("Waar is mijn bestelling?", author="jan")
    other = fake_x.add_mention("En de mijne?", author="piet")
    text = "Hoi Jan, we kijken het na en komen erop terug."
    # our reply went out before a crash, but its outcome was never recorded
    already = fake_x.add_tweet(author="testbedrijf", text=text, in_reply_to=mention["id"])
    bot = await x_bot()
    card = await fake_slack.wait_for(lambda: card_for(fake_slack, mention["id"]))

    await reply_from_slack(bot, fake_slack, card, text)
    await fake_slack.wait_for(lambda: answered(card))
    assert [c.status for c in fake_x.calls_to("tweets.create")] == [403]
    lookup = fake_x.calls_to("users.tweets")[0]
    assert lookup.path == f"/2/users/{fake_x.account.id}/tweets"
    assert "referenced_tweets" in lookup.query["tweet.fields"]
    assert fake_x.replies_to(mention["id"]) == [already]
    [row] = await replies(bot)
    assert row.status == "sent" and row.external_id == already["id"]

    # the same text to someone else is refused by X for real: the card says it was not sent
    other_card = await fake_slack.wait_for(lambda: card_for(fake_slack, other["id"]))
    await reply_from_slack(bot, fake_slack, other_card, text)
    await fake_slack.wait_for(lambda: "niet verstuurd" in card_text(other_card))
    rows = await replies(bot)
    assert rows[1].status == "failed" and "duplicate" in (rows[1].error or "")
    assert fake_x.replies_to(other["id"]) == []


async def test_like_from_slack(x_bot: StartBot, fake_slack: FakeSlack, fake_x: FakeX) -> None:
    mention = fake_x.add_mention("Jullie zijn top!", author="fan")
    bot = await x_bot()
    card = await fake_slack.wait_for(lambda: card_for(fake_slack, mention["id"]))
    assert "case.like" in card_actions(card)
    status, _ = await bot.click(fake_slack, action_id="case.like", value=card_actions(card)["case.like"],
                                message_ts=card["ts"])
    assert status == 200
    await fake_x.wait_for(lambda: fake_x.likes == [(fake_x.account.id, mention["id"])])
    like = fake_x.calls_to("users.likes")[0]
    assert like.auth == "oauth1" and like.json == {"tweet_id": mention["id"]}


# --- configuration ---


async def test_without_credentials_nothing_is_installed(db_url: str, fake_slack: FakeSlack, fake_x: FakeX,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    fake_x.add_mention("hallo", author="jan")
    caplog.set_level(logging.WARNING, logger="integrations.x.plugin")
    bot = await start_bot(x_settings(db_url=db_url, slack=fake_slack, fake_x=fake_x, x_env={}),
                          plugins=PLUGINS)
    try:
        assert "x" not in bot.rt.reply_sinks and not bot.rt.pollers
        [warning] = [r.getMessage() for r in caplog.records if r.name == "integrations.x.plugin"]
        assert "X_BEARER_TOKEN" in warning and "X_ACCESS_SECRET" in warning
        await asyncio.sleep(0.3)
        assert not fake_x.calls
    finally:
        await stop_bot(bot)


async def test_check_reports_rejected_credentials(fake_slack: FakeSlack, fake_x: FakeX) -> None:
    db = "sqlite+aiosqlite:///:memory:"
    assert await check(x_settings(db_url=db, slack=fake_slack, fake_x=fake_x)) == []
    wrong = {**X_ENV, "x_bearer_token": "nope", "x_api_key": "other-app"}
    problems = await check(x_settings(db_url=db, slack=fake_slack, fake_x=fake_x, x_env=wrong))
    assert problems == ["x: X_API_KEY/X_API_SECRET/X_ACCESS_TOKEN/X_ACCESS_SECRET rejected (401)",
                        "x: X_BEARER_TOKEN rejected (401)"]
    missing = await check(x_settings(db_url=db, slack=fake_slack, fake_x=fake_x,
                                     x_env={"x_bearer_token": BEARER}))
    assert "x: X_ACCESS_TOKEN is not set" in missing and len(missing) == 4
    unconfigured = x_settings(db_url=db, slack=fake_slack, fake_x=fake_x)
    cfg = unconfigured.config.model_copy(update={"integrations": unconfigured.config.integrations.model_copy(
        update={"x": None})})
    assert await check(Settings(config=cfg, env=unconfigured.env)) == []


# --- the poller on its own (against FakeX): X's cap on the mentions timeline ---


@pytest.mark.parametrize("cap", [10, 800])
async def test_poller_reports_a_gap_at_the_page_limit(fake_x: FakeX, cap: int) -> None:
    fake_x.timeline_cap = cap
    old = fake_x.add_mention("van voor de stilte", author="anna")
    burst = [fake_x.add_mention(f"drukte {n}", author=f"k{n}") for n in range(12)]
    client = XClient(base_url=fake_x.api_url, bearer_token=BEARER)
    await client.open()
    try:
        poller = XMentionsPoller(client=client, handle="testbedrijf", interval=timedelta(seconds=1),
                                 backfill=timedelta(days=7), t=Translator("en"), page_size=5, max_pages=2)
        result = await poller.poll({"user_id": fake_x.account.id, "since_id": old["id"]})
    finally:
        await client.close()
    assert [m.id for m in result.mentions] == [t["id"] for t in burst[2:]]  # the newest 10, oldest first
    assert result.gap is not None and "may be missing" in result.gap and "at most 10" in result.gap
    assert result.cursor["user_id"] == fake_x.account.id and result.cursor["since_id"] == burst[-1]["id"]
    assert len(fake_x.calls_to("users.mentions")) == 2


def test_tweet_maps_to_the_mention_schema() -> None:
    tweet = {"id": "1578522401263919106", "text": "@TestBedrijf waarom?", "author_id": "42",
             "created_at": "2022-10-07T23:07:22.000Z", "conversation_id": "1578522395434192896",
             "in_reply_to_user_id": "7", "lang": "und",
             "referenced_tweets": [{"type": "quoted", "id": "1"},
                                   {"type": "replied_to", "id": "1578522395434192896"}],
             "edit_history_tweet_ids": ["1578522401263919106"]}
    user = {"id": "42", "username": "GerardDalbon", "name": "Gerard", "verified": False,
            "public_metrics": {"followers_count": 311}}
    m = to_mention(tweet, user, account="testbedrijf")
    assert (m.source, m.id, m.thread_id, m.in_reply_to, m.venue) == (
        "x", "1578522401263919106", "1578522395434192896", "1578522395434192896", "own")
    assert m.url == "https://x.com/GerardDalbon/status/1578522401263919106"
    assert (m.author.id, m.author.handle, m.author.followers, m.author.verified) == ("42", "GerardDalbon", 311,
                                                                                      False)
    assert m.lang is None and m.account == "testbedrijf"
    assert m.created_at == datetime(2022, 10, 7, 23, 7, 22, tzinfo=UTC)
    # X ids are snowflakes: the recorded tweet's id encodes its created_at
    assert abs((snowflake_time(m.id) - m.created_at).total_seconds()) < 1
    assert snowflake_time(snowflake_at(m.created_at)) == m.created_at


async def test_poller_skips_retweets_and_our_own_tweets(fake_x: FakeX) -> None:
    question = fake_x.add_mention("Hoe laat gaan jullie open?", author="jan")
    fake_x.add_retweet(author="fan", of=question["id"])
    fake_x.add_tweet(author="testbedrijf", text="Goedemorgen @testbedrijf-volgers!")
    client = XClient(base_url=fake_x.api_url, bearer_token=BEARER)
    await client.open()
    try:
        poller = XMentionsPoller(client=client, handle="@TestBedrijf", interval=timedelta(seconds=1),
                                 backfill=timedelta(days=7), t=Translator("nl"))
        result = await poller.poll({})
    finally:
        await client.close()
    assert [m.id for m in result.mentions] == [question["id"]]
    assert result.gap is None and result.next_in is None
    assert poller.key == "x:mentions:testbedrijf"


async def test_sink_maps_x_failures(fake_x: FakeX) -> None:
    mention = fake_x.add_mention("Kunnen jullie bellen?", author="jan")
    client = XClient(base_url=fake_x.api_url, timeout=0.3, consumer_key=API_KEY, consumer_secret=API_SECRET,
                     access_token=ACCESS_TOKEN, access_token_secret=ACCESS_SECRET)
    sink = XReplySink(client=client, quota=5, window=timedelta(minutes=15))
    reply = OutboundReply(case_ref="c1", source="x", mention_id=mention["id"], thread_id=mention["id"],
                          text="We bellen je vandaag nog.", agent="U0AGENT1", idempotency_key="k1",
                          account="testbedrijf")
    await client.open()
    try:
        fake_x.set_daily(remaining=0, reset_in=3600)  # the app's 24-hour posting window is used up
        with pytest.raises(RateLimited) as limited:
            await sink.send_reply(reply)
        assert 3500 < limited.value.retry_after <= 3601
        fake_x.set_daily(remaining=100, reset_in=3600)

        fake_x.down = True
        with pytest.raises(TransientError):
            await sink.send_reply(reply)
        fake_x.down = False

        fake_x.response_delay = 0.5  # X creates the tweet, but its answer comes too late
        with pytest.raises(UnknownOutcome):
            await sink.send_reply(reply)
        fake_x.response_delay = 0.0
        await fake_x.wait_for(lambda: fake_x.replies_to(mention["id"]))
        # the outbox tries again: X says duplicate, and the sink finds the reply that went out
        [posted] = fake_x.replies_to(mention["id"])
        assert await sink.send_reply(reply) == posted["id"]
        assert len(fake_x.replies_to(mention["id"])) == 1
        # failures that certainly sent nothing gave their quota slot back; the unknown one kept it
        assert len(sink._sent[fake_x.account.id]) == 1

        wrong = XClient(base_url=fake_x.api_url, consumer_key="other", consumer_secret=API_SECRET,
                        access_token=ACCESS_TOKEN, access_token_secret=ACCESS_SECRET)
        await wrong.open()
        try:
            with pytest.raises(XUnauthorized):
                await XReplySink(client=wrong, quota=5, window=timedelta(minutes=1)).send_reply(reply)
        finally:
            await wrong.close()
    finally:
        await client.close()


async def test_quiet_account_after_long_downtime_raises_no_gap(fake_x: FakeX) -> None:
    client = XClient(base_url=fake_x.api_url, bearer_token=BEARER)
    poller = XMentionsPoller(client=client, handle="testbedrijf", interval=timedelta(seconds=1),
                             backfill=timedelta(hours=1), t=Translator("en"))
    away_since = datetime.now(UTC) - timedelta(hours=5)
    cursor = {"user_id": fake_x.account.id, "since_id": str(snowflake_at(away_since)),
              "polled_at": away_since.isoformat()}
    await client.open()
    try:
        first = await poller.poll(cursor)
        second = await poller.poll(first.cursor)
    finally:
        await client.close()
    assert first.gap is None and second.gap is None and not first.mentions
    probes = [c for c in fake_x.calls_to("users.mentions") if "until_id" in c.query]
    assert len(probes) == 1  # asked once after the downtime, not on every poll of a quiet account


async def test_first_poll_looks_back_one_day_only(fake_x: FakeX) -> None:
    old = fake_x.add_mention("Vorige week al gevraagd", author="oud",
                             created_at=datetime.now(UTC) - timedelta(days=3))
    recent = fake_x.add_mention("Vandaag gevraagd", author="nieuw",
                                created_at=datetime.now(UTC) - timedelta(hours=2))
    client = XClient(base_url=fake_x.api_url, bearer_token=BEARER)
    await client.open()
    try:
        poller = XMentionsPoller(client=client, handle="testbedrijf", interval=timedelta(seconds=1),
                                 backfill=timedelta(days=7), t=Translator("nl"))
        result = await poller.poll({})
    finally:
        await client.close()
    ids = [m.id for m in result.mentions]
    assert ids == [recent["id"]] and old["id"] not in ids  # connecting X does not flood the channel
