"""A storm end to end through the fake Slack: the alert card shows the uploaded chart image, and goes
out with the text chart when the upload fails."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.fakes.reply_receiver import ReplyReceiver
from tests.fakes.slack_api import FakeSlack
from tests.harness import card_text
from tests.test_surge_e2e import ALERTS, ROLES, storm

SURGE = {"check": "200ms", "card_every": "500ms"}


async def alert_card(bot: Any, fake_slack: FakeSlack) -> dict[str, Any]:
    for batch in range(3):
        status, body = await bot.post_mentions(storm(batch * 40, 40))
        assert status == 202 and body["accepted"] == 40
    card: dict[str, Any] = await fake_slack.wait_for(lambda: fake_slack.messages[ALERTS][0], timeout=15)
    return card


def images(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in card["blocks"] if b["type"] == "image"]


async def test_the_alert_card_shows_the_rate_chart_uploaded_to_slack(
    bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver
) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, slack_config={"alerts_channel": ALERTS},
                            roles=ROLES, surge=SURGE)
    card = await alert_card(bot, fake_slack)
    [image] = images(card)
    file_id = image["slack_file"]["id"]
    file = fake_slack.files[file_id]  # uploaded through the three documented steps, not shared
    assert file["mimetype"] == "image/png" and file["channels"] == [] and not file["shares"]
    assert Image.open(io.BytesIO(fake_slack.file_data[file_id])).size == (600, 200)
    assert [p["status"] for p in fake_slack.upload_posts] == [200]
    assert "Verloop" in card_text(card) and image["alt_text"].startswith("Berichten per uur")
    # the card's updates as the storm grows reuse the file (a new one at most every two minutes)
    await bot.post_mentions(storm(120, 40))
    updated = await fake_slack.wait_for(
        lambda: next(u for u in fake_slack.updates if u["channel"] == ALERTS and u["ts"] == card["ts"]))
    assert images(updated) == [image]
    assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 1


async def test_a_failed_upload_still_posts_the_alert_card(
    bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver
) -> None:
    fake_slack.upload_error = "file_uploads_disabled"  # an admin turned uploads off
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url, slack_config={"alerts_channel": ALERTS},
                            roles=ROLES, surge=SURGE)
    card = await alert_card(bot, fake_slack)
    assert not images(card) and "Verloop" in card_text(card) and "surge.ack" in card_text(card)
    assert fake_slack.calls_to("files.getUploadURLExternal") and not fake_slack.files


async def test_charts_can_be_turned_off(
    bot_factory: Any, fake_slack: FakeSlack, receiver: ReplyReceiver
) -> None:
    bot = await bot_factory(slack=fake_slack, reply_url=receiver.url,
                            slack_config={"alerts_channel": ALERTS, "charts": False}, roles=ROLES, surge=SURGE)
    card = await alert_card(bot, fake_slack)
    assert not images(card) and "Verloop" in card_text(card)
    assert not fake_slack.calls_to("files.getUploadURLExternal")
