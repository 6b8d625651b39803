"""Meta (Facebook Page comments, Instagram comments, WhatsApp messages) through real HTTP:
signed webhooks into the running app, cards in the fake Slack, replies/likes/hides out to FakeGraph."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.models import Case, Mention, OutboxItem, Reply
from bot.ports import MentionTarget, OutboundReply, PermanentError, RateLimited, TransientError
from bot.services.cases import ref_value
from bot.settings import AppConfig, Env, Settings
from integrations.meta import plugin as meta_plugin
from integrations.meta.parse import parse_delivery, to_datetime
from integrations.meta.sink import WINDOW_REASON, GraphClient, MetaReplySink
from tests.fakes.graph_api import (
    FakeGraph,
    facebook_comment,
    instagram_comment,
    instagram_delivery,
    page_delivery,
    signed,
    whatsapp_message,
)
from tests.fakes.slack_api import FakeSlack
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
)

PAGE_ID = "1234567890"
IG_ID = "17841400000000000"
PHONE_ID = "109876543210987"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "meta-verify-token"
PAGE_TOKEN = "EAAPAGETOKEN"
WA_TOKEN = "EAAWHATSAPPTOKEN"
PLUGINS = ["integrations.webhook.plugin", "handlers.slack.plugin", "integrations.meta.plugin"]
FIXTURES = Path(__file__).parent / "fixtures" / "meta"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "meta"
POST_ID = f"{PAGE_ID}_555000111"



def meta_settings(db_url: str, *, slack: FakeSlack | None, graph: FakeGraph | None,
                  env: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> Settings:
    """Settings as `webcare serve` builds them, with Meta configured against the fakes."""
    meta_cfg = {"page_id": PAGE_ID, "instagram_id": IG_ID, "whatsapp_phone_id": PHONE_ID,
                "timeout": "1s", **(meta or {})}
    cfg = base_config(integrations={"webhook": {"timeout": "800ms"}, "meta": meta_cfg})
    values: dict[str, Any] = {
        "database_url": db_url, "webcare_webhook_secret": WEBHOOK_SECRET,
        "meta_app_secret": APP_SECRET, "meta_verify_token": VERIFY_TOKEN,
        "meta_page_token": PAGE_TOKEN, "meta_whatsapp_token": WA_TOKEN,
    }
    if graph is not None:
        values["meta_graph_url"] = graph.base_url
    if slack is not None:
        values |= {"slack_bot_token": BOT_TOKEN, "slack_api_url": slack.api_url,
                   "slack_signing_secret": SIGNING_SECRET}
    values |= env or {}
    return Settings(config=AppConfig.model_validate(cfg), env=Env.model_validate(values))


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    """The fake Graph API, knowing our page, Instagram account, number and tokens."""
    async with FakeGraph(page_token=PAGE_TOKEN, whatsapp_token=WA_TOKEN, page_id=PAGE_ID,
                         instagram_id=IG_ID, phone_id=PHONE_ID) as fake:
        yield fake


@pytest.fixture
async def start(db_url: str) -> AsyncIterator[StartBot]:
    """Start bots with Meta on the test database: `await start(slack=..., graph=...)`."""
    def settings(*, slack: FakeSlack | None = None, graph: FakeGraph | None = None,
                 env: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> Settings:
        return meta_settings(db_url, slack=slack, graph=graph, env=env, meta=meta)

    async with bots(settings, plugins=PLUGINS) as make:
        yield make


@pytest.fixture
async def bot(start: StartBot, fake_slack: FakeSlack, graph: FakeGraph) -> Bot:
    """The bot with Meta, Slack and the Graph API all wired to fakes."""
    return await start(slack=fake_slack, graph=graph)


async def deliver(bot: Bot, payload: Any, *, secret: str = APP_SECRET, raw: bytes | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST a delivery to /webhooks/meta, signed like Meta signs it."""
    body, signed_headers = signed(secret, raw if raw is not None else payload)
    async with bot.http.post(bot.url("/webhooks/meta"), data=body,
                             headers=headers if headers is not None else signed_headers) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def count(bot: Bot, model: Any, *where: Any) -> int:
    """Rows of `model` matching `where`."""
    async with bot.rt.maker() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def stored(bot: Bot, source: str, external_id: str) -> Mention | None:
    """The stored mention, if any."""
    async with bot.rt.maker() as session:
        return await session.scalar(select(Mention).where(Mention.source == source,
                                                          Mention.external_id == external_id))


