"""Reply craft end to end through the fake Slack: suggestions in the Reply modal, a stacked draft from a
suggestion, tone warnings the agent overrides, rotation between people, duplicates, stored promises."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.models import AnswerUse, CaseEvent, Reply
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack, block_action_body, form_encode_payload
from tests.harness import CHANNEL, Bot, card_actions, mention, wait_until

ALL_CHECKS = ["apology", "defensive", "too_long", "duplicate", "no_addressee"]
LEVERING = [
    "Hoi {name}, wat vervelend dat je pakket er nog niet is. Stuur je je ordernummer via een DM?",
    "Hé {name}, balen dat je nog wacht! Met je ordernummer in een DM kijk ik direct waar het blijft.",
]
ANSWERS = {"checks": ALL_CHECKS, "rotation": "7d",
           "library": [{"topic": "levering", "owner": "U0EXP1", "language": "nl", "variants": LEVERING}]}


async def start(bot_factory: Callable[..., Any], fake_slack: FakeSlack, receiver: ReplyReceiver) -> Bot:
    bot: Bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, answers=ANSWERS)
    return bot


async def open_reply(bot: Bot, fake: FakeSlack, n: int, *, user: str = "U0AGENT1") -> dict[str, Any]:
    """Click Reply on the card of mention `n`; return the filled-in modal."""
    card = await fake.wait_for(lambda: next(m for m in fake.messages[CHANNEL]
                                            if f"({n})" in json.dumps(m.get("blocks", []))))
    before = len(fake.calls_to("views.update"))
    status, _ = await bot.click(fake, action_id="case.reply", value=card_actions(card)["case.reply"],
                                message_ts=card["ts"], user=user)
    assert status == 200
    await fake.wait_for(lambda: len(fake.calls_to("views.update")) > before)
    view_id = fake.calls_to("views.update")[-1].args["view_id"]
    return fake.views[view_id]


async def click_in_view(bot: Bot, fake: FakeSlack, view: dict[str, Any], element: dict[str, Any],
                        user: str = "U0AGENT1") -> None:
    """Click a button inside a modal (a block_actions payload whose container is the view)."""
    body = block_action_body(action_id=element["action_id"], value=element["value"], user_id=user,
                             channel_id=CHANNEL, message_ts="0", trigger_id=fake.issue_trigger_id())
    body.pop("channel"), body.pop("message")
    body["container"] = {"type": "view", "view_id": view["id"]}
    body["view"] = view
    status, _ = await bot.slack(form_encode_payload(body), content_type="application/x-www-form-urlencoded")
    assert status == 200


async def submit(bot: Bot, metadata: str, text: str, user: str = "U0AGENT1") -> dict[str, Any]:
    status, body = await bot.submit(callback_id="case.reply", private_metadata=metadata,
                                    values={"reply": {"text": text}}, user=user)
    assert status == 200
    return json.loads(body) if body else {}


def suggestions(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in view["blocks"] if b.get("accessory", {}).get("action_id") == "craft.use"]


def input_block(view: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b["type"] == "input")


async def test_suggest_draft_warn_override_send(bot_factory: Callable[..., Any], fake_slack: FakeSlack,
                                                receiver: ReplyReceiver) -> None:
    bot = await start(bot_factory, fake_slack, receiver)
    await bot.post_mentions(mention(1, text="Echt belachelijk, mijn pakket is al 2 weken kwijt!! (1)",
                                    author={"id": "a1", "handle": "jan_j", "name": "Jan Jansen"}))
    view = await open_reply(bot, fake_slack, 1)
    shown = json.dumps(view, ensure_ascii=False)
    assert "Standaardantwoorden" in shown and "eigenaar <@U0EXP1>" in shown
    offered = suggestions(view)
    assert len(offered) == 2 and "Hoi Jan, wat vervelend" in offered[0]["text"]["text"]
    assert input_block(view)["block_id"] == "reply" and input_block(view)["element"]["action_id"] == "text"

    # "Gebruiken": a stacked modal, filled in with the wording (the input is new there, so Slack applies it)
    await click_in_view(bot, fake_slack, view, offered[0]["accessory"])
    pushed = (await fake_slack.wait_for(lambda: fake_slack.calls_to("views.push")))[0].args["view"]
    pushed = json.loads(pushed) if isinstance(pushed, str) else pushed
    assert not [b for b in pushed["blocks"] if b["type"] == "input"] and "submit" not in pushed
    draft_id = await fake_slack.wait_for(
        lambda: next(c.args["view_id"] for c in fake_slack.calls_to("views.update")
                     if c.args["view_id"] != view["id"]))
    draft = fake_slack.views[draft_id]
    assert input_block(draft)["element"]["initial_value"] == LEVERING[0].format(name="Jan")
    assert draft["callback_id"] == "case.reply" and "Op basis van het standaardantwoord" in json.dumps(draft)

    # The agent apologises on a complaint and makes a promise: warnings first, nothing sent
    text = "Hoi Jan, sorry dat je zo lang moet wachten! Ik zoek het voor je uit en we komen morgen erop terug."
    answer = await submit(bot, draft["private_metadata"], text)
    assert answer["response_action"] == "update"
    review = answer["view"]
    shown = json.dumps(review, ensure_ascii=False)
    assert "Excuses op een klacht ('sorry')" in shown and "Belofte herkend" in shown
    assert review["submit"]["text"] == "Toch versturen"
    assert input_block(review)["block_id"] == "reply"
    assert input_block(review)["element"]["initial_value"] == text
    assert json.loads(review["private_metadata"])["warned"] == ["apology"]
    assert receiver.requests == []

    # Send anyway: the reply goes out, with the overridden warning and the promise stored
    assert await submit(bot, review["private_metadata"], text) == {"response_action": "clear"}
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == text
    async with bot.rt.maker() as session:
        reply = await session.scalar(select(Reply))
        events = {e.action: e.detail for e in await session.scalars(select(CaseEvent))}
    assert reply is not None
    assert reply.tone_overrides == [{"code": "apology", "evidence": ["sorry"]}]
    assert reply.promise is not None and reply.promise["phrases"][0] == "ik zoek het voor je uit"
    assert reply.promise["due_hint"] == "morgen" and reply.promise["due_from"] == "hint"
    assert reply.promise_due_at is not None and reply.promise_due_at > reply.created_at
    assert datetime.fromisoformat(reply.promise["due_at"]) == reply.promise_due_at
    assert events["tone.override"]["warnings"][0]["code"] == "apology"
    assert events["promise"]["promise"]["due_hint"] == "morgen"


async def test_rotation_and_identical_to_recent(bot_factory: Callable[..., Any], fake_slack: FakeSlack,
                                               receiver: ReplyReceiver) -> None:
    bot = await start(bot_factory, fake_slack, receiver)
    await bot.post_mentions([
        mention(1, text="Waar blijft mijn pakket? (1)", author={"id": "a1", "name": "Jan Jansen"}),
        mention(2, text="Waar blijft mijn pakket nou? (2)", author={"id": "a2", "name": "Piet Peters"}),
    ])
    first = await open_reply(bot, fake_slack, 1)
    chosen = suggestions(first)[0]["text"]["text"]
    assert "Hoi Jan, wat vervelend" in chosen
    # Jan gets the first wording (unchanged): it counts as a use of that variant
    assert await submit(bot, first["private_metadata"], LEVERING[0].format(name="Jan")) == {
        "response_action": "clear"}
    async with bot.rt.maker() as session:
        await wait_until(lambda: session.scalar(select(AnswerUse.id)), what="a recorded use")

    # Piet, within the rotation period, is offered the other wording first
    second = await open_reply(bot, fake_slack, 2, user="U0AGENT2")
    offered = [b["text"]["text"] for b in suggestions(second)]
    assert "Hé Piet, balen" in offered[0] and "Hoi Piet, wat vervelend" in offered[1]
    about = [second["blocks"][second["blocks"].index(b) + 1] for b in suggestions(second)]
    assert "al naar iemand anders" not in json.dumps(about[0])
    assert "al naar iemand anders" in json.dumps(about[1])

    # Sending Piet Jan's exact wording anyway: identical to a recent reply to someone else
    answer = await submit(bot, second["private_metadata"], LEVERING[0].format(name="Piet"), user="U0AGENT2")
    assert answer["response_action"] == "update"
    assert "Precies deze formulering ging" in json.dumps(answer["view"], ensure_ascii=False)
    assert json.loads(answer["view"]["private_metadata"])["warned"] == ["duplicate"]
    # ...and a reworded reply goes straight out
    own = "Hoi Piet, wat balen! Stuur je je ordernummer in een DM? Dan kijk ik waar je pakket is."
    assert await submit(bot, second["private_metadata"], own, user="U0AGENT2") == {"response_action": "clear"}
    await receiver.wait_for(lambda: len(receiver.delivered) == 2)


async def test_the_same_reply_submitted_twice_goes_out_once(
        bot_factory: Callable[..., Any], fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    bot = await start(bot_factory, fake_slack, receiver)
    jan = {"id": "a7", "name": "Jan"}
    await bot.post_mentions([mention(7, text="Waar blijft mijn pakket? (7)", author=jan)])
    view = await open_reply(bot, fake_slack, 7)
    text = "Hoi Jan, ik zoek het voor je uit. Stuur je je ordernummer via een DM?"
    # a double click (or the same form sent again from another card): one reply to the customer
    assert await submit(bot, view["private_metadata"], text) == {"response_action": "clear"}
    assert await submit(bot, view["private_metadata"], "  " + text + "\n") == {"response_action": "clear"}
    await receiver.wait_for(lambda: list(receiver.delivered.values()))
    async with bot.rt.maker() as session:
        assert len((await session.scalars(select(Reply))).all()) == 1
        repeated = (await session.scalars(select(CaseEvent).where(CaseEvent.action == "reply.repeated"))).all()
    assert len(repeated) == 1 and repeated[0].actor == "U0AGENT1"
    # another text is another reply
    other = text + " Alvast bedankt!"
    assert await submit(bot, view["private_metadata"], other) == {"response_action": "clear"}
    await receiver.wait_for(lambda: len(receiver.delivered) == 2)
