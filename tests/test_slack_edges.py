"""Slack boundary cases: signatures, stale requests, retries, bad references, refusals, ignore."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from bot.models import CaseEvent
from bot.services.cases import ref_value
from tests.fakes.slack_api import FakeSlack, block_action_body, form_encode_payload
from tests.harness import CHANNEL, Bot, card_actions, card_text, mention, settle


async def posted_card(bot: Bot, fake: FakeSlack, n: int = 1) -> dict:
    await bot.post_mentions(mention(n))
    await settle(bot)  # the card is posted and its ts stored
    return fake.messages[CHANNEL][0]


async def test_bad_signature_is_refused(bot: Bot, fake_slack: FakeSlack) -> None:
    body = form_encode_payload(block_action_body(
        action_id="case.claim", value=ref_value("abcdefghij"), user_id="U0AGENT1",
        channel_id=CHANNEL, message_ts="1.1", trigger_id="t"))
    status, _ = await bot.slack(body, content_type="application/x-www-form-urlencoded",
                                secret="wrong-secret")
    assert status == 401
    assert not fake_slack.calls_to("chat.postEphemeral")


async def test_expired_timestamp_is_refused(bot: Bot, fake_slack: FakeSlack) -> None:
    card = await posted_card(bot, fake_slack)
    value = card_actions(card)["case.claim"]
    status, _ = await bot.click(fake_slack, action_id="case.claim", value=value,
                                timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    await bot.click(fake_slack, action_id="case.reply", value=value)  # a fresh one still works
    await fake_slack.wait_for(lambda: fake_slack.calls_to("views.open"))
    assert "Eigenaar" not in card_text(card)


async def test_unknown_case_in_button_value_gets_an_ephemeral(bot: Bot, fake_slack: FakeSlack) -> None:
    await posted_card(bot, fake_slack)
    status, _ = await bot.click(fake_slack, action_id="case.claim", value=ref_value("doesnotexist"))
    assert status == 200
    eph = await fake_slack.wait_for(lambda: fake_slack.ephemerals[0])
    assert eph["user"] == "U0AGENT1" and "bestaat niet" in eph["text"]
    status, _ = await bot.click(fake_slack, action_id="case.claim", value="1-2-3")  # not our format
    assert status == 200
    eph = await fake_slack.wait_for(lambda: fake_slack.ephemerals[1])
    assert "onbekende melding" in eph["text"]


async def test_reply_to_unknown_case_shows_why_in_the_modal(bot: Bot, fake_slack: FakeSlack) -> None:
    await bot.click(fake_slack, action_id="case.reply", value=ref_value("doesnotexist"))
    await fake_slack.wait_for(lambda: fake_slack.calls_to("views.update"))
    view = next(iter(fake_slack.views.values()))
    assert "bestaat niet" in json.dumps(view) and not view.get("submit")


async def test_claimed_by_someone_else_is_refused(bot: Bot, fake_slack: FakeSlack) -> None:
    card = await posted_card(bot, fake_slack)
    value = card_actions(card)["case.claim"]
    await bot.click(fake_slack, action_id="case.claim", value=value, user="U0AGENT1")
    await fake_slack.wait_for(lambda: "U0AGENT1" in card_text(card))
    await bot.click(fake_slack, action_id="case.claim", value=value, user="U0AGENT2")
    eph = await fake_slack.wait_for(lambda: fake_slack.ephemerals[0])
    assert eph["user"] == "U0AGENT2" and "<@U0AGENT1>" in eph["text"]
    async with bot.rt.maker() as session:
        claims = await session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "claim"))
    assert claims == 1


async def test_empty_reply_is_refused_in_the_modal(bot: Bot, fake_slack: FakeSlack) -> None:
    card = await posted_card(bot, fake_slack)
    value = card_actions(card)["case.reply"]
    status, body = await bot.submit(callback_id="case.reply", private_metadata=value,
                                    values={"reply": {"text": "   "}})
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors" and "reply" in answer["errors"]


async def test_ignore_asks_a_reason_and_shows_it(bot: Bot, fake_slack: FakeSlack) -> None:
    card = await posted_card(bot, fake_slack)
    value = card_actions(card)["case.ignore"]
    await bot.click(fake_slack, action_id="case.ignore", value=value)
    view = await fake_slack.wait_for(lambda: next(iter(fake_slack.views.values())))
    assert view["callback_id"] == "case.ignore"
    values = {"reason": {"choice": {"type": "static_select",
                                    "selected_option": {"value": "spam"}}},
              "note": {"text": {"type": "plain_text_input", "value": "reclamebot"}}}
    status, body = await bot.submit(callback_id="case.ignore",
                                    private_metadata=view["private_metadata"], values=values)
    assert status == 200 and body in ("", "{}")
    await fake_slack.wait_for(lambda: "Genegeerd" in card_text(card))
    assert "Spam of reclame" in card_text(card) and "reclamebot" in card_text(card)
    assert "case.ignore" not in card_actions(card) and "case.claim" not in card_actions(card)
    async with bot.rt.maker() as session:
        event = await session.scalar(select(CaseEvent).where(CaseEvent.action == "ignore"))
    assert event is not None and event.actor == "U0AGENT1" and event.detail["reason"] == "spam"


async def test_thread_comments_are_kept_once_despite_slack_retries(
        bot: Bot, fake_slack: FakeSlack) -> None:
    card = await posted_card(bot, fake_slack)
    event = {"type": "message", "channel": CHANNEL, "user": "U0AGENT1", "text": "Bel ik hem even",
             "ts": "1800000000.000200", "thread_ts": card["ts"]}
    assert (await bot.event(event, event_id="Ev001"))[0] == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await bot.event(event, event_id="Ev001", headers=retry))[0] == 200
    assert (await bot.event({**event, "ts": "1800000000.000300", "text": "Gedaan"},
                            event_id="Ev002"))[0] == 200

    async def comments() -> list[str]:
        async with bot.rt.maker() as session:
            rows = await session.scalars(select(CaseEvent).where(CaseEvent.action == "comment")
                                         .order_by(CaseEvent.id))
            return [r.detail["text"] for r in rows]

    deadline = time.monotonic() + 5
    while len(await comments()) < 2 and time.monotonic() < deadline:
        await fake_slack.wait_for(lambda: True)
    assert await comments() == ["Bel ik hem even", "Gedaan"]


async def test_url_verification_challenge(bot: Bot) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    status, text = await bot.slack(body, content_type="application/json")
    assert status == 200 and "abc123" in text


async def test_card_without_reply_channel_offers_no_reply(bot_factory, fake_slack: FakeSlack) -> None:
    bot = await bot_factory(slack=fake_slack)  # no reply_url configured
    card = await posted_card(bot, fake_slack)
    assert "case.reply" not in card_actions(card)
    assert "Geen antwoordkanaal" in card_text(card)
    # a stale modal submitted anyway is refused in the modal, and nothing is queued
    status, body = await bot.submit(callback_id="case.reply",
                                    private_metadata=card_actions(card)["case.claim"],
                                    values={"reply": {"text": "hallo"}})
    answer = json.loads(body)
    assert status == 200 and answer["response_action"] == "errors"
    assert "geen antwoordkanaal" in answer["errors"]["reply"]