async def card_for(fake: FakeSlack, needle: str) -> dict[str, Any]:
    """The posted card whose blocks mention `needle`."""
    return await fake.wait_for(lambda: next(
        m for m in fake.messages[CHANNEL] if not m.get("thread_ts") and needle in card_text(m)))


def shows_sent(card: dict[str, Any]) -> bool:
    """Whether the card says the reply went out (not queued, not failed)."""
    text = card_text(card)
    return "verstuurd" in text and "wordt verstuurd" not in text and "niet verstuurd" not in text


async def reply_from_slack(bot: Bot, fake: FakeSlack, card: dict[str, Any], needle: str,
                           text: str) -> tuple[int, str]:
    """Click Reply on the card and submit the modal (which shows `needle`), as an agent does."""
    status, _ = await bot.click(fake, action_id="case.reply", value=card_actions(card)["case.reply"],
                                message_ts=card["ts"])
    assert status == 200
    view = await fake.wait_for(lambda: next(v for v in fake.views.values() if needle in json.dumps(v)))
    return await bot.submit(callback_id="case.reply", private_metadata=view["private_metadata"],
                            values={"reply": {"text": text}})


# --- parsing (pure) ------------------------------------------------------------------------------

def load(name: str) -> Any:
    """One of our own fixtures in tests/fixtures/meta."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_parse_facebook_feed_fixture() -> None:
    parsed = parse_delivery(load("facebook_feed.json"), received=datetime.now(UTC), own_ids=[PAGE_ID])
    assert [m.id for m in parsed.mentions] == ["555000111_777000001", "555000111_777000002"]
    first, reply = parsed.mentions
    assert first.source == "facebook" and first.thread_id == POST_ID and first.in_reply_to is None
    assert first.author.id == "24000000000000001" and first.author.name == "Jan Jansen"
    assert first.account == PAGE_ID and first.resolved_venue == "own"
    assert first.created_at == datetime.fromtimestamp(1763802900, UTC)
    assert first.url == "https://www.facebook.com/555000111_777000001"
    assert reply.in_reply_to == "555000111_777000001"
    # the page's own answer is not a mention; a reaction is ignored
    assert parsed.ignored["facebook:own_comment"] == 1
    assert parsed.ignored["facebook:feed:reaction:add"] == 1
    assert not parsed.changes and not parsed.rejected

    edit = parse_delivery(load("facebook_feed_edited.json"), received=datetime.now(UTC)).changes
    assert edit[0].mention_id == "555000111_777000001" and "4711" in (edit[0].text or "")
    assert not edit[0].deleted
    removed = parse_delivery(load("facebook_feed_remove.json"), received=datetime.now(UTC)).changes
    assert removed[0].deleted and removed[0].mention_id == "555000111_777000002"


def test_parse_instagram_and_whatsapp_fixtures() -> None:
    now = datetime.now(UTC)
    ig = parse_delivery(load("instagram_comments.json"), received=now)
    assert len(ig.mentions) == 1 and ig.ignored["instagram:own_comment"] == 1
    m = ig.mentions[0]
    assert (m.source, m.id, m.thread_id, m.author.handle, m.account) == (
        "instagram", "17860000000000001", "17900000000000001", "klant_marieke", IG_ID)
    assert m.created_at == datetime.fromtimestamp(1763803000, UTC)  # no time of its own: the entry's

    wa = parse_delivery(load("whatsapp_messages.json"), received=now)
    texts = [m.text for m in wa.mentions]
    assert texts == ["Mijn bestelling is beschadigd aangekomen.", "[image] Zo zag de doos eruit",
                     "[reaction] \U0001F622"]
    first = wa.mentions[0]
    assert (first.source, first.thread_id, first.author.id, first.author.handle, first.author.name,
            first.account) == ("whatsapp", "31612345678", "31612345678", "31612345678",
                               "Sanne Bakker", PHONE_ID)
    assert wa.mentions[2].in_reply_to == first.id  # a reaction points at the message it reacts to
    assert any("131047" in r and "31611112222" in r for r in wa.reports)  # failed delivery reported
    assert wa.ignored["whatsapp:status:delivered"] == 1


def test_parse_edges() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError):
        parse_delivery([1, 2], received=now)
    parsed = parse_delivery({"object": "page", "entry": [
        {"id": PAGE_ID, "changes": [
            facebook_comment(comment_id="1_1", post_id=POST_ID, message="x", author=None),
            {"field": "feed", "value": {"item": "comment", "verb": "add"}},  # no comment id
            {"field": "mention", "value": {"item": "post"}},
        ]}, "nonsense"]}, received=now)
    assert parsed.mentions[0].author.id == "unknown:1_1"  # anonymous authors are not merged
    assert len(parsed.rejected) == 2 and parsed.ignored["page:mention"] == 1
    assert parse_delivery({"object": "user", "entry": [{"changes": [{"field": "x", "value": {}}]}]},
                          received=now).ignored["user:x"] == 1
    assert to_datetime(1763802900000) == to_datetime("1763802900") == to_datetime(
        "2025-11-22T09:15:00+0000")


# --- conformance with Meta's own samples -----------------------------------------------------

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/fixtures/meta is absent")


def shared(name: str) -> Any:
    """One of Meta's sample bodies in ../shared/fixtures/meta/cp4m."""
    return json.loads((SHARED / "cp4m" / name).read_text(encoding="utf-8"))


