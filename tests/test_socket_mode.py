"""Slack Socket Mode: the bot connects with the app token and handles envelopes over the WebSocket.

Everything goes over real sockets: mentions through the signed webhook, clicks and events as Socket
Mode envelopes from the fake Slack, cards and modals through the fake Web API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from bot.models import Case, CaseEvent
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import (
    FakeSlack,
    block_action_body,
    event_callback_body,
    view_submission_body,
)
from tests.harness import CHANNEL, Bot, card_actions, card_text, mention, wait_until

AGENT = "U0AGENT1"
SENT = "(verstuurd <!date^"  # card.reply_sent; "wordt verstuurd…" is the queued state






async def socket_bot(bot_factory: Callable[..., Any], fake: FakeSlack, receiver: ReplyReceiver,
                     **kw: Any) -> Bot:
    bot: Bot = await bot_factory(slack=fake, reply_url=receiver.url, app_token=True, **kw)
    await fake.wait_socket_connected()
    return bot


async def ingest_one(bot: Bot, fake: FakeSlack, n: int = 1) -> dict[str, Any]:
    """Post a mention through the webhook and return its card once Slack has it."""
    status, body = await bot.post_mentions(mention(n))
    assert status == 202 and body["accepted"] == 1, body
    return await fake.wait_for(
        lambda: next(m for m in fake.messages[CHANNEL] if f"klant{n}" in card_text(m)),
        what=f"the card of mention {n}")


async def click(fake: FakeSlack, *, action_id: str, value: str, card: dict[str, Any]) -> dict[str, Any]:
    """Send a block_actions envelope and return the client's ack."""
    body = block_action_body(action_id=action_id, value=value, user_id=AGENT, channel_id=CHANNEL,
                             message_ts=card["ts"], trigger_id=fake.issue_trigger_id())
    envelope_id = await fake.socket_send("interactive", body)
    ack = await fake.wait_socket_ack(envelope_id)
    assert ack["envelope_id"] == envelope_id
    return ack




async def card_ts_in_db(bot: Bot) -> str | None:
    async with bot.rt.maker() as session:
        return await session.scalar(select(Case.card_ts).where(Case.card_ts.is_not(None)).limit(1))


async def metric(bot: Bot, name: str) -> float:
    """A sample's value from the bot's Prometheus endpoint (0 when absent)."""
    async with bot.http.get(bot.url("/metrics")) as r:
        assert r.status == 200
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def count_comments(bot: Bot) -> int:
    async with bot.rt.maker() as session:
        return int(await session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "comment")) or 0)


async def test_connects_with_the_app_token(bot_factory: Callable[..., Any], fake_slack: FakeSlack,
                                           receiver: ReplyReceiver) -> None:
    await socket_bot(bot_factory, fake_slack, receiver)
    opened = fake_slack.calls_to("apps.connections.open")
    assert opened, "the bot never asked for a Socket Mode URL"
    assert all(c.status == 200 and c.error is None for c in opened), [
        (c.status, c.error) for c in opened]  # the fake refuses any token but xapp-test
    assert fake_slack.socket_connect_count >= 1
    assert fake_slack.socket_connections == 1


async def test_claim_over_the_socket(bot_factory: Callable[..., Any], fake_slack: FakeSlack,
                                     receiver: ReplyReceiver) -> None:
    bot = await socket_bot(bot_factory, fake_slack, receiver)
    card = await ingest_one(bot, fake_slack)
    value = card_actions(card)["case.claim"]

    await click(fake_slack, action_id="case.claim", value=value, card=card)

    await fake_slack.wait_for(lambda: "Eigenaar: <@U0AGENT1>" in card_text(card),
                              what="the card to show its owner")
    assert card["ts"] == fake_slack.messages[CHANNEL][0]["ts"]  # updated in place
    assert "case.claim" not in card_actions(card)
    assert not fake_slack.ephemerals  # no error was shown to the agent


