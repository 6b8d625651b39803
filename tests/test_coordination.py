"""Coordination end to end through the fake Slack: approvals, promises, experts, ladders, /webcare."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.models import Approval, CaseEvent, Clock, Promise, Reply
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack, block_action_body, form_encode_payload, slash_command_body
from tests.harness import CHANNEL, Bot, card_actions, card_text, mention, settle, wait_until

APPROVALS = "C0APPROVE"
ROLES = {
    "agents": ["U0AGENT1", "U0AGENT2"], "coordinators": ["U0COORD1"], "spokespersons": ["U0SPOKE1"],
    "backup_spokespersons": ["U0SPOKE2"], "managers": ["U0MGR1"],
    "experts": {"levering": ["U0EXP1"]},
}
TRIAGE = {"topics": {"levering": ["pakket"], "privacy": ["datalek", "gegevens"]},
          "sensitive_topics": ["privacy"]}


def coordination(**overrides: Any) -> dict[str, Any]:
    """app.yaml for these tests: every ladder in seconds."""
    cfg: dict[str, Any] = {
        "roles": ROLES, "triage": TRIAGE,
        "escalation": {"steps": ["1s", "2s"], "remind_before": "0s", "sweep": "100ms"},
        "approvals": {"timeout": "1s"}, "sla": {"first_response": "1h"},
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture
async def cbot(bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver) -> Bot:
    bot: Bot = await bot_factory(slack=fake_slack, reply_url=receiver.url,
                                 slack_config={"approvals_channel": APPROVALS}, **coordination())
    return bot


async def card_for(bot: Bot, fake: FakeSlack, n: int, text: str, **fields: Any) -> dict[str, Any]:
    await bot.post_mentions(mention(n, text=text, **fields))
    return await fake.wait_for(lambda: next(m for m in fake.messages[CHANNEL]
                                            if f"klant{n}" in card_text(m) and not m.get("thread_ts")))


async def submit_reply(bot: Bot, fake: FakeSlack, card: dict[str, Any], text: str, user: str = "U0AGENT1",
                       values: dict[str, Any] | None = None) -> None:
    await bot.click(fake, action_id="case.reply", value=card_actions(card)["case.reply"], user=user,
                    message_ts=card["ts"])
    status, body = await bot.submit(callback_id="case.reply", private_metadata=card_actions(card)["case.reply"],
                                    values={"reply": {"text": text}, **(values or {})}, user=user)
    assert status == 200 and "errors" not in body, body


def buttons(message: dict[str, Any]) -> dict[str, str]:
    return {el["action_id"]: el.get("value", "") for b in message.get("blocks", []) if b["type"] == "actions"
            for el in b["elements"]}


async def approval_card(fake: FakeSlack) -> dict[str, Any]:
    return await fake.wait_for(lambda: fake.messages[APPROVALS][0])


async def events(bot: Bot, action: str) -> list[CaseEvent]:
    async with bot.rt.maker() as session:
        return list(await session.scalars(select(CaseEvent).where(CaseEvent.action == action)))


# --- spokesperson approval ----------------------------------------------------------------------

async def test_sensitive_reply_waits_refuses_non_spokesperson_and_goes_out_when_approved(
        cbot: Bot, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    card = await card_for(cbot, fake_slack, 1, "Hebben jullie een datalek met mijn gegevens?")
    assert "woordvoerder keurt goed" in card_text(card)  # the triage line says so
    await submit_reply(cbot, fake_slack, card, "We onderzoeken het en komen er vandaag op terug.")

    approval = await approval_card(fake_slack)
    text = card_text(approval)
    assert "Goedkeuring gevraagd" in text and "datalek" in text and "vandaag op terug" in text
    value = buttons(approval)["approval.approve"]
    assert set(buttons(approval)) == {"approval.approve", "approval.edit", "approval.reject"}
    async with cbot.rt.maker() as session:
        assert (await session.scalar(select(Reply.status))) == "pending_approval"

    # an agent may not approve: refused, told why, audited, nothing sent
    await cbot.click(fake_slack, action_id="approval.approve", value=value, user="U0AGENT1",
                     message_ts=approval["ts"])
    eph = await fake_slack.wait_for(lambda: fake_slack.ephemerals[0])
    assert eph["user"] == "U0AGENT1" and "woordvoerder" in eph["text"]
    refused = await wait_until(lambda: events(cbot, "refused"), what="refusal audited")
    assert refused[0].actor == "U0AGENT1" and refused[0].detail["action"] == "approval.approve"
    assert refused[0].case_id is not None
    await asyncio.sleep(0.3)
    assert not receiver.delivered

    # the spokesperson approves in one click: the reply goes out, both cards show it
    await cbot.click(fake_slack, action_id="approval.approve", value=value, user="U0SPOKE1",
                     message_ts=approval["ts"])
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == "We onderzoeken het en komen er vandaag op terug."
    await fake_slack.wait_for(lambda: "Goedgekeurd door <@U0SPOKE1>" in card_text(approval))
    assert "approval.approve" not in buttons(approval)
    def thread() -> list[str]:
        return [m["text"] for m in fake_slack.messages[CHANNEL] if m.get("thread_ts") == card["ts"]]

    await fake_slack.wait_for(lambda: any("goedgekeurd" in m and "<@U0AGENT1>" in m for m in thread()))
    # approving twice changes nothing
    await cbot.click(fake_slack, action_id="approval.approve", value=value, user="U0SPOKE1",
                     message_ts=approval["ts"])
    await fake_slack.wait_for(lambda: len(fake_slack.ephemerals) == 2)
    assert "al beslist" in fake_slack.ephemerals[1]["text"]
    await settle(cbot)
    assert len(receiver.delivered) == 1


async def test_edit_and_approve_sends_the_edited_text(cbot: Bot, fake_slack: FakeSlack,
                                                      receiver: ReplyReceiver) -> None:
    card = await card_for(cbot, fake_slack, 2, "Waar blijft mijn pakket?")
    await submit_reply(cbot, fake_slack, card, "Sorry, mijn fout!", values={"approval": {"ask": {
        "type": "checkboxes", "selected_options": [{"value": "yes"}]}}})
    approval = await approval_card(fake_slack)
    assert "zelf om goedkeuring" in card_text(approval)  # the agent's own request is the reason
    await cbot.click(fake_slack, action_id="approval.edit", value=buttons(approval)["approval.edit"],
                     user="U0SPOKE1", message_ts=approval["ts"])
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if "Sorry, mijn fout!" in json.dumps(v)))
    assert view["callback_id"] == "approval.edit"
    status, body = await cbot.submit(callback_id="approval.edit", private_metadata=view["private_metadata"],
                                     values={"text": {"text": "Wat vervelend! We zoeken het voor je uit."}},
                                     user="U0SPOKE1")
    assert status == 200 and "errors" not in body
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == "Wat vervelend! We zoeken het voor je uit."
    await fake_slack.wait_for(lambda: "Bewerkt en goedgekeurd" in card_text(approval))
    async with cbot.rt.maker() as session:
        row = await session.scalar(select(Approval))
        assert row is not None and row.edited and row.draft == "Sorry, mijn fout!"


async def test_reject_keeps_the_reply_back_and_tells_the_agent_why(cbot: Bot, fake_slack: FakeSlack,
                                                                    receiver: ReplyReceiver) -> None:
    card = await card_for(cbot, fake_slack, 3, "Lekken jullie mijn gegevens?")
    await submit_reply(cbot, fake_slack, card, "Nee hoor, alles is veilig.")
    approval = await approval_card(fake_slack)
    await cbot.click(fake_slack, action_id="approval.reject", value=buttons(approval)["approval.reject"],
                     user="U0SPOKE1", message_ts=approval["ts"])
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if v.get("callback_id") == "approval.reject"))
    status, body = await cbot.submit(callback_id="approval.reject", private_metadata=view["private_metadata"],
                                     values={"reason": {"text": ""}}, user="U0SPOKE1")
    assert "errors" in body  # a rejection needs a reason
    await cbot.submit(callback_id="approval.reject", private_metadata=view["private_metadata"],
                      values={"reason": {"text": "We weten dat nog niet; niets beloven."}}, user="U0SPOKE1")
    await fake_slack.wait_for(lambda: "Afgewezen door <@U0SPOKE1>" in card_text(approval))
    note = await fake_slack.wait_for(lambda: next(
        m for m in fake_slack.messages[CHANNEL]
        if m.get("thread_ts") == card["ts"] and "afgewezen" in m["text"]))
    assert "<@U0AGENT1>" in note["text"] and "niets beloven" in note["text"]
    await fake_slack.wait_for(lambda: "afgewezen" in card_text(card))
    await settle(cbot)
    assert not receiver.delivered


async def test_undecided_approval_goes_to_the_backup_then_the_manager(
        bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    # the manager's rung comes 3 s after the backup's, so that a slow machine cannot blur the order
    cbot = await bot_factory(slack=fake_slack, reply_url=receiver.url,
                             slack_config={"approvals_channel": APPROVALS},
                             **coordination(approvals={"timeout": "3s"}))
    card = await card_for(cbot, fake_slack, 4, "Ik wil weten wat jullie met mijn gegevens doen")
    await submit_reply(cbot, fake_slack, card, "We sturen je een overzicht.")
    approval = await approval_card(fake_slack)
    backup = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0SPOKE2")[0], timeout=15)
    assert "niet op tijd beslist" in backup["text"]
    assert not fake_slack.dm_messages("U0MGR1")
    manager = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0MGR1")[0], timeout=15)
    assert "Escalatie" in manager["text"]
    # the backup may decide
    await cbot.click(fake_slack, action_id="approval.approve", value=buttons(approval)["approval.approve"],
                     user="U0SPOKE2", message_ts=approval["ts"])
    await receiver.wait_for(lambda: list(receiver.delivered.values()))
    await asyncio.sleep(0.5)
    assert len(fake_slack.dm_messages("U0SPOKE2")) == 1 and len(fake_slack.dm_messages("U0MGR1")) == 1


# --- promises -----------------------------------------------------------------------------------

async def test_promise_is_reminded_nudged_escalated_and_kept_by_a_follow_up(
        bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, **coordination(
        escalation={"steps": ["1s", "2s"], "remind_before": "3s", "sweep": "100ms"}))
    card = await card_for(bot, fake_slack, 5, "Mijn pakket is beschadigd aangekomen")
    await bot.click(fake_slack, action_id="case.claim", value=card_actions(card)["case.claim"],
                    message_ts=card["ts"])
    await bot.click(fake_slack, action_id="case.promise", value=card_actions(card)["case.promise"],
                    message_ts=card["ts"])
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if v.get("callback_id") == "case.promise"))
    # the reminder (3 s before) must lie ahead of the promise's start, even on a slow machine: a reminder
    # already past when the promise is made is skipped, by design
    due = math.ceil(time.time()) + 6
    status, body = await bot.submit(callback_id="case.promise", private_metadata=view["private_metadata"],
                                    values={"what": {"text": "Vervanging regelen"}, "due": {"when": {
                                        "type": "datetimepicker", "selected_date_time": due}}})
    assert status == 200 and "errors" not in body
    await fake_slack.wait_for(lambda: "Beloofd: Vervanging regelen" in card_text(card))

    agent = lambda: [m["text"] for m in fake_slack.dm_messages("U0AGENT1")]  # noqa: E731
    await fake_slack.wait_for(lambda: any("Herinnering" in t for t in agent()), timeout=15)
    await fake_slack.wait_for(lambda: any("nu verlopen" in t for t in agent()), timeout=15)
    await fake_slack.wait_for(lambda: "Belofte te laat" in card_text(card), timeout=15)
    coordinator = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0COORD1")[0], timeout=15)
    assert "niet op tijd nagekomen" in coordinator["text"] and "<@U0AGENT1>" in coordinator["text"]
    await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0MGR1"), timeout=15)

    await submit_reply(bot, fake_slack, card, "Je vervangende pakket is onderweg!")
    await receiver.wait_for(lambda: list(receiver.delivered.values()))
    await fake_slack.wait_for(lambda: "Beloofd" not in card_text(card) and "te laat" not in card_text(card))
    async with bot.rt.maker() as session:
        promise = await session.scalar(select(Promise))
        assert promise is not None and promise.state == "kept"
        running = await session.scalar(select(func.count()).select_from(Clock).where(
            Clock.kind == "promise", Clock.stopped_at.is_(None)))
    assert running == 0
    sent = len(agent()), len(fake_slack.dm_messages("U0COORD1")), len(fake_slack.dm_messages("U0MGR1"))
    await asyncio.sleep(0.5)
    assert sent == (2, 1, 1) == (len(agent()), len(fake_slack.dm_messages("U0COORD1")),
                                 len(fake_slack.dm_messages("U0MGR1")))


async def test_restart_in_the_middle_of_a_ladder_loses_and_repeats_nothing(
        bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    cfg = coordination(sla={"first_response": "1s"}, escalation={"steps": ["3s"], "remind_before": "0s",
                                                                  "sweep": "100ms"})
    first = await bot_factory(slack=fake_slack, reply_url=receiver.url, **cfg)
    card = await card_for(first, fake_slack, 6, "Waar is mijn pakket nou")
    await first.click(fake_slack, action_id="case.claim", value=card_actions(card)["case.claim"],
                      message_ts=card["ts"])
    await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0AGENT1"), timeout=15)  # rung 1: due
    await first.server.close()  # the instance stops between rungs
    await asyncio.sleep(3.2)  # the coordinator's rung falls due while nobody runs
    assert not fake_slack.dm_messages("U0COORD1")
    await bot_factory(slack=fake_slack, reply_url=receiver.url, **cfg)
    await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0COORD1"), timeout=15)
    await asyncio.sleep(0.5)
    assert len(fake_slack.dm_messages("U0AGENT1")) == 1 and len(fake_slack.dm_messages("U0COORD1")) == 1


async def test_sla_breach_nudges_exactly_once_with_two_instances(
        bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several instances run on PostgreSQL (SQLite is for one instance)")
    cfg = coordination(sla={"first_response": "1s"}, escalation={"steps": ["1s"], "remind_before": "0s",
                                                                  "sweep": "50ms"})
    a = await bot_factory(slack=fake_slack, reply_url=receiver.url, instance="a", **cfg)
    await bot_factory(slack=fake_slack, reply_url=receiver.url, instance="b", **cfg)
    for n in range(20, 30):
        await a.post_mentions(mention(n, text=f"Waar blijft bestelling {n}?"))
    await fake_slack.wait_for(lambda: len(fake_slack.dm_messages("U0COORD1")) >= 10, timeout=20)
    await asyncio.sleep(0.6)
    assert len(fake_slack.dm_messages("U0COORD1")) == 10
    notes = [m for m in fake_slack.messages[CHANNEL] if m.get("thread_ts") and "verlopen" in m["text"]]
    assert len(notes) == 10


# --- experts ------------------------------------------------------------------------------------

async def test_expert_answer_in_the_thread_becomes_the_draft(cbot: Bot, fake_slack: FakeSlack) -> None:
    card = await card_for(cbot, fake_slack, 7, "Kan mijn pakket naar een afhaalpunt?")
    await cbot.click(fake_slack, action_id="case.ask_expert", value=card_actions(card)["case.ask_expert"],
                     message_ts=card["ts"])
    view = await fake_slack.wait_for(lambda: next(
        v for v in fake_slack.views.values()
        if v.get("callback_id") == "case.ask_expert" and "U0EXP1" in json.dumps(v)))
    status, body = await cbot.submit(
        callback_id="case.ask_expert", private_metadata=view["private_metadata"],
        values={"question": {"text": "Kan een bestelling achteraf naar een afhaalpunt?"},
                "experts": {"users": {"type": "multi_users_select", "selected_users": ["U0EXP1"]}}})
    assert status == 200 and "errors" not in body
    question = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0EXP1")[0])
    assert "achteraf naar een afhaalpunt" in card_text(question) and "expert.answer" in buttons(question)
    await fake_slack.wait_for(lambda: "Expert gevraagd" in card_text(card))
    await settle(cbot)  # the question's thread is remembered once its post is recorded

    status, _ = await cbot.event({"type": "message", "channel": "D0EXP1", "channel_type": "im",
                                  "user": "U0EXP1",
                                  "text": "Ja, tot de bezorger onderweg is: via Mijn bestellingen.",
                                  "ts": f"{time.time():.6f}", "thread_ts": question["ts"]}, event_id="Ev1")
    assert status == 200
    await fake_slack.wait_for(lambda: "heeft geantwoord" in card_text(card))
    await cbot.click(fake_slack, action_id="case.reply", value=card_actions(card)["case.reply"],
                     message_ts=card["ts"])
    await fake_slack.wait_for(lambda: next(v for v in fake_slack.views.values()
                                           if "Mijn bestellingen" in json.dumps(v)
                                           and v["callback_id"] == "case.reply"))


# --- ownership, /webcare ------------------------------------------------------------------------

async def test_assign_hands_over_and_the_new_owner_is_told(cbot: Bot, fake_slack: FakeSlack) -> None:
    card = await card_for(cbot, fake_slack, 8, "Mijn factuur klopt niet")
    await settle(cbot)  # the picker finds the case by its card, once the card's ts is stored
    body = block_action_body(action_id="case.assign", value="", user_id="U0AGENT1", channel_id=CHANNEL,
                             message_ts=card["ts"], trigger_id=fake_slack.issue_trigger_id())
    body["actions"][0] |= {"type": "users_select", "selected_user": "U0AGENT2"}
    del body["actions"][0]["value"]
    status, _ = await cbot.slack(form_encode_payload(body), content_type="application/x-www-form-urlencoded")
    assert status == 200
    await fake_slack.wait_for(lambda: "Eigenaar: <@U0AGENT2>" in card_text(card) or fake_slack.ephemerals)
    assert not fake_slack.ephemerals, fake_slack.ephemerals
    dm = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0AGENT2")[0])
    assert "toegewezen" in dm["text"]
    # someone else's case: an agent cannot take it over, a coordinator can
    body["user"]["id"], body["actions"][0]["selected_user"] = "U0AGENT1", "U0AGENT1"
    await cbot.slack(form_encode_payload(body), content_type="application/x-www-form-urlencoded")
    await fake_slack.wait_for(lambda: fake_slack.ephemerals)
    body["user"]["id"] = "U0COORD1"
    await cbot.slack(form_encode_payload(body), content_type="application/x-www-form-urlencoded")
    await fake_slack.wait_for(lambda: "Eigenaar: <@U0AGENT1>" in card_text(card))


async def test_outsiders_cannot_claim(cbot: Bot, fake_slack: FakeSlack) -> None:
    card = await card_for(cbot, fake_slack, 9, "Hallo?")
    await cbot.click(fake_slack, action_id="case.claim", value=card_actions(card)["case.claim"],
                     user="U0STRANGER", message_ts=card["ts"])
    eph = await fake_slack.wait_for(lambda: fake_slack.ephemerals[0])
    assert "webcareteam" in eph["text"]
    assert (await wait_until(lambda: events(cbot, "refused"), what="audit"))[0].actor == "U0STRANGER"


async def test_webcare_command_mine_overdue_stats_help(bot_factory: Any, fake_slack: FakeSlack,
                                                       receiver: ReplyReceiver) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, **coordination(
        sla={"first_response": "1s"}))
    card = await card_for(bot, fake_slack, 10, "Waar blijft mijn pakket?")
    await bot.click(fake_slack, action_id="case.claim", value=card_actions(card)["case.claim"],
                    message_ts=card["ts"])
    await fake_slack.wait_for(lambda: "Eigenaar" in card_text(card))
    await asyncio.sleep(1.1)

    async def ask(text: str) -> str:
        before = len(fake_slack.responses)
        body = slash_command_body(command="/webcare", text=text, user_id="U0AGENT1", channel_id=CHANNEL,
                                  response_url=fake_slack.response_url(),
                                  trigger_id=fake_slack.issue_trigger_id())
        status, _ = await bot.slack(body, content_type="application/x-www-form-urlencoded")
        assert status == 200
        response = await fake_slack.wait_for(lambda: fake_slack.responses[before])
        assert response["response_type"] == "ephemeral"
        return str(response["text"])

    assert "klant10" in await ask("mine") and "Jouw open meldingen (1)" in await ask("mine")
    assert "reactie" in await ask("overdue")
    stats = await ask("stats")
    assert "binnengekomen: 1" in stats and "beantwoord: 0" in stats
    assert "`mine`" in await ask("help")
    assert "Onbekend" in await ask("iets")


# --- outside office hours ---------------------------------------------------------------------

def closed_now() -> dict[str, Any]:
    """Office hours that are closed right now: open only on the day after tomorrow, 09:00-10:00."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    day = (datetime.now(ZoneInfo("Europe/Amsterdam")) + timedelta(days=2)).strftime("%a").lower()
    return {day: "09:00-10:00"}