@needs_shared
def test_shared_samples_parse() -> None:
    now = datetime.now(UTC)
    valid = parse_delivery(shared("WAMessageHandlerTest.VALID.json"), received=now)
    (m,) = valid.mentions
    assert (m.source, m.id, m.thread_id, m.author.name, m.account) == (
        "whatsapp", "ABGGFlA5Fpa", "16315551181", "test user name", "123456123")
    assert m.text == "this is a text message!@#$%^&*()’"
    assert m.created_at == datetime.fromtimestamp(1504902988, UTC)
    valid2 = parse_delivery(shared("WAMessageHandlerTest.VALID2.json"), received=now)
    assert valid2.mentions[0].text == "Coolio"
    assert valid2.mentions[0].in_reply_to == "wamid.HBgLMrIwqjczMzA4MjQVAgarGBjcRjg3QkEwRjZGRTY5MERBMTUA"
    assert len(parse_delivery(shared("WebhookPayloadTest.block_at_line_20.json"),
                              received=now).mentions) == 1
    empty = parse_delivery(shared("WAMessageHandlerTest.VALID_NO_MESSAGES.json"), received=now)
    assert not empty.mentions and not empty.rejected
    failed = parse_delivery(shared("WAMessageHandlerTest.VALID_WITH_ERROR.json"), received=now)
    assert not failed.mentions and "131047" in failed.reports[0]
    # Messenger and Instagram Direct (incl. our own echo) are not comments: nothing becomes a mention
    for name in ("FBMessageHandlerTest.SAMPLE_MESSAGE.json", "FBMessageHandlerTest.SAMPLE_IG_MESSAGE.json",
                 "FBMessageHandlerTest.SAMPLE_IG_MESSAGE_ECHO.json"):
        parsed = parse_delivery(shared(name), received=now)
        assert not parsed.mentions and not parsed.rejected and sum(parsed.ignored.values()) == 1


@needs_shared
async def test_shared_signature_vector_and_delivery(start: StartBot) -> None:
    vector = json.loads((SHARED / "messenger_hmac_test_vector.json").read_text(encoding="utf-8"))
    bot = await start(env={"meta_app_secret": vector["app_secret"],
                           "meta_verify_token": vector["verify_token_example"]})
    raw = vector["raw_body"].encode()
    headers = {"Content-Type": "application/json", vector["header"]: vector["expected_signature"]}
    status, body = await deliver(bot, None, raw=raw, headers=headers)
    assert status == 200 and body["accepted"] == 0 and body["ignored"] == 1
    tampered = raw.replace(b"asdfa", b"asdfb")
    status, _ = await deliver(bot, None, raw=tampered, headers=headers)
    assert status == 401
    async with bot.http.get(bot.url("/webhooks/meta"), params={
            "hub.mode": "subscribe", "hub.verify_token": vector["verify_token_example"],
            "hub.challenge": "1158201444"}) as r:
        assert r.status == 200 and await r.text() == "1158201444"
    # a real WhatsApp body, signed with the same secret, is stored once
    payload = (SHARED / "cp4m" / "WAMessageHandlerTest.VALID.json").read_bytes()
    status, body = await deliver(bot, None, raw=payload, secret=vector["app_secret"])
    assert status == 200 and body["accepted"] == 1
    mention = await stored(bot, "whatsapp", "ABGGFlA5Fpa")
    assert mention is not None and mention.account == "123456123" and mention.author_name == "test user name"


