"""The core loop through real HTTP at every boundary: webhook in, card in Slack, claim, reply, out."""

from __future__ import annotations

import json

from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, Bot, card_actions, card_text, mention


async def test_mention_to_card_to_claim_to_reply(bot: Bot, fake_slack: FakeSlack,
                                                 receiver: ReplyReceiver) -> None:
    status, body = await bot.post_mentions(mention(1, text="Waar blijft mijn pakket <@channel>?"))
    assert status == 202 and body == {"accepted": 1, "duplicates": 0, "rejected": []}

    card = await fake_slack.wait_for(lambda: fake_slack.messages[CHANNEL][0])
    text = card_text(card)
    assert "@klant1" in text and "120 volgers" in text and "eigen kanaal" in text
    assert "&lt;@channel&gt;" in text  # user text is escaped: no pings from customers
    assert "https://example.org/p/1" in text and "Nieuw" in text
    actions = card_actions(card)
    assert set(actions) == {"case.claim", "case.reply", "case.promise", "case.ask_expert", "case.snooze",
                            "case.ignore"}
    value = actions["case.claim"]

    # Claim
    status, _ = await bot.click(fake_slack, action_id="case.claim", value=value,
                                message_ts=card["ts"])
    assert status == 200
    await fake_slack.wait_for(lambda: "Eigenaar: <@U0AGENT1>" in card_text(card))
    assert card["ts"] == fake_slack.messages[CHANNEL][0]["ts"]  # updated in place
    assert "case.claim" not in card_actions(card)

    # Reply: the modal opens at once, then shows the message being answered
    status, _ = await bot.click(fake_slack, action_id="case.reply", value=value,
                                message_ts=card["ts"])
    assert status == 200
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if "Waar blijft" in json.dumps(v)))
    assert view["callback_id"] == "case.reply"
    assert fake_slack.calls_to("views.open")[0].status == 200
    assert not fake_slack.calls_to("views.open")[0].error

    status, _ = await bot.submit(callback_id="case.reply", private_metadata=view["private_metadata"],
                                 values={"reply": {"text": "Wat vervelend! Ik zoek het voor je uit."}})
    assert status == 200

    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == "Wat vervelend! Ik zoek het voor je uit."
    assert delivered[0]["source"] == "forum-x" and delivered[0]["mention_id"] == "m1"
    assert delivered[0]["agent"] == "U0AGENT1" and delivered[0]["idempotency_key"]

    await fake_slack.wait_for(lambda: "verstuurd" in card_text(card) and "Beantwoord" in card_text(card))
    assert "Ik zoek het voor je uit" in card_text(card)
    # the thread keeps the history
    thread = await fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages[CHANNEL] if m.get("thread_ts") == card["ts"]
                 and "antwoordde" in m["text"]])
    assert "Ik zoek het voor je uit" in thread[0]["text"]
    # the claim shows on the card as its owner, not as a line in its thread
    assert not any("opgepakt" in m["text"] for m in fake_slack.messages[CHANNEL]
                   if m.get("thread_ts") == card["ts"])
    assert len(receiver.requests) == 1