async def test_auto_ack_once_per_author_only_in_our_own_house(
        bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, **coordination(
        office_hours=closed_now(), auto_ack={"enabled": True, "period": "1d"}))
    card = await card_for(bot, fake_slack, 11, "Waar blijft mijn pakket?")
    acks = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert acks[0]["agent"] == "webcare-bot" and "09:00" in acks[0]["text"] and acks[0]["mention_id"] == "m11"
    # the same author again: no second acknowledgement; someone else's forum: none at all
    await bot.post_mentions(mention("11b", text="Hallo??", author={"id": "a11", "handle": "klant11"},
                                    thread_id="m11"))
    await bot.post_mentions(mention(12, text="Waar blijft mijn pakket?", venue="third_party"))
    await bot.post_mentions(mention(13, text="Mijn pakket is kwijt"))
    await receiver.wait_for(lambda: len(receiver.delivered) >= 2)
    await settle(bot)
    texts = sorted((d["mention_id"], d["text"]) for d in receiver.delivered.values())
    assert [m for m, _ in texts] == ["m11", "m13"]
    assert texts[0][1] != texts[1][1]  # varied wording
    # an acknowledgement is not an answer: the case stays open and its response clock runs
    assert "Nieuw" in card_text(card) and "Reageren vóór" in card_text(card)
    async with bot.rt.maker() as session:
        running = await session.scalar(select(func.count()).select_from(Clock).where(
            Clock.kind == "first_response", Clock.stopped_at.is_(None)))
    assert running == 3