async def test_reply_over_the_socket(bot_factory: Callable[..., Any], fake_slack: FakeSlack,
                                     receiver: ReplyReceiver) -> None:
    bot = await socket_bot(bot_factory, fake_slack, receiver)
    card = await ingest_one(bot, fake_slack)
    value = card_actions(card)["case.reply"]

    await click(fake_slack, action_id="case.reply", value=value, card=card)
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if "Waar blijft" in json.dumps(v)),
        what="the reply modal with the message being answered")
    opened = fake_slack.calls_to("views.open")
    assert len(opened) == 1 and opened[0].status == 200 and opened[0].error is None
    assert view["callback_id"] == "case.reply"

    submission = view_submission_body(
        callback_id="case.reply", private_metadata=view["private_metadata"],
        values={"reply": {"text": "Wat vervelend! Ik zoek het voor je uit."}}, user_id=AGENT)
    envelope_id = await fake_slack.socket_send("interactive", submission)
    ack = await fake_slack.wait_socket_ack(envelope_id)
    assert ack["envelope_id"] == envelope_id
    assert (ack.get("payload") or {}).get("response_action") != "errors", ack

    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert len(delivered) == 1
    assert delivered[0]["text"] == "Wat vervelend! Ik zoek het voor je uit."
    assert delivered[0]["source"] == "forum-x" and delivered[0]["mention_id"] == "m1"
    assert delivered[0]["agent"] == AGENT and delivered[0]["idempotency_key"]
    await fake_slack.wait_for(lambda: SENT in card_text(card),
                              what="the card to show the reply as sent")
    assert len(receiver.requests) == 1


async def test_thread_message_retry_is_recorded_once(bot_factory: Callable[..., Any],
                                                      fake_slack: FakeSlack,
                                                      receiver: ReplyReceiver) -> None:
    bot = await socket_bot(bot_factory, fake_slack, receiver)
    card = await ingest_one(bot, fake_slack)
    # the event is matched to the case by the card's ts, which the outbox records after posting
    await wait_until(lambda: card_ts_in_db(bot), what="the card ts to be stored")
    ts = f"{float(card['ts']) + 5:.6f}"
    event = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": AGENT,
             "text": "Ik bel de klant even.", "ts": ts, "event_ts": ts, "thread_ts": card["ts"]}
    payload = event_callback_body(event, event_id="Ev0THREAD1")

    first = await fake_slack.socket_send("events_api", payload)
    assert (await fake_slack.wait_socket_ack(first))["envelope_id"] == first
    await wait_until(lambda: count_comments(bot), what="the thread message to be recorded")

    retry = await fake_slack.socket_send("events_api", payload, retry_attempt=1,
                                         retry_reason="timeout")
    assert retry != first
    assert (await fake_slack.wait_socket_ack(retry))["envelope_id"] == retry
    # The listener runs after the ack: wait until it has handled the retry, one way or the other
    # (dropped, as counted on the public /metrics, or wrongly recorded a second time).
    async def retry_handled() -> bool:
        dropped = await metric(bot, "webcare_slack_retries_dropped_total")
        return dropped > 0 or await count_comments(bot) > 1

    await wait_until(retry_handled, what="the retry to be handled")
    assert await count_comments(bot) == 1
    assert await metric(bot, "webcare_slack_retries_dropped_total") == 1
    assert not fake_slack.ephemerals


async def test_socket_only_bot_refuses_http_events(bot_factory: Callable[..., Any],
                                                   fake_slack: FakeSlack,
                                                   receiver: ReplyReceiver) -> None:
    bot = await socket_bot(bot_factory, fake_slack, receiver, signing=False)
    async with bot.http.post(bot.url("/slack/events"), data=b'{"type":"url_verification"}',
                             headers={"Content-Type": "application/json"}) as r:
        assert r.status == 503
        body = await r.json()
    assert "SLACK_SIGNING_SECRET" in body["error"]
    # still reachable over the socket: a card arrives and a claim works
    card = await ingest_one(bot, fake_slack)
    await click(fake_slack, action_id="case.claim", value=card_actions(card)["case.claim"], card=card)
    await fake_slack.wait_for(lambda: "Eigenaar: <@U0AGENT1>" in card_text(card))
