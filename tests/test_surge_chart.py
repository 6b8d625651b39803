"""The alert card's chart image: the pure PNG renderer, the card's image block, and the uploads at
Slack's boundary (the fake Web API), with a hand-driven clock for the two-minute reuse."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.i18n import Translator
from bot.ports import MessageRef, PermanentError
from bot.views import SurgeAlert
from handlers.slack.chart_uploads import CHART_EVERY, ChartUploads
from handlers.slack.chat import SlackChat
from handlers.slack.surge_blocks import ChartImage, chart_alt, render_surge
from handlers.slack.surge_chart import HEIGHT, RATE, WIDTH, rate_chart
from tests.fakes.slack_api import FakeSlack

AT = datetime(2026, 11, 22, 9, 15, tzinfo=UTC)
ALERTS = "C0ALERTS"
NL = Translator("nl")


def history(*rates: float, start: datetime = AT) -> tuple[tuple[datetime, float], ...]:
    return tuple((start + timedelta(minutes=i), float(r)) for i, r in enumerate(rates))


def alert(points: tuple[tuple[datetime, float], ...] = history(10, 40, 120, 300), *, ref: str = "SuRgE1234567",
          expected: float = 12.0) -> SurgeAlert:
    return SurgeAlert(ref=ref, scope="thread", label="facebook post", level="alert", severity="high",
                      state="open", started_at=AT, raised_at=AT, messages=120, authors=110, negative=90,
                      threats=0, rate_per_hour=points[-1][1] if points else 0.0, expected_per_hour=expected,
                      history=points)


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def image_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "image"]


# --- the renderer ------------------------------------------------------------------------------

@pytest.mark.parametrize("points, expected", [
    (history(10, 40, 120, 300, 280), 12.0),
    ((), 12.0),                                          # nothing drawn yet: axes and the normal
    (history(420), 12.0),                                # one point
    (history(10, 40, 120), 0.0),                         # nothing is normal (a new thread)
    ((), 0.0),
    (history(0, 0, 0), 0.0),                             # all zero
    (history(float("nan"), -5, float("inf"), 30), 3.0),  # nonsense is drawn as zero
    (((AT, 5.0), (AT, 9.0)), 2.0),                       # two points at one time
    (history(*range(60), start=AT - timedelta(days=2)), 1.0),  # more than a day
])
def test_the_chart_is_a_small_deterministic_png(points: tuple[tuple[datetime, float], ...],
                                                 expected: float) -> None:
    png = rate_chart(points, expected, NL)
    image = decode(png)
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT) == (600, 200)
    assert png == rate_chart(points, expected, NL)  # same input, same bytes
    assert len(png) < 64_000


def test_the_chart_shows_the_rate_and_changes_with_it() -> None:
    def reds(png: bytes) -> int:  # pixels close to the rate's colour (scaling blends the edges)
        raw = decode(png).convert("RGB").tobytes()
        pixels = (raw[i : i + 3] for i in range(0, len(raw), 3))
        return sum(1 for p in pixels if max(abs(a - b) for a, b in zip(p, RATE, strict=True)) < 24)

    drawn = rate_chart(history(10, 40, 120, 300), 12.0, NL)
    assert reds(drawn) > 100  # the rate's line (and the legend)
    assert reds(rate_chart((), 12.0, NL)) == 0
    assert rate_chart(history(10, 40, 120, 310), 12.0, NL) != drawn
    assert rate_chart(history(10, 40, 120, 300), 20.0, NL) != drawn
    assert rate_chart(history(10, 40, 120, 300), 12.0, Translator("en")) != drawn  # labels translated
    naive = tuple((at.replace(tzinfo=None), rate) for at, rate in history(10, 40, 120, 300))
    assert rate_chart(naive, 12.0, NL) == drawn  # naive times are UTC


# --- the card --------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["nl", "en"])
def test_the_card_shows_the_uploaded_chart_and_keeps_the_text_chart(locale: str) -> None:
    t = Translator(locale)
    a = alert()
    text, blocks = render_surge(a, t, chart=ChartImage("F0CHART0001", chart_alt(a.history, 12.0, t)))
    [image] = image_blocks(blocks)
    assert image["slack_file"] == {"id": "F0CHART0001"} and "image_url" not in image
    assert "300" in image["alt_text"] and "12.0" in image["alt_text"]
    assert image["title"]["text"] == t("surge.chart_title")
    assert blocks.index(image) == 1  # right under the figures
    assert "▁" in blocks[2]["elements"][0]["text"]  # the line of bars stays beside it
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    assert render_surge(alert(), t) == (text, [b for b in blocks if b is not image])


# --- uploads, at the fake Slack ----------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token="xoxb-test", post_rate_per_s=100, post_burst=100) as fake_slack:
        yield fake_slack


def chat(fake: FakeSlack, clock: Clock, **kw: Any) -> SlackChat:
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
    return SlackChat(client, NL, ChartUploads(client, NL, timeout=kw.pop("timeout", 5.0), clock=clock, **kw))


def uploads(fake: FakeSlack) -> int:
    return len(fake.calls_to("files.getUploadURLExternal"))


def shown(fake: FakeSlack, ts: str) -> str | None:
    images = image_blocks(message(fake, ts)["blocks"])
    return images[0]["slack_file"]["id"] if images else None


async def posted(fake: FakeSlack) -> tuple[Clock, SlackChat, MessageRef, str]:
    """An alert card posted with its first chart: the clock, the chat, the card and the chart's file id."""
    clock = Clock()
    slack = chat(fake, clock)
    ref = await slack.post_surge(channel=ALERTS, alert=alert(), marker="k1")
    first = shown(fake, ref.ts)
    assert first is not None
    return clock, slack, ref, first