async def test_roles_may_name_user_groups(bot_factory: Any, fake_slack: FakeSlack,
                                          receiver: ReplyReceiver) -> None:
    fake_slack.usergroups["S0SPOKES"] = ["U0SPOKE9"]
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url,
                            slack_config={"approvals_channel": APPROVALS},
                            **coordination(roles={**ROLES, "spokespersons": ["S0SPOKES"]}))
    await fake_slack.wait_for(lambda: fake_slack.calls_to("usergroups.users.list"))
    card = await card_for(bot, fake_slack, 14, "Wat doen jullie met mijn gegevens?")
    await submit_reply(bot, fake_slack, card, "Dat leggen we je graag uit.")
    approval = await approval_card(fake_slack)
    await bot.click(fake_slack, action_id="approval.approve", value=buttons(approval)["approval.approve"],
                    user="U0SPOKE9", message_ts=approval["ts"])
    await receiver.wait_for(lambda: list(receiver.delivered.values()))


async def test_snooze_holds_the_ladder_and_a_new_message_reopens(
        bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, **coordination(
        sla={"first_response": "5s"}))  # time enough to snooze before it falls due, even on a slow machine
    t0 = time.time()
    card = await card_for(bot, fake_slack, 15, "Mijn retour is nog niet verwerkt")
    await bot.click(fake_slack, action_id="case.snooze", value=card_actions(card)["case.snooze"],
                    message_ts=card["ts"])
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if v.get("callback_id") == "case.snooze"))
    until = int(t0) + 9
    status, body = await bot.submit(callback_id="case.snooze", private_metadata=view["private_metadata"],
                                    values={"until": {"when": {"type": "datetimepicker",
                                                               "selected_date_time": until}},
                                            "reason": {"text": "Wacht op ordernummer van klant"}})
    assert status == 200 and "errors" not in body
    await fake_slack.wait_for(lambda: "Gesnoozed tot" in card_text(card))
    await asyncio.sleep(max(0.0, t0 + 6.5 - time.time()))  # due, but snoozed: nobody is nudged
    assert not fake_slack.dm_messages("U0AGENT1")
    await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0AGENT1"), timeout=15)  # after the snooze

    # answered, then the author writes again: open again, with a new response clock
    await submit_reply(bot, fake_slack, card, "Dank, we kijken ernaar!")
    await fake_slack.wait_for(lambda: "Beantwoord" in card_text(card))
    await bot.post_mentions(mention("15b", text="Nog iets: ook de bon kwijt", thread_id="m15",
                                    author={"id": "a15", "handle": "klant15"}))
    await fake_slack.wait_for(lambda: "Opgepakt" in card_text(card) and (
        "Reageren vóór" in card_text(card) or "Reactietermijn verlopen" in card_text(card)))
    await fake_slack.wait_for(lambda: any("weer open" in m["text"] for m in fake_slack.messages[CHANNEL]
                                          if m.get("thread_ts") == card["ts"]))
