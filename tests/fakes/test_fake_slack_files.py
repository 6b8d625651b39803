"""Self-tests of FakeSlack's file uploads and image blocks, driven by slack_sdk's own upload flow."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import aiohttp
import pytest
import pytest_asyncio
from PIL import Image
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import FakeSlack


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def image(**source: str) -> list[dict[str, Any]]:
    return [{"type": "image", "slack_file": source, "alt_text": "chart"}]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token="xoxb-test") as fake_slack:
        yield fake_slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])


async def test_files_upload_v2_runs_the_three_steps(fake: FakeSlack, client: AsyncWebClient) -> None:
    data = png()
    response = await client.files_upload_v2(content=data, filename="chart.png", title="Chart",
                                            alt_txt="a chart")
    file = response["file"]
    assert file["id"].startswith("F") and file["title"] == "Chart" and file["mimetype"] == "image/png"
    assert file["channels"] == [] and file["shares"] == {}  # no channel given: private to the bot
    asked = fake.calls_to("files.getUploadURLExternal")[0].args
    assert (asked["filename"], asked["length"], asked["alt_txt"]) == ("chart.png", str(len(data)), "a chart")
    assert fake.upload_posts == [{"file_id": file["id"], "size": len(data),
                                  "content_type": "application/octet-stream", "status": 200}]
    completed = fake.calls_to("files.completeUploadExternal")[0].args
    assert completed["files"] == [{"id": file["id"], "title": "Chart"}]
    assert fake.files[file["id"]]["size"] == len(data) and fake.file_data[file["id"]] == data


async def test_the_upload_url_is_local_and_takes_multipart(fake: FakeSlack, client: AsyncWebClient) -> None:
    data = png()
    issued = await client.files_getUploadURLExternal(filename="c.png", length=len(data))
    url = urlparse(issued["upload_url"])
    assert url.hostname == "127.0.0.1" and url.path.startswith("/upload/v1/")
    form = aiohttp.FormData()
    form.add_field("filename", data, filename="c.png", content_type="image/png")
    async with aiohttp.ClientSession() as session, session.post(issued["upload_url"], data=form) as answer:
        assert answer.status == 200 and await answer.text() == f"OK - {len(data)}"
    done = await client.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert done["files"][0]["title"] == "c.png"
    with pytest.raises(SlackApiError) as again:  # completing is once only
        await client.files_completeUploadExternal(files=[{"id": issued["file_id"]}])
    assert again.value.response["error"] == "file_not_found"


async def test_upload_errors_are_slacks(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        await client.files_completeUploadExternal(files=[{"id": "F0NOTHERE00"}])
    assert unknown.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as empty:
        await client.files_getUploadURLExternal(filename="c.png", length=0)
    assert empty.value.response["error"] == "missing_argument"
    fake.upload_status = 500
    with pytest.raises(SlackRequestError):  # slack_sdk: a non-200 from the upload URL
        await client.files_upload_v2(content=png(), filename="c.png")
    assert fake.files == {}
    fake.upload_error = "file_uploads_disabled"
    with pytest.raises(SlackApiError) as disabled:
        await client.files_upload_v2(content=png(), filename="c.png")
    assert disabled.value.response["error"] == "file_uploads_disabled"


async def test_an_image_block_must_name_an_uploaded_image(fake: FakeSlack, client: AsyncWebClient) -> None:
    chart = (await client.files_upload_v2(content=png(), filename="chart.png"))["file"]
    text = (await client.files_upload_v2(content="not an image", filename="notes.txt"))["file"]
    posted = await client.chat_postMessage(channel="C1", text="t", blocks=image(id=chart["id"]))
    assert posted["message"]["blocks"][0]["slack_file"] == {"id": chart["id"]}
    await client.chat_postMessage(channel="C1", text="t", blocks=image(url=chart["url_private"]))
    invalid = "invalid slack file [json-pointer:/blocks/0/slack_file]"
    for source, reason in [
        ({"id": "F0UNKNOWN00"}, invalid),
        ({"id": text["id"]}, invalid),  # not an image
        ({"id": chart["id"], "url": chart["url_private"]}, invalid),  # both
        ({"id": "chart.png"}, "input must match regex pattern: ^[F][A-Z0-9]{8,}$ "
                              "[json-pointer:/blocks/0/slack_file/id]"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            await client.chat_postMessage(channel="C1", text="t", blocks=image(**source))
        assert refused.value.response["error"] == "invalid_blocks"
        assert refused.value.response["errors"] == [reason]
    del fake.files[chart["id"]]  # deleted meanwhile: an update showing it is refused too
    with pytest.raises(SlackApiError) as gone:
        await client.chat_update(channel="C1", ts=posted["ts"], text="t", blocks=image(id=chart["id"]))
    assert gone.value.response["error"] == "invalid_blocks"
    assert len(fake.messages["C1"]) == 2


async def test_a_channel_on_completion_shares_the_file(fake: FakeSlack, client: AsyncWebClient) -> None:
    file = (await client.files_upload_v2(content=png(), filename="c.png", channel="C1",
                                         initial_comment="look"))["file"]
    message = fake.messages["C1"][0]
    assert message["text"] == "look" and message["files"][0]["id"] == file["id"]
    assert fake.files[file["id"]]["channels"] == ["C1"]