# --- the webhook routes ----------------------------------------------------------------------

async def test_handshake(start: StartBot) -> None:
    bot = await start()
    url = bot.url("/webhooks/meta")
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "8234591"}
    async with bot.http.get(url, params=good) as r:
        assert r.status == 200 and r.content_type == "text/plain" and await r.text() == "8234591"
    async with bot.http.get(url, params={**good, "hub.verify_token": "wrong"}) as r:
        assert r.status == 403
    async with bot.http.get(url, params={**good, "hub.mode": "unsubscribe"}) as r:
        assert r.status == 403
    async with bot.http.get(url) as r:
        assert r.status == 403


async def test_signatures_and_bad_bodies(start: StartBot) -> None:
    bot = await start()
    payload = page_delivery(PAGE_ID, [facebook_comment(comment_id="5_1", post_id=POST_ID, message="Hoi")])
    body = json.dumps(payload).encode()
    assert (await deliver(bot, None, raw=body, headers={"Content-Type": "application/json"}))[0] == 401
    assert (await deliver(bot, payload, secret="someone-else"))[0] == 401
    wrong = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (await deliver(bot, None, raw=body, headers=wrong))[0] == 401
    assert await count(bot, Mention) == 0  # nothing unsigned was read

    status, answer = await deliver(bot, None, raw=b"{not json")
    assert status == 400 and "JSON" in answer["error"]
    status, answer = await deliver(bot, [1, 2, 3])
    assert status == 400 and "entry" in answer["error"]
    status, answer = await deliver(bot, payload)
    assert status == 200 and answer["accepted"] == 1


async def test_not_configured_answers_503(start: StartBot) -> None:
    bot = await start(env={"meta_app_secret": None, "meta_verify_token": None, "meta_page_token": None},
                      meta={"instagram_id": None})
    assert (await deliver(bot, page_delivery(PAGE_ID, [])))[0] == 503
    async with bot.http.get(bot.url("/webhooks/meta"), params={"hub.mode": "subscribe"}) as r:
        assert r.status == 503 and "META_VERIFY_TOKEN" in (await r.json())["error"]
    assert set(bot.rt.reply_sinks) == {"whatsapp"}  # only WhatsApp has its id and token


async def test_batch_of_1000_once(start: StartBot) -> None:
    bot = await start()  # no Slack: the cards wait in the outbox
    changes = [facebook_comment(comment_id=f"555000111_{n}", post_id=POST_ID, message=f"Vraag {n}",
                                author=(f"2400{n % 500}", f"Klant {n % 500}")) for n in range(1000)]
    payload = page_delivery(PAGE_ID, changes)
    status, answer = await deliver(bot, payload)
    assert status == 200 and answer["accepted"] == 1000 and answer["duplicates"] == 0
    assert await count(bot, Mention) == 1000
    assert await count(bot, Case) == 500  # an author's second comment on the post joins their case
    assert await count(bot, OutboxItem, OutboxItem.kind == "card.post") == 500
    rows = await count(bot, OutboxItem)

    status, answer = await deliver(bot, payload)  # Meta delivers it again
    assert status == 200 and answer["accepted"] == 0 and answer["duplicates"] == 1000
    after = (await count(bot, Mention), await count(bot, Case), await count(bot, OutboxItem))
    assert after == (1000, 500, rows)
    async with bot.http.get(bot.url("/metrics")) as r:
        metrics = await r.text()
    assert re.search(r'webcare_mentions_ingested_total\{source="facebook"\} 1000', metrics)
    assert re.search(r'webcare_mentions_duplicate_total\{source="facebook"\} 1000', metrics)


