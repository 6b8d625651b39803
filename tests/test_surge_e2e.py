"""A storm on one post, end to end through the fake Slack: alert, clusters instead of cards, crisis mode."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.models import Case, Mention, Surge
from bot.services.surges import surge_value
from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack, block_action_body, form_encode_payload, slash_command_body
from tests.harness import CHANNEL, card_text, mention, wait_until

ALERTS = "C0ALERTS"
ROLES = {
    "agents": ["U0AGENT1"],
    "spokespersons": ["U0SPOKE1"],
    "managers": ["U0MGR1"],
    "coordinators": ["U0COORD1"],
}
ANGRY = [
    "Schaam je HEMA, weg met die campagne!",
    "Walgelijk dit, HEMA. Ik kom nooit meer.",
    "Boycot HEMA!!! schandalig",
    "Wat een schandalige actie van HEMA, echt walgelijk",
]


def storm(start: int, n: int) -> list[dict[str, Any]]:
    """n comments on one Facebook post, each from someone else, a few angry wordings with variations."""
    return [
        mention(
            f"s{i}",
            source="facebook",
            thread_id="post1",
            venue="own",
            author={"id": f"fan{i}", "handle": f"fan{i}", "followers": 10},
            text=f"{ANGRY[i % len(ANGRY)]} {'!' * (i % 3)}",
        )
        for i in range(start, start + n)
    ]


async def test_a_storm_on_one_post_raises_an_alert_and_collapses_into_clusters(
    bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver
) -> None:
    bot = await bot_factory(
        slack=fake_slack,
        reply_url=receiver.url,
        slack_config={"alerts_channel": ALERTS},
        roles=ROLES,
        surge={"check": "200ms", "card_every": "500ms", "ack_within": "2s", "cluster_cards": 1},
    )
    for batch in range(3):
        status, body = await bot.post_mentions(storm(batch * 40, 40))
        assert status == 202 and body["accepted"] == 40
    alert = await fake_slack.wait_for(lambda: fake_slack.messages[ALERTS][0], timeout=15)
    assert "storm op" in card_text(alert) and "surge.ack" in card_text(alert)
    at_alarm = int(re.search(r"(\d+) berichten van", card_text(alert)).group(1))  # type: ignore[union-attr]
    manager = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0MGR1")[0])
    assert "storm" in manager["text"]
    await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0SPOKE1"))

    # from now on the post's new comments join cluster cards instead of a card each (and the
    # cards of the storm still waiting for Slack's pace are taken back into the clusters)
    for batch in range(3, 8):
        await bot.post_mentions(storm(batch * 40, 40))
    await fake_slack.wait_for(
        lambda: [m for m in fake_slack.messages[CHANNEL] if "vergelijkbare berichten" in m["text"]] or None
    )
    await asyncio.sleep(1.5)  # coalesced updates
    top = [m for m in fake_slack.messages[CHANNEL] if not m.get("thread_ts")]
    clusters = [m for m in top if "vergelijkbare berichten" in m["text"]]
    # only the largest group (and one that outgrows it) gets a card of its own: cluster_cards 1
    assert 1 <= len(clusters) <= 2 and len(top) - len(clusters) < 120, (len(top), len(clusters))

    async def tally() -> tuple[int, int, int]:
        async with bot.rt.maker() as session:
            stored = await session.scalar(select(func.count()).select_from(Mention))
            clustered = await session.scalar(
                select(func.count()).select_from(Case).where(Case.status == "clustered")
            )
            counted = await session.scalar(
                select(func.count()).select_from(Mention).where(Mention.cluster_id.is_not(None))
            )
        return stored or 0, clustered or 0, counted or 0

    async def all_counted() -> tuple[int, int, int] | None:  # the runner counts what is a second old
        stored, clustered, counted = await tally()
        return (stored, clustered, counted) if stored == 320 and counted == clustered >= 200 else None

    stored, clustered, counted = await wait_until(all_counted, what="every clustered mention counted")
    assert stored == 320 and clustered >= 200
    assert counted == clustered  # every mention stays stored and counted in its cluster
    # one storm card in the mention channel counts every clustered message (updated in place)
    storms = await fake_slack.wait_for(  # (posted at the channel's pace: it may queue behind cards)
        lambda: [m for m in fake_slack.messages[CHANNEL] if m["text"].startswith("Storm:")], timeout=10,
        what="the storm card")
    assert len(storms) == 1
    await fake_slack.wait_for(lambda: f"Storm: {counted} berichten" in card_text(storms[0]), timeout=10)
    # it links to the cluster cards (which say when they counted: the storm card keeps counting)
    await fake_slack.wait_for(lambda: f"archives/{CHANNEL}/p" in card_text(storms[0]), timeout=10)
    assert all("geteld om" in card_text(m) for m in clusters)
    # the alert card follows the storm: its figures now, not those at the alarm
    async with bot.rt.maker() as session:
        figures = await session.scalar(select(Surge.messages))
    assert figures is not None and figures > at_alarm  # (the runner's first round starts after batch 0)
    await fake_slack.wait_for(lambda: f"{figures} berichten van" in card_text(alert), timeout=10)
    assert "Waarover: " in card_text(alert) and "walgelijk" in card_text(alert).lower()  # the top words
    shows = [b for b in storms[0]["blocks"] if b.get("accessory", {}).get("action_id") == "cluster.show"]
    assert len(shows) >= 3  # every group is listed with its messages a click away, carded or not
    # "Alle groepen": every group of the storm in a modal, each opening its messages on top of it
    async with bot.rt.maker() as session:
        ref = await session.scalar(select(Surge.ref))
    await bot.click(fake_slack, action_id="surge.groups", value=surge_value(str(ref)),
                    message_ts=storms[0]["ts"])
    groups = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if "grootste van" in str(v)))
    group_values = [b["accessory"]["value"] for b in groups["blocks"] if b.get("accessory")]
    assert len(group_values) >= len(shows)
    body = block_action_body(action_id="cluster.show", value=group_values[-1], user_id="U0AGENT1",
                             channel_id=CHANNEL, message_ts="1.1", trigger_id=fake_slack.issue_trigger_id())
    for key in ("channel", "message"):
        body.pop(key)
    body["container"], body["view"] = {"type": "view", "view_id": groups["id"]}, groups
    status, _ = await bot.slack(form_encode_payload(body), content_type="application/x-www-form-urlencoded")
    assert status == 200
    await fake_slack.wait_for(lambda: fake_slack.calls_to("views.push"))
    await fake_slack.wait_for(lambda: sum("De nieuwste" in str(v) for v in fake_slack.views.values()) >= 1)

    # an agent may not declare a crisis; the manager acknowledges and does
    value = next(
        el["value"]
        for b in alert["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"] == "surge.crisis"
    )
    await bot.click(fake_slack, action_id="surge.crisis", value=value, user="U0AGENT1", message_ts=alert["ts"])
    await fake_slack.wait_for(lambda: fake_slack.ephemerals)
    await bot.click(fake_slack, action_id="surge.ack", value=value, user="U0MGR1", message_ts=alert["ts"])
    await fake_slack.wait_for(lambda: "Opgepakt door <@U0MGR1>" in card_text(alert))
    await bot.click(fake_slack, action_id="surge.crisis", value=value, user="U0MGR1", message_ts=alert["ts"])
    await fake_slack.wait_for(lambda: "Crisismodus sinds" in card_text(alert))
    # crisis mode: a reply on that post needs the spokesperson
    await bot.post_mentions(
        mention(
            "late1",
            source="facebook",
            thread_id="post1",
            text="Wat is jullie reactie?",
            author={"id": "q1", "handle": "q1"},
        )
    )

    async def needs_approval() -> bool:
        async with bot.rt.maker() as session:
            return bool(
                await session.scalar(select(Mention.needs_approval).where(Mention.external_id == "mlate1"))
            )

    await wait_until(needs_approval, what="the mention held for the spokesperson")
    async with bot.rt.maker() as session:
        surge = await session.scalar(select(Surge))
    assert surge is not None and surge.scope == "thread" and surge.key == "thread:facebook:post1"
    # Slack stays usable: far fewer posts than mentions
    posts = len(fake_slack.calls_to("chat.postMessage"))
    assert posts < 321 * 0.5, posts

    # the spokesperson approves a holding statement once; agents answer a whole cluster with it,
    # every author in other words
    await bot.click(
        fake_slack, action_id="surge.statement", value=value, user="U0SPOKE1", message_ts=alert["ts"]
    )
    view = await fake_slack.wait_for(
        lambda: next(v for v in fake_slack.views.values() if v.get("callback_id") == "surge.statement")
    )
    statement = "We begrijpen de ophef en halen de campagne offline. Vandaag volgt meer uitleg."
    status, body = await bot.submit(
        callback_id="surge.statement",
        private_metadata=view["private_metadata"],
        values={"statement": {"text": statement}},
        user="U0SPOKE1",
    )
    assert status == 200 and "errors" not in body
    await fake_slack.wait_for(lambda: "Verklaring goedgekeurd door <@U0SPOKE1>" in card_text(alert))
    cluster = await fake_slack.wait_for(
        lambda: next(m for m in fake_slack.messages[CHANNEL] if "cluster.reply" in card_text(m))
    )
    reply_value = next(
        el["value"]
        for b in cluster["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"] == "cluster.reply"
    )
    await bot.click(fake_slack, action_id="cluster.show", value=reply_value, message_ts=cluster["ts"])
    listing = await fake_slack.wait_for(  # the modal opens at once and shows the messages when read
        lambda: next(v for v in fake_slack.views.values() if "De nieuwste" in str(v)))
    assert "@fan" in str(listing)  # every message stays reachable from its cluster
    await bot.click(fake_slack, action_id="cluster.reply", value=reply_value, message_ts=cluster["ts"])
    sent = await receiver.wait_for(
        lambda: list(receiver.delivered.values()) if len(receiver.delivered) >= 5 else None, timeout=20
    )
    texts = [d["text"] for d in sent]
    assert all(statement in x for x in texts) and len(set(texts)) == len(texts)  # never identical copies
    # closing the alert writes the summary in its thread
    await bot.click(fake_slack, action_id="surge.resolve", value=value, user="U0MGR1", message_ts=alert["ts"])
    await fake_slack.wait_for(
        lambda: any(
            "Samenvatting" in m["text"]
            for m in fake_slack.messages[ALERTS]
            if m.get("thread_ts") == alert["ts"]
        )
    )


async def test_a_threat_is_hidden_on_its_card_shown_on_request_and_sent_to_security(
    bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver
) -> None:
    from bot.pipeline import apply_changes
    from bot.ports import MentionChange

    bot = await bot_factory(
        slack=fake_slack, reply_url=receiver.url, roles=ROLES, surge={"security": ["U0SEC1"]}
    )
    threat = "Ik weet waar jullie filiaal in Utrecht zit, ik kom vanavond met een mes voor die kassamedewerker"
    await bot.post_mentions(mention("t1", text=threat))
    card = await fake_slack.wait_for(lambda: fake_slack.messages[CHANNEL][0])
    assert "bedreiging" in card_text(card) and "kassamedewerker" not in card_text(card)
    security = await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0SEC1")[0])
    assert "Bedreiging" in security["text"] and "kassamedewerker" in card_text(security)
    show = next(
        el["value"]
        for b in card["blocks"]
        if b["type"] == "actions"
        for el in b["elements"]
        if el["action_id"] == "case.show"
    )
    await bot.click(fake_slack, action_id="case.show", value=show, message_ts=card["ts"])
    await fake_slack.wait_for(lambda: next(v for v in fake_slack.views.values() if "kassamedewerker" in str(v)))
    # the author deletes the post: the text stays, as evidence
    async with bot.rt.uow() as session:
        await apply_changes(
            session, [MentionChange(source="forum-x", mention_id="mt1", deleted=True)], now=datetime.now(UTC)
        )
    async with bot.rt.maker() as session:
        kept = await session.scalar(select(Mention).where(Mention.external_id == "mt1"))
    assert kept is not None and kept.deleted_at is not None and "kassamedewerker" in kept.text


async def test_crisis_by_command_on_a_topic_before_any_storm(
    bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver
) -> None:
    """The news is faster than the comments: a manager turns crisis mode on for a topic by command."""
    bot = await bot_factory(
        slack=fake_slack,
        reply_url=receiver.url,
        slack_config={"alerts_channel": ALERTS},
        roles=ROLES,
        surge={"check": "200ms", "card_every": "500ms"},
    )

    async def webcare(text: str, user: str) -> str:
        before = len(fake_slack.responses)
        body = slash_command_body(command="/webcare", text=text, user_id=user, channel_id=CHANNEL,
                                  response_url=fake_slack.response_url(),
                                  trigger_id=fake_slack.issue_trigger_id())
        status, _ = await bot.slack(body, content_type="application/x-www-form-urlencoded")
        assert status == 200
        response = await fake_slack.wait_for(lambda: fake_slack.responses[before])
        assert response["response_type"] == "ephemeral"
        return str(response["text"])

    assert "geen storm" in await webcare("crisis", "U0MGR1")
    assert "Onbekend onderwerp" in await webcare("crisis kerstactie", "U0MGR1")
    assert "`privacy`" in await webcare("crisis kerstactie", "U0MGR1")  # the known topics are listed
    assert "Dat mag alleen" in await webcare("crisis privacy", "U0AGENT1")  # agents may not
    async with bot.rt.maker() as session:
        assert await session.scalar(select(func.count()).select_from(Surge)) == 0
    assert "Crisismodus staat aan voor *privacy*" in await webcare("crisis privacy", "U0MGR1")
    alert = await fake_slack.wait_for(lambda: fake_slack.messages[ALERTS][0], timeout=10)
    await fake_slack.wait_for(lambda: "Crisismodus sinds" in card_text(alert))
    await fake_slack.wait_for(lambda: fake_slack.dm_messages("U0SPOKE1"))
    listing = await webcare("crisis", "U0SPOKE1")
    assert "1. Crisis: privacy" in listing and "crisismodus" in listing
    assert "Crisismodus staat aan" in await webcare("crisis 1", "U0MGR1")  # again: nothing changes
    assert "geen storm nummer 7" in await webcare("crisis 7", "U0MGR1")  # a clear answer, nothing changes

    # from now on a reply on that topic needs the spokesperson
    await bot.post_mentions(mention("dl1", text="Is er een datalek geweest? Mijn gegevens zijn gelekt!",
                                    author={"id": "p1", "handle": "p1"}))

    async def needs_approval() -> bool:
        async with bot.rt.maker() as session:
            query = select(Mention.needs_approval).where(Mention.external_id == "mdl1")
            return bool(await session.scalar(query))

    await wait_until(needs_approval, what="the mention held for the spokesperson")
    async with bot.rt.maker() as session:
        surges = list(await session.scalars(select(Surge)))
    assert len(surges) == 1 and surges[0].key == "topic:privacy" and surges[0].crisis_by == "U0MGR1"
