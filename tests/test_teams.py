"""Teams end to end: mentions → Adaptive Cards in a Teams channel → clicks → replies, through real HTTP.

The bot runs with `chat: teams` against a fake Bot Framework on loopback (token endpoint, OpenID
metadata and signing keys, Bot Connector API); every activity it receives is signed the way the Bot
Framework signs it. Nothing of ours is patched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.models import Case, CaseEvent, Reply
from bot.settings import AppConfig, Env, Settings
from tests.fakes.bot_framework import FakeBotFramework, Post
from tests.fakes.reply_receiver import ReplyReceiver
from tests.harness import WEBHOOK_SECRET, Bot, base_config, mention, start_bot, stop_bot, wait_until

AGENT = "6b703ce3-6d14-4fe6-b90c-dc5f03657ae4"
AGENT_2 = "0c0ffee0-1234-4abc-8def-0123456789ab"
OUTSIDER = "deadbeef-0000-4000-8000-000000000000"
SPOKES = "5b0c0e9a-7f3e-4b1e-9d6a-2f8e2b0c1d3e"
PLUGINS = ["integrations.webhook.plugin", "handlers.slack.plugin", "handlers.teams.plugin"]
StartBot = Callable[..., Awaitable[Bot]]


def person(aad: str, name: str = "Anna de Vries") -> dict[str, Any]:
    """The `from` of an activity sent by a person in Teams."""
    return {"id": f"29:{aad[:8]}", "name": name, "aadObjectId": aad}


@pytest.fixture
async def teams() -> AsyncIterator[FakeBotFramework]:
    async with FakeBotFramework() as fake:
        yield fake


@pytest.fixture
async def receiver() -> AsyncIterator[ReplyReceiver]:
    r = ReplyReceiver(WEBHOOK_SECRET)
    await r.start()
    yield r
    await r.stop()


def teams_settings(*, db_url: str, fake: FakeBotFramework, reply_url: str, **overrides: Any) -> Settings:
    """Settings as `webcare serve` builds them for a team that works in Teams."""
    cfg = base_config(chat="teams", teams={"channel": fake.channel_id, "service_url": fake.service_url,
                                           "post_interval": "100ms", "update_interval": "50ms"},
                      roles={"teams": {"agents": [AGENT, AGENT_2], "spokespersons": [SPOKES]}},
                      integrations={"webhook": {"reply_url": reply_url}}, **overrides)
    env = {"database_url": db_url, "webcare_webhook_secret": WEBHOOK_SECRET,
           "microsoft_app_id": fake.app_id, "microsoft_app_password": fake.app_password,
           "microsoft_app_tenant_id": fake.tenant_id, "microsoft_login_url": fake.login_url,
           "bot_openid_metadata_url": fake.openid_url}
    return Settings(config=AppConfig.model_validate(cfg), env=Env.model_validate(env))


@pytest.fixture
async def teams_bot(db_url: str, teams: FakeBotFramework, receiver: ReplyReceiver) -> AsyncIterator[StartBot]:
    running: list[Bot] = []

    async def start(**overrides: Any) -> Bot:
        bot = await start_bot(teams_settings(db_url=db_url, fake=teams, reply_url=receiver.url, **overrides),
                              plugins=PLUGINS)
        running.append(bot)
        return bot

    yield start
    for bot in reversed(running):
        await stop_bot(bot)


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def card_of(post: Post) -> dict[str, Any]:
    """The Adaptive Card a post carries."""
    return post.activity["attachments"][0]["content"]


def buttons(post: Post) -> dict[str, str]:
    """action id → value of every Action.Submit on a posted card (ShowCard forms included)."""
    return {n["data"]["action"]: n["data"]["value"] for n in walk(card_of(post))
            if n.get("type") == "Action.Submit" and isinstance(n.get("data"), dict)}


def text_of(post: Post) -> str:
    return json.dumps(card_of(post), ensure_ascii=False)


def cards(fake: FakeBotFramework) -> list[Post]:
    return [p for p in fake.threads.get(fake.channel_id, []) if p.activity.get("attachments")]


async def click(fake: FakeBotFramework, bot: Bot, post: Post, action: str, *, user: str = AGENT,
                **inputs: Any) -> int:
    """Press a button on a posted card (with the card's inputs filled in) as `user`."""
    value = {"action": action, "value": buttons(post)[action], **inputs}
    activity = fake.card_submit(value, reply_to_id=post.id, conversation_id=post.conversation_id,
                                user=person(user))
    return (await fake.deliver(bot.url("/api/messages"), activity)).status


async def test_mention_card_claim_and_reply_in_teams(teams_bot: StartBot, teams: FakeBotFramework,
                                                     receiver: ReplyReceiver) -> None:
    bot = await teams_bot()
    status, _ = await bot.post_mentions([mention(1)])
    assert status == 202
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert "klant1" in text_of(card) and "Waar blijft mijn pakket? (1)" in text_of(card)
    assert {"case.claim", "case.reply", "case.ignore"} <= set(buttons(card))

    assert await click(teams, bot, card, "case.claim") == 200
    # the card names its owner (Teams told us the name with the click; roles list Entra ids)
    await teams.wait_for(lambda: card.history and "Anna de Vries" in text_of(card), what="the card's owner")
    assert AGENT not in text_of(card)

    assert await click(teams, bot, card, "case.reply", text="Uw pakket komt morgen.") == 200
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == "Uw pakket komt morgen." and delivered[0]["agent"] == AGENT
    # the card's thread keeps the history: the reply that went out
    await teams.wait_for(lambda: any("Uw pakket komt morgen." in json.dumps(r.activity, ensure_ascii=False)
                                     for r in card.replies), what="the reply in the card's thread")


async def test_redelivered_click_changes_nothing(teams_bot: StartBot, teams: FakeBotFramework,
                                                 receiver: ReplyReceiver) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(2)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    value = {"action": "case.reply", "value": buttons(card)["case.reply"], "text": "Eén keer."}
    activity = teams.card_submit(value, reply_to_id=card.id, conversation_id=card.conversation_id,
                                 user=person(AGENT))
    for _ in range(3):  # Teams retries an activity it got no answer to in time
        assert (await teams.deliver(bot.url("/api/messages"), activity)).status == 200
    await receiver.wait_for(lambda: receiver.delivered)
    async with bot.rt.maker() as session:
        replies = (await session.scalars(select(Reply.text))).all()
    assert replies == ["Eén keer."]
    assert len(receiver.delivered) == 1


async def test_outsider_is_refused_and_audited(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(3)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert await click(teams, bot, card, "case.claim", user=OUTSIDER) == 200
    # told in the card's thread why, and the refusal is in the audit trail
    await teams.wait_for(lambda: card.replies, what="the refusal in the thread")
    assert "text" in card.replies[-1].activity
    async with bot.rt.maker() as session:
        refusals = (await session.scalars(select(CaseEvent).where(CaseEvent.actor == OUTSIDER))).all()
    assert refusals
    async with bot.rt.maker() as session:
        assert (await session.scalar(select(Case.owner))) is None


async def test_unsigned_or_forged_activities_are_refused(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    activity = teams.channel_message("hallo", user=person(AGENT))
    assert (await teams.deliver(bot.url("/api/messages"), activity, auth=None)).status == 401
    assert (await teams.deliver(bot.url("/api/messages"), activity, aud="someone-else")).status == 401
    assert (await teams.deliver(bot.url("/api/messages"), activity,
                                serviceurl="https://evil.example/")).status == 401
    added = await teams.deliver(bot.url("/api/messages"), teams.bot_added())
    assert added.status == 200


async def test_message_in_card_thread_is_history(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(4)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    activity = teams.channel_message("Ik bel de klant even.", user=person(AGENT))
    activity["conversation"]["id"] = card.conversation_id
    assert (await teams.deliver(bot.url("/api/messages"), activity)).status == 200

    async def recorded() -> list[CaseEvent]:
        async with bot.rt.maker() as session:
            return list((await session.scalars(select(CaseEvent).where(CaseEvent.actor == AGENT))).all())

    events = await wait_until(recorded, what="the thread message in the case's history")
    assert events