async def test_edit_and_remove_update_the_stored_mention(bot: Bot, fake_slack: FakeSlack) -> None:
    await deliver(bot, load("facebook_feed.json"))
    assert (await stored(bot, "facebook", "555000111_777000003")) is None  # the page's own comment
    status, answer = await deliver(bot, load("facebook_feed_edited.json"))
    assert status == 200 and answer["changed"] == 1
    edited = await stored(bot, "facebook", "555000111_777000001")
    assert edited is not None and "ordernummer 4711" in edited.text and edited.edited_at is not None
    status, answer = await deliver(bot, load("facebook_feed_remove.json"))
    assert answer["changed"] == 1
    removed = await stored(bot, "facebook", "555000111_777000002")
    assert removed is not None and removed.deleted_at is not None and removed.text == ""
    assert (await deliver(bot, load("facebook_feed_remove.json")))[1]["changed"] == 0  # redelivered
    assert (await deliver(bot, load("facebook_feed_edited.json")))[1]["changed"] == 0


# --- replies, likes and hides ------------------------------------------------------------------

async def test_facebook_comment_to_reply(bot: Bot, fake_slack: FakeSlack, graph: FakeGraph) -> None:
    comment_id = "555000111_900001"
    await deliver(bot, page_delivery(PAGE_ID, [facebook_comment(
        comment_id=comment_id, post_id=POST_ID, message="Mijn pakket is zoek", author=("2401", "Jan"))]))
    card = await card_for(fake_slack, "Mijn pakket is zoek")
    assert {"case.reply", "case.like", "case.hide"} <= set(card_actions(card))
    value = card_actions(card)["case.like"]
    status, _ = await reply_from_slack(bot, fake_slack, card, "pakket is zoek",
                                       "Wat vervelend, Jan! Stuur je ons een DM?")
    assert status == 200
    call = await graph.wait_for(lambda: graph.calls_to("POST", f"{comment_id}/comments"))
    assert call[0].body == {"message": "Wat vervelend, Jan! Stuur je ons een DM?"}
    assert call[0].token == PAGE_TOKEN
    await fake_slack.wait_for(lambda: shows_sent(card))
    async with bot.rt.maker() as session:
        reply = await session.scalar(select(Reply))
    assert reply is not None and reply.external_id == graph.replies[comment_id][0]["id"]

    # like, hide and show again, from the card's buttons
    await bot.click(fake_slack, action_id="case.like", value=value, message_ts=card["ts"])
    await graph.wait_for(lambda: comment_id in graph.likes)
    await bot.click(fake_slack, action_id="case.hide", value=value, message_ts=card["ts"])
    await graph.wait_for(lambda: graph.hidden.get(comment_id) is True)
    assert graph.calls_to("POST", comment_id)[0].body == {"is_hidden": True}
    await fake_slack.wait_for(lambda: "case.unhide" in card_actions(card))
    await bot.click(fake_slack, action_id="case.unhide", value=value, message_ts=card["ts"])
    await graph.wait_for(lambda: graph.hidden.get(comment_id) is False)


async def test_instagram_comment_to_reply(bot: Bot, fake_slack: FakeSlack, graph: FakeGraph) -> None:
    await deliver(bot, instagram_delivery(IG_ID, [instagram_comment(
        comment_id="17860000000009001", media_id="17900000000000001", text="Is dit ook in maat 42?")]))
    card = await card_for(fake_slack, "maat 42")
    actions = set(card_actions(card))
    assert "case.reply" in actions and "case.hide" in actions and "case.like" not in actions
    await reply_from_slack(bot, fake_slack, card, "maat 42", "Zeker, vanaf volgende week!")
    call = await graph.wait_for(lambda: graph.calls_to("POST", "17860000000009001/replies"))
    assert call[0].body == {"message": "Zeker, vanaf volgende week!"}
    await fake_slack.wait_for(lambda: shows_sent(card))
    await bot.click(fake_slack, action_id="case.hide", value=card_actions(card)["case.hide"],
                    message_ts=card["ts"])
    await graph.wait_for(lambda: graph.hidden.get("17860000000009001") is True)
    assert graph.calls_to("POST", "17860000000009001")[0].body == {"hide": True}