def message(fake: FakeSlack, ts: str) -> dict[str, Any]:
    return next(m for m in fake.messages[ALERTS] if m["ts"] == ts)


async def test_a_chart_is_uploaded_at_most_every_two_minutes_and_only_when_it_changed(fake: FakeSlack) -> None:
    clock = Clock()
    slack = chat(fake, clock)
    ref = await slack.post_surge(channel=ALERTS, alert=alert(), marker="k1")
    first = shown(fake, ref.ts)
    assert first in fake.files and uploads(fake) == 1
    assert decode(fake.file_data[first]).size == (600, 200)
    [image] = image_blocks(message(fake, ref.ts)["blocks"])
    assert "nu 300" in image["alt_text"] and fake.files[first]["alt_txt"] == image["alt_text"]
    assert fake.files[first]["channels"] == []  # not shared: the card shows it

    grown = alert(history(10, 40, 120, 300, 450))
    clock.now += CHART_EVERY - 1  # a new point, but too soon: the last chart again
    await slack.update_surge(ref=ref, alert=grown)
    assert shown(fake, ref.ts) == first and uploads(fake) == 1
    assert image_blocks(message(fake, ref.ts)["blocks"]) == [image]  # its words describe what it shows
    clock.now += 2  # due: a new chart
    await slack.update_surge(ref=ref, alert=grown)
    second = shown(fake, ref.ts)
    assert second != first and second in fake.files and uploads(fake) == 2
    await fake.wait_for(lambda: list(fake.files) == [second], what="the chart it replaced deleted")
    clock.now += 10 * CHART_EVERY  # long after, but nothing new to draw
    await slack.update_surge(ref=ref, alert=grown)
    assert shown(fake, ref.ts) == second and uploads(fake) == 2
    assert len(fake.calls_to("files.completeUploadExternal")) == len(fake.upload_posts) == 2


