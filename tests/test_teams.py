"""Teams end to end: mentions → Adaptive Cards in a Teams channel → clicks → replies, through real HTTP.

The bot runs with `chat: teams` against a fake Bot Framework on loopback (token endpoint, OpenID
metadata and signing keys, Bot Connector API); every activity it receives is signed the way the Bot
Framework signs it. Nothing of ours is patched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.models import Case, CaseEvent, Reply
from bot.settings import AppConfig, Env, Settings
from tests.fakes.bot_framework import FakeBotFramework, Post
from tests.fakes.reply_receiver import ReplyReceiver
from tests.harness import (
    WEBHOOK_SECRET,
    Bot,
    StartBot,
    _merge,
    base_config,
    bots,
    mention,
    settle,
    stop_bot,
    wait_until,
)

AGENT = "6b703ce3-6d14-4fe6-b90c-dc5f03657ae4"
AGENT_2 = "0c0ffee0-1234-4abc-8def-0123456789ab"
OUTSIDER = "deadbeef-0000-4000-8000-000000000000"
SPOKES = "5b0c0e9a-7f3e-4b1e-9d6a-2f8e2b0c1d3e"
PLUGINS = ["integrations.webhook.plugin", "handlers.slack.plugin", "handlers.teams.plugin"]


def person(aad: str, name: str = "Anna de Vries") -> dict[str, Any]:
    """The `from` of an activity sent by a person in Teams."""
    return {"id": f"29:{aad[:8]}", "name": name, "aadObjectId": aad}


@pytest.fixture
async def teams() -> AsyncIterator[FakeBotFramework]:
    async with FakeBotFramework() as fake:
        yield fake


def teams_settings(*, db_url: str, fake: FakeBotFramework, reply_url: str, **overrides: Any) -> Settings:
    """Settings as `webcare serve` builds them for a team that works in Teams."""
    cfg = _merge(base_config(chat="teams", teams={"channel": fake.channel_id, "service_url": fake.service_url,
                                                  "post_interval": "100ms", "update_interval": "50ms"},
                             roles={"teams": {"agents": [AGENT, AGENT_2], "spokespersons": [SPOKES]}},
                             integrations={"webhook": {"reply_url": reply_url}}), overrides)
    env = {"database_url": db_url, "webcare_webhook_secret": WEBHOOK_SECRET,
           "microsoft_app_id": fake.app_id, "microsoft_app_password": fake.app_password,
           "microsoft_app_tenant_id": fake.tenant_id, "microsoft_login_url": fake.login_url,
           "bot_openid_metadata_url": fake.openid_url}
    return Settings(config=AppConfig.model_validate(cfg), env=Env.model_validate(env))


@pytest.fixture
async def teams_bot(db_url: str, teams: FakeBotFramework, receiver: ReplyReceiver) -> AsyncIterator[StartBot]:
    def settings(**overrides: Any) -> Settings:
        return teams_settings(db_url=db_url, fake=teams, reply_url=receiver.url, **overrides)

    async with bots(settings, plugins=PLUGINS) as start:
        yield start


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


def private(fake: FakeBotFramework, user: str) -> list[str]:
    """The texts the bot sent `user` in their 1:1 chat."""
    return [json.dumps(p.activity, ensure_ascii=False) for c in fake.chats.values() if c.user_id == user
            for p in c.posts]


async def test_outsider_is_refused_privately_and_audited(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(3)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert await click(teams, bot, card, "case.claim", user=OUTSIDER) == 200
    # told why in a 1:1 chat (Slack: an ephemeral message), not in the card's thread
    [told] = await teams.wait_for(lambda: private(teams, OUTSIDER), what="the refusal in a 1:1 chat")
    assert "webcareteam" in told and not card.replies
    async with bot.rt.maker() as session:
        refusals = (await session.scalars(select(CaseEvent).where(CaseEvent.actor == OUTSIDER))).all()
        case_id = await session.scalar(select(Case.id))
    assert [(e.action, e.case_id, e.detail["action"]) for e in refusals] == [("refused", case_id, "case.claim")]
    async with bot.rt.maker() as session:
        assert (await session.scalar(select(Case.owner))) is None


async def test_when_no_private_chat_can_be_opened_the_thread_is_told(teams_bot: StartBot,
                                                                    teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(8)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    teams.fail_next("/v3/conversations", 403)  # the app is not installed for this person
    assert await click(teams, bot, card, "case.claim", user=OUTSIDER) == 200
    await teams.wait_for(lambda: card.replies, what="the refusal in the thread")


async def test_activities_from_elsewhere_change_nothing(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(9)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    value = {"action": "case.claim", "value": buttons(card)["case.claim"]}
    web_chat = teams.card_submit(value, reply_to_id=card.id, conversation_id=card.conversation_id,
                                 user=person(AGENT))
    web_chat["channelId"] = "webchat"  # signed by the Bot Framework, but not Teams
    kid = teams.add_key(endorsements=["msteams", "webchat"])
    assert (await teams.deliver(bot.url("/api/messages"), web_chat, kid=kid)).status == 403
    other_tenant = teams.card_submit(value, reply_to_id=card.id, conversation_id=card.conversation_id,
                                     user=person(AGENT))
    other_tenant["channelData"]["tenant"]["id"] = "00000000-0000-4000-8000-0000000000aa"
    assert (await teams.deliver(bot.url("/api/messages"), other_tenant)).status == 403
    async with bot.rt.maker() as session:
        assert (await session.scalar(select(Case.owner))) is None


async def test_unsigned_or_forged_activities_are_refused(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    activity = teams.channel_message("hallo", user=person(AGENT))
    assert (await teams.deliver(bot.url("/api/messages"), activity, auth=None)).status == 401
    assert (await teams.deliver(bot.url("/api/messages"), activity, aud="someone-else")).status == 401
    assert (await teams.deliver(bot.url("/api/messages"), activity,
                                serviceurl="https://evil.example/")).status == 401
    added = await teams.deliver(bot.url("/api/messages"), teams.bot_added(team_name="Klantenservice"))
    assert added.status == 200
    # the bot says hello in the team, with the id app.yaml needs (here it is already the card channel)
    [hello] = await teams.wait_for(lambda: [p for p in teams.threads.get(teams.team_id, [])
                                            if "Klantenservice" in json.dumps(p.activity)], what="the hello")
    assert teams.channel_id in hello.activity["text"]


async def test_bodies_that_are_not_activities_get_a_clear_400(teams_bot: StartBot,
                                                               teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    async with aiohttp.ClientSession() as http:
        for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
            async with http.post(bot.url("/api/messages"), data=body,
                                 headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400 and "not a JSON activity" in (await response.json())["error"]
    for field_, value, error in (("from", "Anna", "'from' is not an object"),
                                 ("conversation", ["x"], "'conversation' is not an object"),
                                 ("text", {"a": 1}, "'text' is not a string")):
        activity = teams.channel_message("hallo", user=person(AGENT))
        activity[field_] = value
        answer = await teams.deliver(bot.url("/api/messages"), activity)
        assert answer.status == 400 and error in answer.body["error"], answer
    tenantless = teams.channel_message("hallo", user=person(AGENT))
    tenantless["channelData"]["tenant"] = "someone"
    assert (await teams.deliver(bot.url("/api/messages"), tenantless)).status == 400
    # a channel id that is not a string cannot pass the signing key's endorsement (was a 500)
    listed = teams.channel_message("hallo", user=person(AGENT))
    listed["channelId"] = ["msteams"]
    assert (await teams.deliver(bot.url("/api/messages"), listed)).status == 400
    async with bot.rt.maker() as session:
        assert await session.scalar(select(func.count()).select_from(CaseEvent)) == 0


async def test_message_in_card_thread_is_history(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(4)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    await settle(bot)  # the card's thread is known once its post is recorded
    activity = teams.channel_message("Ik bel de klant even.", user=person(AGENT))
    activity["conversation"]["id"] = card.conversation_id
    assert (await teams.deliver(bot.url("/api/messages"), activity)).status == 200

    async def recorded() -> list[CaseEvent]:
        async with bot.rt.maker() as session:
            return list((await session.scalars(select(CaseEvent).where(CaseEvent.actor == AGENT))).all())

    [event] = await wait_until(recorded, what="the thread message in the case's history")
    # the @mention of the bot is gone, the text kept as the agent wrote it
    assert (event.action, event.detail["text"]) == ("comment", "Ik bel de klant even.")


APPROVALS = "19:approvals0000000000000000000000@thread.tacv2"


async def test_spokesperson_approves_a_reply_in_teams(teams_bot: StartBot, teams: FakeBotFramework,
                                                      receiver: ReplyReceiver) -> None:
    teams.channels.add(APPROVALS)
    bot = await teams_bot(teams={"approvals_channel": APPROVALS})
    await bot.post_mentions([mention(5)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert await click(teams, bot, card, "case.reply", text="Wij zoeken het uit.", approval="yes") == 200
    [approval] = await teams.wait_for(lambda: teams.threads.get(APPROVALS), what="the approval card")
    assert "Wij zoeken het uit." in text_of(approval)
    assert {"approval.approve", "approval.edit", "approval.reject"} <= set(buttons(approval))
    assert not receiver.delivered  # nothing leaves before the spokesperson decides

    # an agent may not approve; the spokesperson may, with one click
    assert await click(teams, bot, approval, "approval.approve") == 200
    await teams.wait_for(lambda: private(teams, AGENT), what="the refusal")
    assert not receiver.delivered
    assert await click(teams, bot, approval, "approval.approve", user=SPOKES) == 200
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == "Wij zoeken het uit."
    await teams.wait_for(lambda: approval.history, what="the approval card showing the decision")


async def test_tone_check_answers_with_a_card_to_send_anyway(teams_bot: StartBot, teams: FakeBotFramework,
                                                             receiver: ReplyReceiver) -> None:
    bot = await teams_bot(answers={"checks": ["defensive"]})
    await bot.post_mentions([mention(6, text="Mijn pakket is kapot aangekomen, wat een service!")])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    draft = "Dat is niet onze schuld, u had beter moeten lezen."
    assert await click(teams, bot, card, "case.reply", text=draft) == 200
    # the tone check comes to the agent alone, as a card to send anyway or change
    [review] = await teams.wait_for(lambda: [p for c in teams.chats.values() if c.user_id == AGENT
                                             for p in c.posts], what="the tone check")
    assert not receiver.delivered
    again = buttons(review)["case.reply"]
    assert again != buttons(card)["case.reply"]  # the reference now carries the warnings shown
    activity = teams.card_submit({"action": "case.reply", "value": again, "text": draft},
                                 reply_to_id=review.id, conversation_id=card.conversation_id,
                                 user=person(AGENT))  # (as if from the 1:1 chat: the click is the same)
    assert (await teams.deliver(bot.url("/api/messages"), activity)).status == 200
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert delivered[0]["text"] == draft


LEVERING = ["Hoi {name}, wat vervelend dat je pakket er nog niet is. Stuur je je ordernummer via een DM?",
            "Hé {name}, balen dat je nog wacht! Met je ordernummer in een DM kijk ik direct waar het blijft."]


async def test_prepared_answers_come_privately_and_start_the_reply(teams_bot: StartBot, teams: FakeBotFramework,
                                                                   receiver: ReplyReceiver) -> None:
    bot = await teams_bot(answers={"library": [{"topic": "levering", "owner": SPOKES, "language": "nl",
                                                "variants": LEVERING}]})
    jan = {"id": "a15", "name": "Jan Jansen"}
    await bot.post_mentions([mention(15, text="Waar blijft mijn pakket?", author=jan),
                             mention(16, text="Hoe laat zijn jullie open?")])
    posted = await teams.wait_for(lambda: cards(teams) if len(cards(teams)) == 2 else None, what="the cards")
    card, other = sorted(posted, key=lambda p: "Hoe laat" in text_of(p))
    offer_button = next(n for n in walk(card_of(card)) if n.get("type") == "Action.Submit"
                        and n["data"]["action"] == "craft.suggest")
    assert offer_button["associatedInputs"] == "none"  # the reply form's empty text does not hold it back
    assert await click(teams, bot, card, "craft.suggest") == 200

    def offers() -> list[Post]:
        return [p for c in teams.chats.values() if c.user_id == AGENT for p in c.posts]

    [offer] = await teams.wait_for(offers, what="the prepared answers, privately")
    forms = {n["id"]: n["value"] for n in walk(card_of(offer)) if n.get("type") == "Input.Text"}
    assert forms == {"text_1": LEVERING[0].format(name="Jan"), "text_2": LEVERING[1].format(name="Jan")}
    assert not any("Hoi Jan" in json.dumps(r.activity) for r in card.replies)
    assert "Waar blijft" not in text_of(offer)  # the customer's text stays on the card (or behind a warning)
    # the agent makes the second wording personal and sends it from the private card (in the 1:1 chat)
    send = next(n["data"] for n in walk(card_of(offer)) if n.get("type") == "Action.Submit"
                and n["data"].get("field") == "text_2")
    text = forms["text_2"].replace("direct", "meteen")
    activity = teams.card_submit({**send, "text_1": forms["text_1"], "text_2": text, "approval": ""},
                                 reply_to_id=offer.id, user=person(AGENT))
    activity["conversation"] = {"id": offer.conversation_id, "conversationType": "personal",
                                "tenantId": teams.tenant_id}
    activity["channelData"].pop("channel", None)
    assert (await teams.deliver(bot.url("/api/messages"), activity)).status == 200
    delivered = await receiver.wait_for(lambda: list(receiver.delivered.values()))
    assert [d["text"] for d in delivered] == [text]
    # the private card now says so, and offers no second send
    await teams.wait_for(lambda: "onderweg" in text_of(offer), what="the wordings card, used")
    assert "Action.Submit" not in text_of(offer)
    # someone outside the team gets nothing but a refusal
    assert await click(teams, bot, other, "craft.suggest", user=OUTSIDER) == 200
    await teams.wait_for(lambda: private(teams, OUTSIDER), what="the refusal")
    assert "Hé Jan" not in "".join(private(teams, OUTSIDER))
    # a mention outside the library's topics: the agent is told there is none
    assert await click(teams, bot, other, "craft.suggest") == 200
    await teams.wait_for(lambda: len(offers()) == 2, what="the answer that there are none")
    assert "geen standaardantwoorden" in text_of(offers()[1])


async def test_without_a_library_the_reply_form_has_no_prepared_answers(teams_bot: StartBot,
                                                                        teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(17, text="Waar blijft mijn pakket?")])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert "craft.suggest" not in buttons(card)


async def test_threat_text_is_shown_only_to_who_asks(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    threat = "Ik weet waar jullie filiaal in Utrecht zit, ik kom vanavond met een mes voor die kassamedewerker"
    await bot.post_mentions([mention(7, text=threat)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert "kassamedewerker" not in text_of(card) and "case.show" in buttons(card)
    assert await click(teams, bot, card, "case.show") == 200
    chat = await teams.wait_for(lambda: next((c for c in teams.chats.values() if c.user_id == AGENT
                                              and c.posts), None), what="a 1:1 chat with the agent")
    assert "kassamedewerker" in json.dumps(chat.posts[-1].activity, ensure_ascii=False)
    assert not any("kassamedewerker" in json.dumps(r.activity, ensure_ascii=False) for r in card.replies)


async def test_commands_in_the_chat_with_the_bot(teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot()
    await bot.post_mentions([mention(10)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert await click(teams, bot, card, "case.claim") == 200
    await teams.wait_for(lambda: card.history, what="the claim on the card")
    # `mijn` as a new post to @webcare in the channel: the answer comes privately
    ask = teams.channel_message("mijn", user=person(AGENT))
    assert (await teams.deliver(bot.url("/api/messages"), ask)).status == 200
    [answer] = await teams.wait_for(lambda: private(teams, AGENT), what="the answer to `mijn`")
    assert "klant10" in answer and "Waar blijft mijn pakket? (10)" in answer
    # the same delivery again (Teams retries) gives no second answer; `hulp` explains the words
    assert (await teams.deliver(bot.url("/api/messages"), ask)).status == 200
    help_ = teams.channel_message("hulp", user=person(AGENT))
    assert (await teams.deliver(bot.url("/api/messages"), help_)).status == 200
    told = await teams.wait_for(lambda: len(private(teams, AGENT)) >= 2 and private(teams, AGENT))
    assert len(told) == 2 and "telaat" in told[1]
    # `crisis` is for managers and spokespersons: an agent is refused (and it is audited)
    crisis = teams.channel_message("crisis levering", user=person(AGENT))
    assert (await teams.deliver(bot.url("/api/messages"), crisis)).status == 200
    refused = await teams.wait_for(lambda: len(private(teams, AGENT)) >= 3 and private(teams, AGENT))
    assert "woordvoerder" in refused[2].lower() or "manager" in refused[2].lower()


EXPERT = "e0e0e0e0-1111-4222-8333-444455556666"


async def test_expert_is_asked_in_a_private_chat_and_the_answer_becomes_the_draft(
        teams_bot: StartBot, teams: FakeBotFramework) -> None:
    bot = await teams_bot(roles={"teams": {"experts": {"levering": [EXPERT]}}})
    late = "Waar blijft mijn pakket? De bezorging is al drie dagen te laat"
    await bot.post_mentions([mention(11, text=late)])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert await click(teams, bot, card, "case.ask_expert", question="Klopt het dat de bus vastzit?") == 200
    # the question reaches the expert by Entra id, in a 1:1 chat, with a form to answer
    chat = await teams.wait_for(lambda: next((c for c in teams.chats.values()
                                              if c.user_id == EXPERT and c.posts), None),
                                what="the question in the expert's chat")
    question = chat.posts[0]
    assert "Klopt het dat de bus vastzit?" in text_of(question)
    value = {"action": "expert.answer", "value": buttons(question)["expert.answer"],
             "answer": "Ja, morgen wordt alles bezorgd."}
    activity = teams.card_submit(value, reply_to_id=question.id, conversation_id=chat.id,
                                 user=person(EXPERT, "Eva Expert"))
    activity["conversation"]["conversationType"] = "personal"
    assert (await teams.deliver(bot.url("/api/messages"), activity)).status == 200
    # the card's thread says the expert answered (by name), and the answer is waiting as the draft
    await teams.wait_for(lambda: any("Eva Expert" in json.dumps(r.activity, ensure_ascii=False)
                                     for r in card.replies), what="the expert's answer on the card")
    form = await teams.wait_for(lambda: next((n for n in walk(card_of(card)) if n.get("id") == "text"
                                              and n.get("value")), None), what="the draft in the reply form")
    assert form["value"] == "Ja, morgen wordt alles bezorgd."


async def test_check_gets_a_token_with_the_credentials(db_url: str, teams: FakeBotFramework,
                                                       receiver: ReplyReceiver) -> None:
    from handlers.teams.plugin import check

    good = teams_settings(db_url=db_url, fake=teams, reply_url=receiver.url)
    assert await check(good) == []
    wrong_password = good.env.model_copy(update={"microsoft_app_password": SecretStr("wrong")})
    wrong = Settings(config=good.config, env=wrong_password)
    [problem] = await check(wrong)
    assert problem.startswith("teams: ") and "MICROSOFT_APP_PASSWORD" in problem
    missing = Settings(config=good.config, env=good.env.model_copy(update={"microsoft_app_id": None}))
    assert (await check(missing))[0].startswith("teams: not configured: set MICROSOFT_APP_ID")
    no_tenant = Settings(config=good.config, env=good.env.model_copy(update={"microsoft_app_tenant_id": None}))
    assert [p for p in await check(no_tenant) if "teams.tenant_id" in p]


async def test_expert_answers_by_writing_in_the_chat_with_the_bot(teams_bot: StartBot,
                                                                   teams: FakeBotFramework) -> None:
    bot = await teams_bot(roles={"teams": {"experts": {"levering": [EXPERT]}}})
    await bot.post_mentions([mention(12, text="De bezorging van mijn pakket is al een week te laat")])
    [card] = await teams.wait_for(lambda: cards(teams) or None, what="the card")
    assert await click(teams, bot, card, "case.ask_expert", question="Wat is hier aan de hand?") == 200
    chat = await teams.wait_for(lambda: next((c for c in teams.chats.values()
                                              if c.user_id == EXPERT and c.posts), None), what="the question")
    await settle(bot)  # the question's chat is remembered once its post is recorded
    # the expert just types in the chat (it has no threads): that answers the open question
    message = teams.channel_message("De vrachtwagen had pech, morgen komt alles.", user=person(EXPERT, "Eva"))
    message["conversation"] = {"id": chat.id, "conversationType": "personal", "tenantId": teams.tenant_id}
    assert (await teams.deliver(bot.url("/api/messages"), message)).status == 200
    form = await teams.wait_for(lambda: next((n for n in walk(card_of(card)) if n.get("id") == "text"
                                              and n.get("value")), None), what="the draft in the reply form")
    assert form["value"] == "De vrachtwagen had pech, morgen komt alles."
    # anything else typed there gets the help text
    other = teams.channel_message("hallo?", user=person(EXPERT, "Eva"))
    other["conversation"] = {"id": chat.id, "conversationType": "personal", "tenantId": teams.tenant_id}
    assert (await teams.deliver(bot.url("/api/messages"), other)).status == 200
    await teams.wait_for(lambda: any("cijfers" in json.dumps(p.activity, ensure_ascii=False)
                                     for p in chat.posts), what="the help text")


async def test_the_bot_connector_address_survives_a_restart(teams_bot: StartBot,
                                                            teams: FakeBotFramework) -> None:
    # app.yaml names another region; Teams' first activity says where its Bot Connector really is
    elsewhere = {"teams": {"service_url": "https://smba.invalid/emea/"}}
    bot = await teams_bot(**elsewhere)
    hello = teams.channel_message("hulp", user=person(AGENT))
    assert (await teams.deliver(bot.url("/api/messages"), hello)).status == 200
    await teams.wait_for(lambda: private(teams, AGENT), what="the answer through the right address")
    await stop_bot(bot)
    # after a restart, with nothing from Teams yet, the first card still goes to the right place
    again = await teams_bot(**elsewhere)
    await again.post_mentions([mention(13)])
    await teams.wait_for(lambda: cards(teams) or None, what="the card after the restart")