async def test_whatsapp_reply_within_the_window(bot: Bot, fake_slack: FakeSlack, graph: FakeGraph) -> None:
    wa_id = "31612345678"
    at = datetime.now(UTC) - timedelta(hours=1)
    await deliver(bot, graph.whatsapp_delivery(
        whatsapp_message(wa_id=wa_id, message_id="wamid.A1", text="Kan ik mijn order annuleren?", at=at),
        names={wa_id: "Sanne"}))
    card = await card_for(fake_slack, "order annuleren")
    assert "case.like" not in card_actions(card) and "case.hide" not in card_actions(card)
    await reply_from_slack(bot, fake_slack, card, "order annuleren", "Ja, dat kan tot het verzenden.")
    await graph.wait_for(lambda: graph.whatsapp)
    sent = graph.whatsapp[0]
    assert sent["to"] == wa_id and sent["type"] == "text" and sent["messaging_product"] == "whatsapp"
    assert sent["text"]["body"] == "Ja, dat kan tot het verzenden."
    assert graph.calls_to("POST", f"{PHONE_ID}/messages")[0].token == WA_TOKEN
    await fake_slack.wait_for(lambda: shows_sent(card))

    # The customer's next message joins the same case (one conversation per customer).
    await deliver(bot, graph.whatsapp_delivery(whatsapp_message(wa_id=wa_id, message_id="wamid.A2",
                                                                text="Top, dank je!")))
    assert (await count(bot, Mention), await count(bot, Case)) == (2, 1)


async def test_whatsapp_reply_outside_the_window(bot: Bot, fake_slack: FakeSlack, graph: FakeGraph) -> None:
    old = datetime.now(UTC) - timedelta(hours=25)
    await deliver(bot, graph.whatsapp_delivery(
        whatsapp_message(wa_id="31611110000", message_id="wamid.OLD", text="Hallo? Iemand daar?", at=old)))
    card = await card_for(fake_slack, "Iemand daar")
    assert "case.reply" not in card_actions(card)  # the card offers no reply once the window closed

    # Inside our window but Meta says otherwise (e.g. clocks differ): the reason shows on the card.
    recent = datetime.now(UTC) - timedelta(hours=1)
    await deliver(bot, graph.whatsapp_delivery(
        whatsapp_message(wa_id="31622220000", message_id="wamid.NEW", text="Waar is mijn bon?", at=recent)))
    graph.last_inbound["31622220000"] = old
    card2 = await card_for(fake_slack, "mijn bon")
    await reply_from_slack(bot, fake_slack, card2, "mijn bon", "Die mailen we je.")
    await fake_slack.wait_for(lambda: "24-hour" in card_text(card2) and "niet verstuurd" in card_text(card2))
    assert not graph.whatsapp and len(graph.calls_to("POST", f"{PHONE_ID}/messages")) == 1


async def test_whatsapp_submit_after_the_window_is_refused(bot: Bot, fake_slack: FakeSlack,
                                                           graph: FakeGraph) -> None:
    """A modal opened in time but submitted after the window closed: the core refuses it."""
    old = datetime.now(UTC) - timedelta(hours=30)
    await deliver(bot, graph.whatsapp_delivery(
        whatsapp_message(wa_id="31633330000", message_id="wamid.LATE", text="Nog iemand?", at=old)))
    async with bot.rt.maker() as session:
        ref = await session.scalar(select(Case.ref))
    assert ref is not None
    status, text = await bot.submit(callback_id="case.reply", private_metadata=ref_value(ref),
                                    values={"reply": {"text": "Ja hoor"}})
    assert status == 200 and '"response_action":"errors"' in text.replace(" ", "") and "24" in text
    assert not graph.calls and await count(bot, Reply) == 0