async def test_a_failed_upload_sends_the_card_without_the_image(fake: FakeSlack,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    slack = chat(fake, clock)
    fake.upload_error = "file_uploads_disabled"
    with caplog.at_level(logging.WARNING, logger="handlers.slack.chart_uploads"):
        ref = await slack.post_surge(channel=ALERTS, alert=alert(), marker="k1")
    assert shown(fake, ref.ts) is None and "▁" in str(fake.messages[ALERTS][0]["blocks"])
    assert "file_uploads_disabled" in caplog.text and "SuRgE1234567" in caplog.text
    await slack.update_surge(ref=ref, alert=alert(history(10, 40, 120, 300, 450)))
    assert uploads(fake) == 1  # not tried again within two minutes
    fake.upload_error, fake.upload_status = None, 500  # the upload URL fails (slack_sdk: SlackRequestError)
    clock.now += CHART_EVERY
    await slack.update_surge(ref=ref, alert=alert(history(10, 40, 120, 300, 460)))
    assert shown(fake, ref.ts) is None and uploads(fake) == 2 and fake.files == {}
    fake.upload_status = 200
    clock.now += CHART_EVERY
    await slack.update_surge(ref=ref, alert=alert(history(10, 40, 120, 300, 470)))
    assert shown(fake, ref.ts) in fake.files


async def test_a_slow_upload_does_not_hold_the_card(fake: FakeSlack) -> None:
    fake.upload_delay = 5.0
    ref = await chat(fake, Clock(), timeout=0.2).post_surge(channel=ALERTS, alert=alert(), marker="k1")
    assert shown(fake, ref.ts) is None and fake.messages[ALERTS][0]["blocks"]
    assert not fake.calls_to("files.completeUploadExternal")


async def test_a_chart_slack_refuses_is_left_out_and_then_replaced(fake: FakeSlack) -> None:
    clock, slack, ref, first = await posted(fake)
    del fake.files[first]  # deleted in Slack meanwhile (or not processed yet)
    await slack.update_surge(ref=ref, alert=alert())
    assert shown(fake, ref.ts) is None and fake.updates[-1]["blocks"]  # the update went out without it
    refused = [c for c in fake.calls_to("chat.update") if c.error == "invalid_blocks"]
    assert len(refused) == 1
    await slack.update_surge(ref=ref, alert=alert())  # refused twice: dropped
    assert shown(fake, ref.ts) is None and uploads(fake) == 1
    await slack.update_surge(ref=ref, alert=alert())
    assert len([c for c in fake.calls_to("chat.update") if c.error]) == 2  # not offered again
    clock.now += CHART_EVERY
    await slack.update_surge(ref=ref, alert=alert())
    assert shown(fake, ref.ts) in fake.files and uploads(fake) == 2
    await fake.wait_for(lambda: fake.calls_to("files.delete"), what="the lost one deleted")
    assert [c.error for c in fake.calls_to("files.delete")] == ["file_not_found"]  # asked once


async def test_a_chart_slack_keeps_refusing_is_deleted(fake: FakeSlack) -> None:
    clock, slack, ref, first = await posted(fake)
    clock.now += CHART_EVERY
    fake.refuse_files = True
    await slack.update_surge(ref=ref, alert=alert(history(10, 40, 120, 300, 450)))
    await slack.update_surge(ref=ref, alert=alert(history(10, 40, 120, 300, 450)))
    assert shown(fake, ref.ts) is None
    await fake.wait_for(lambda: list(fake.files) == [], what="the refused one and the one it replaced deleted")
    assert len(fake.calls_to("files.delete")) == 2


async def test_a_chart_uploaded_but_never_shown_is_deleted_when_replaced(fake: FakeSlack) -> None:
    clock, slack, ref, first = await posted(fake)
    clock.now += CHART_EVERY
    with pytest.raises(PermanentError):  # the update fails (not for its image): the new chart is not shown
        await slack.update_surge(ref=MessageRef(channel=ALERTS, ts="1.000001"),
                                 alert=alert(history(10, 40, 120, 300, 450)))
    assert uploads(fake) == 2 and len(fake.files) == 2 and shown(fake, ref.ts) == first
    clock.now += CHART_EVERY
    await slack.update_surge(ref=ref, alert=alert(history(10, 40, 120, 300, 470)))
    third = shown(fake, ref.ts)
    assert uploads(fake) == 3 and third not in (None, first)
    await fake.wait_for(lambda: list(fake.files) == [third], what="the unshown and the replaced chart deleted")


async def test_charts_are_remembered_for_a_bounded_number_of_surges(fake: FakeSlack) -> None:
    slack = chat(fake, Clock(), max_surges=2)
    for ref in ("A00000000001", "B00000000002", "C00000000003", "A00000000001", "C00000000003"):
        await slack.post_surge(channel=ALERTS, alert=alert(ref=ref), marker=ref)
    assert uploads(fake) == 4  # A was forgotten when C came, and uploaded again


async def test_no_history_or_no_uploader_means_no_upload(fake: FakeSlack) -> None:
    await chat(fake, Clock()).post_surge(channel=ALERTS, alert=alert(()), marker="k1")
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])
    ref = MessageRef(ALERTS, fake.messages[ALERTS][0]["ts"])
    await SlackChat(client, NL).update_surge(ref=ref, alert=alert())
    assert uploads(fake) == 0 and not image_blocks(fake.updates[-1]["blocks"])
