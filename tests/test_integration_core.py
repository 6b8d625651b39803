"""What every network integration relies on: polling with cursors, gaps and failure notices,
edits and deletions, likes, hiding, and the reply window — through the real app and fake Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.models import IntegrationState, Mention
from bot.ports import MentionChange, PollResult, TransientError
from bot.schemas import MentionIn
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, card_actions, card_text, mention, settle
from tests.stub_network import POLLER, SINK

PLUGINS = ["integrations.webhook.plugin", "handlers.slack.plugin", "tests.stub_network"]


def stub(n: int, minutes_ago: float = 1, **fields: object) -> dict:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return mention(n, source="stub", created_at=at.isoformat(), **fields)


async def start(bot_factory, fake_slack: FakeSlack):  # type: ignore[no-untyped-def]
    return await bot_factory(slack=fake_slack, plugins=PLUGINS)


async def test_polled_mentions_arrive_once_and_the_cursor_survives(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    poller = bot.app[POLLER]
    poller.script = [PollResult(mentions=[MentionIn.model_validate(stub(1))], cursor={"since": "1"}),
                     PollResult(mentions=[MentionIn.model_validate(stub(1))], cursor={"since": "1"})]
    await fake_slack.wait_for(lambda: len(poller.cursors) >= 3)
    await settle(bot)
    assert poller.cursors[:3] == [{}, {"since": "1"}, {"since": "1"}]
    assert len([m for m in fake_slack.messages[CHANNEL] if "klant1" in card_text(m)]) == 1
    async with bot.rt.maker() as session:
        state = await session.get(IntegrationState, "stub:poller")
    assert state is not None and state.cursor == {"since": "1"} and state.lease_until is None


async def test_a_failing_source_is_reported_once_then_its_recovery(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    poller = bot.app[POLLER]
    poller.script = [TransientError("answered 503"), TransientError("answered 503"),
                     TransientError("answered 503"), PollResult(cursor={"ok": True})]
    await fake_slack.wait_for(
        lambda: any("werkt weer" in m["text"] for m in fake_slack.messages[CHANNEL]), timeout=15)
    failing = [m for m in fake_slack.messages[CHANNEL] if "werkt niet" in m["text"]]
    assert len(failing) == 1 and "answered 503" in failing[0]["text"]


async def test_a_gap_is_shown_on_the_new_cards(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    bot.app[POLLER].script = [PollResult(mentions=[MentionIn.model_validate(stub(1))],
                                         gap="berichten van 09:00 tot 11:00 konden niet worden opgehaald")]
    card = await fake_slack.wait_for(lambda: next(
        m for m in fake_slack.messages[CHANNEL] if "klant1" in card_text(m)))
    assert "konden niet worden opgehaald" in card_text(card)
    await fake_slack.wait_for(lambda: any(
        m["text"].startswith(":information_source:") for m in fake_slack.messages[CHANNEL]))


async def test_edits_and_deletions_update_the_card(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    await bot.post_mentions([stub(1), stub(2)])
    await settle(bot)
    poller = bot.app[POLLER]
    poller.script = [PollResult(changes=[
        MentionChange(source="stub", mention_id="m1", text="Waar blijft mijn pakket?! Al 3 dagen"),
        MentionChange(source="stub", mention_id="m2", deleted=True),
        MentionChange(source="stub", mention_id="unknown", deleted=True)])]
    first, second = fake_slack.messages[CHANNEL][:2]
    await fake_slack.wait_for(lambda: "Al 3 dagen" in card_text(first) and "bewerkt" in card_text(first))
    await fake_slack.wait_for(lambda: "verwijderd door de schrijver" in card_text(second))
    assert "Waar blijft" not in card_text(second)  # text dropped (no evidence hold)
    async with bot.rt.maker() as session:
        gone = await session.scalar(select(Mention).where(Mention.external_id == "m2"))
    assert gone is not None and gone.text == "" and gone.deleted_at is not None


async def test_like_and_hide_from_the_card(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    sink = bot.app[SINK]
    await bot.post_mentions(stub(1))
    await settle(bot)
    card = fake_slack.messages[CHANNEL][0]
    actions = card_actions(card)
    assert {"case.like", "case.hide", "case.reply"} <= set(actions)
    await bot.click(fake_slack, action_id="case.like", value=actions["case.like"])
    await bot.click(fake_slack, action_id="case.like", value=actions["case.like"])  # twice: once
    await bot.click(fake_slack, action_id="case.hide", value=actions["case.hide"])
    await fake_slack.wait_for(lambda: "case.unhide" in card_actions(card) and "geliket" in card_text(card))
    await fake_slack.wait_for(lambda: sink.likes and sink.hides)  # the network calls follow the card
    assert [t.mention_id for t in sink.likes] == ["m1"]
    assert [(t.mention_id, h) for t, h in sink.hides] == [("m1", True)]
    assert "case.like" not in card_actions(card)
    await bot.click(fake_slack, action_id="case.unhide", value=actions["case.hide"])
    await fake_slack.wait_for(lambda: "case.hide" in card_actions(card) and len(sink.hides) == 2)
    assert sink.hides[-1][1] is False


async def test_a_failed_like_is_undone_and_said(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    bot.app[SINK].fail_likes = True
    await bot.post_mentions(stub(1))
    await settle(bot)
    card = fake_slack.messages[CHANNEL][0]
    await bot.click(fake_slack, action_id="case.like", value=card_actions(card)["case.like"])
    note = await fake_slack.wait_for(lambda: next(
        m for m in fake_slack.messages[CHANNEL] if "Liken lukte niet" in m.get("text", "")))
    assert "switched off" in note["text"]
    await fake_slack.wait_for(lambda: "case.like" in card_actions(card))


async def test_reply_window(bot_factory, fake_slack) -> None:
    bot = await start(bot_factory, fake_slack)
    await bot.post_mentions([stub(1, minutes_ago=10), stub(2, minutes_ago=90)])
    await settle(bot)
    fresh = next(m for m in fake_slack.messages[CHANNEL] if "klant1" in card_text(m))
    stale = next(m for m in fake_slack.messages[CHANNEL] if "klant2" in card_text(m))
    assert "Antwoorden kan tot" in card_text(fresh) and "case.reply" in card_actions(fresh)
    assert "Antwoordvenster gesloten" in card_text(stale) and "case.reply" not in card_actions(stale)
    status, body = await bot.submit(callback_id="case.reply",
                                    private_metadata=card_actions(stale)["case.ignore"],
                                    values={"reply": {"text": "Sorry voor het late antwoord"}})
    assert "24 uur" in body and bot.app[SINK].replies == []
    await bot.submit(callback_id="case.reply", private_metadata=card_actions(fresh)["case.reply"],
                     values={"reply": {"text": "We kijken ernaar!"}})
    await fake_slack.wait_for(lambda: bot.app[SINK].replies)
    sent = bot.app[SINK].replies[0]
    assert sent.mention_id == "m1" and sent.author_id == "a1" and sent.text == "We kijken ernaar!"