async def test_sink_calls_and_error_mapping(graph: FakeGraph) -> None:
    async with aiohttp.ClientSession() as http:
        def sink(network: Any, token: str = PAGE_TOKEN) -> MetaReplySink:
            return MetaReplySink(network, account=PHONE_ID, graph=GraphClient(
                base_url=graph.base_url, token=token, http=http, timeout=2))

        fb, ig, wa = sink("facebook"), sink("instagram"), sink("whatsapp", WA_TOKEN)
        target = MentionTarget(source="facebook", mention_id="5_77")
        await fb.hide(target, True)
        await fb.hide(target, False)
        await fb.like(target)
        await ig.hide(MentionTarget(source="instagram", mention_id="178"), True)
        assert [c.body for c in graph.calls_to("POST", "5_77")] == [{"is_hidden": True}, {"is_hidden": False}]
        assert graph.hidden == {"5_77": False, "178": True} and graph.likes == {"5_77"}
        with pytest.raises(PermanentError):
            await ig.like(MentionTarget(source="instagram", mention_id="178"))

        reply = OutboundReply(case_ref="c", source="facebook", mention_id="5_77", thread_id=POST_ID,
                              text="Dank!", agent="U1", idempotency_key="k1")
        graph.fail(429, 4, "Application request limit reached", headers={"Retry-After": "7"})
        with pytest.raises(RateLimited) as limited:
            await fb.send_reply(reply)
        assert limited.value.retry_after == 7
        graph.fail(400, 613, "Calls to this api have exceeded the rate limit.")
        with pytest.raises(RateLimited) as limited:
            await fb.send_reply(reply)
        assert limited.value.retry_after == 60
        graph.fail(400, 100, "Unsupported post request. Object does not exist", subcode=33)
        with pytest.raises(PermanentError, match="Object does not exist"):
            await fb.send_reply(reply)
        graph.fail(500, 2, "Service temporarily unavailable")
        with pytest.raises(TransientError):
            await fb.send_reply(reply)
        with pytest.raises(PermanentError, match="Invalid OAuth"):
            await sink("facebook", "wrong").send_reply(reply)
        assert await fb.send_reply(reply) == graph.replies["5_77"][0]["id"]

        wa_reply = OutboundReply(case_ref="c", source="whatsapp", mention_id="wamid.X", thread_id="316",
                                 text="Hoi", agent="U1", idempotency_key="k2", author_id="316",
                                 account=PHONE_ID, created_at=datetime.now(UTC) - timedelta(hours=2))
        with pytest.raises(PermanentError, match="24-hour"):  # Meta refuses: 131047
            await wa.send_reply(wa_reply)
        graph.last_inbound["316"] = datetime.now(UTC) - timedelta(hours=2)
        graph.whatsapp_answer = {"messaging_product": "whatsapp", "contacts": [],
                                 "messages": [{"id": "wamid.HBgLMTY1", "message_status": "accepted"}]}
        assert await wa.send_reply(wa_reply) == "wamid.HBgLMTY1"
        calls = len(graph.calls)
        stale = replace(wa_reply, created_at=datetime.now(UTC) - timedelta(hours=25))
        with pytest.raises(PermanentError) as refused:  # refused before calling Meta
            await wa.send_reply(stale)
        assert str(refused.value) == WINDOW_REASON and len(graph.calls) == calls

    await graph.stop()
    async with aiohttp.ClientSession() as http:
        gone = MetaReplySink("facebook", graph=GraphClient(base_url=graph.base_url, token=PAGE_TOKEN,
                                                           http=http, timeout=1))
        with pytest.raises(TransientError):
            await gone.send_reply(reply)


async def test_check(db_url: str, graph: FakeGraph) -> None:
    assert await meta_plugin.check(meta_settings(db_url, slack=None, graph=graph)) == []
    bad = meta_settings(db_url, slack=None, graph=graph, env={"meta_whatsapp_token": "nope"},
                        meta={"page_id": "999"})
    problems = await meta_plugin.check(bad)
    assert len(problems) == 2 and all(p.startswith("meta: ") for p in problems)
    assert any("facebook account 999" in p for p in problems)
    assert any("whatsapp account" in p and "Invalid OAuth" in p for p in problems)
    half = meta_settings(db_url, slack=None, graph=graph,
                         env={"meta_page_token": None, "meta_app_secret": None})
    problems = await meta_plugin.check(half)
    assert any("META_APP_SECRET is not set" in p for p in problems)
    assert any("facebook (set META_PAGE_TOKEN)" in p for p in problems)
    assert any("instagram (set META_PAGE_TOKEN)" in p for p in problems) and len(problems) == 3
    off = Settings(config=AppConfig.model_validate(base_config()),
                   env=Env.model_validate({"database_url": db_url}))
    assert await meta_plugin.check(off) == []
