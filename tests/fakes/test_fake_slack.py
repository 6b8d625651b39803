"""Self-tests of FakeSlack, driven by the real slack_sdk clients."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import (
    FakeSlack,
    block_action_body,
    event_callback_body,
    form_encode_payload,
    sign_slack_request,
    view_submission_body,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "slack"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
METADATA = {"event_type": "webcare_ticket", "event_payload": {"ticket_id": "42"}}
MODAL = {
    "type": "modal",
    "callback_id": "cb",
    "title": {"type": "plain_text", "text": "T"},
    "blocks": [],
}


def _fixture(relative: str) -> dict[str, Any]:
    path = FIXTURES / relative
    if not path.exists():
        pytest.skip(f"{path} not available")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token="xoxb-test", app_token="xapp-test") as fake_slack:
        yield fake_slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.api_url, retry_handlers=[])


async def test_auth_test_and_unknown_method(fake: FakeSlack, client: AsyncWebClient) -> None:
    auth = await client.auth_test()
    assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == ("T0FAKE", "U0BOT", "B0BOT")
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.nonsense", json={})
    assert err.value.response["error"] == "unknown_method"
    assert [(c.method, c.status, c.error) for c in fake.calls] == [
        ("auth.test", 200, None),
        ("chat.nonsense", 200, "unknown_method"),
    ]


async def test_post_and_history_with_metadata(fake: FakeSlack, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel="C1", text="plain")
    second = await client.chat_postMessage(
        channel="C1", text="fallback", blocks=BLOCKS, metadata=METADATA
    )
    assert first["ts"] < second["ts"] and second["message"]["metadata"] == METADATA
    form = await client.api_call(  # form-encoded body: structured fields arrive as JSON strings
        "chat.postMessage",
        data={
            "channel": "C1",
            "text": "f",
            "blocks": json.dumps(BLOCKS),
            "metadata": json.dumps(METADATA),
        },
    )
    assert fake.calls_to("chat.postMessage")[-1].args["blocks"] == BLOCKS
    assert [m["ts"] for m in fake.messages["C1"]] == [first["ts"], second["ts"], form["ts"]]

    with_meta = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert [m["ts"] for m in with_meta["messages"]] == [form["ts"], second["ts"], first["ts"]]
    newest, middle, oldest = with_meta["messages"]
    assert middle["metadata"] == METADATA and "metadata" not in oldest
    assert (middle["type"], middle["bot_id"], middle["blocks"]) == ("message", "B0BOT", BLOCKS)
    assert with_meta["has_more"] is False and with_meta["response_metadata"]["next_cursor"] == ""

    plain = await client.conversations_history(channel="C1")
    assert all("metadata" not in m for m in plain["messages"])
    window = await client.conversations_history(channel="C1", oldest=first["ts"], latest=form["ts"])
    assert [m["ts"] for m in window["messages"]] == [second["ts"]]

    with pytest.raises(SlackApiError, match="no_text"):
        await client.api_call("chat.postMessage", json={"channel": "C1"})


async def test_thread_replies(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C1", text="parent", metadata=METADATA)
    r1 = await client.chat_postMessage(channel="C1", text="r1", thread_ts=parent["ts"])
    r2 = await client.chat_postMessage(channel="C1", text="r2", thread_ts=parent["ts"])
    assert r1["message"]["thread_ts"] == parent["ts"]

    history = await client.conversations_history(channel="C1")
    assert [m["ts"] for m in history["messages"]] == [parent["ts"]]
    top = history["messages"][0]
    assert (top["reply_count"], top["latest_reply"]) == (2, r2["ts"])

    replies = await client.conversations_replies(
        channel="C1", ts=parent["ts"], include_all_metadata=True
    )
    assert [m["ts"] for m in replies["messages"]] == [parent["ts"], r1["ts"], r2["ts"]]
    assert replies["messages"][0]["metadata"] == METADATA
    newer = await client.conversations_replies(channel="C1", ts=parent["ts"], oldest=r1["ts"])
    assert [m["ts"] for m in newer["messages"]] == [parent["ts"], r2["ts"]]


async def test_rate_limit_answers_429_with_retry_after(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    for n in range(3):
        await client.chat_postMessage(channel="C1", text=f"m{n}")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="C1", text="one too many")
    assert err.value.response.status_code == 429
    assert err.value.response["error"] == "ratelimited"
    assert int(err.value.response.headers["Retry-After"]) >= 1
    assert fake.ratelimited == 1 and len(fake.messages["C1"]) == 3
    assert fake.calls_to("chat.postMessage")[-1].status == 429
    await client.chat_postMessage(channel="C2", text="other channel has its own bucket")

    fake.post_rate_per_s = 50.0
    await asyncio.sleep(0.05)
    await client.chat_postMessage(channel="C1", text="refilled")
    assert len(fake.messages["C1"]) == 4


async def test_auth_errors(fake: FakeSlack) -> None:
    cases = [
        ("xoxb-wrong", "invalid_auth"),
        ("xapp-test", "not_allowed_token_type"),
        (None, "not_authed"),
    ]
    for token, error in cases:
        with pytest.raises(SlackApiError) as err:
            await AsyncWebClient(token=token, base_url=fake.api_url).chat_postMessage(
                channel="C1", text="x"
            )
        assert err.value.response["error"] == error
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        await AsyncWebClient(base_url=fake.api_url).apps_connections_open(app_token="xoxb-test")
    assert len(fake.calls) == 4 and not fake.messages["C1"]


async def test_trigger_id_expiry_and_single_use(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger_id = fake.issue_trigger_id()
    await client.views_open(trigger_id=trigger_id, view=MODAL)
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        await client.views_open(trigger_id=trigger_id, view=MODAL)
    with pytest.raises(SlackApiError, match="invalid_trigger_id"):
        await client.views_open(trigger_id="123.456.never-issued", view=MODAL)

    fake.trigger_ttl = 0.05
    stale = fake.issue_trigger_id()
    await asyncio.sleep(0.1)
    with pytest.raises(SlackApiError, match="expired_trigger_id"):
        await client.views_open(trigger_id=stale, view=MODAL)
    assert len(fake.views) == 1


async def test_views_open_update_push(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id=fake.issue_trigger_id(), view=MODAL))["view"]
    assert opened["id"].startswith("V") and opened["hash"] and opened["callback_id"] == "cb"
    assert fake.views[opened["id"]]["title"] == MODAL["title"]

    updated = await client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**MODAL, "callback_id": "cb2"}
    )
    assert updated["view"]["id"] == opened["id"] and updated["view"]["hash"] != opened["hash"]
    assert fake.views[opened["id"]]["callback_id"] == "cb2"
    with pytest.raises(SlackApiError, match="hash_conflict"):
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=MODAL)
    with pytest.raises(SlackApiError, match="not_found"):
        await client.views_update(view_id="V_UNKNOWN", view=MODAL)

    pushed = await client.views_push(trigger_id=fake.issue_trigger_id(), view=MODAL)
    assert pushed["view"]["id"] in fake.views and len(fake.views) == 2


async def test_update_ephemeral_and_users(fake: FakeSlack, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="v1", blocks=BLOCKS)
    await client.chat_update(channel="C1", ts=posted["ts"], text="v2")
    stored = fake.messages["C1"][0]
    assert stored["text"] == "v2" and stored["blocks"] == BLOCKS and "edited" in stored
    assert [(u["channel"], u["text"]) for u in fake.updates] == [("C1", "v2")]
    with pytest.raises(SlackApiError, match="message_not_found"):
        await client.chat_update(channel="C1", ts="1.000001", text="nope")

    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert fake.ephemerals[0]["user"] == "U1"
    assert fake.ephemerals[0]["message_ts"] == ephemeral["message_ts"]

    user = (await client.users_info(user="U123"))["user"]
    assert user["id"] == "U123" and user["profile"]["display_name"] and user["profile"]["real_name"]


async def test_response_delay_still_records_the_message(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.response_delay = 0.5
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(
            client.chat_postMessage(channel="C1", text="posted, never answered"), 0.1
        )
    assert [m["text"] for m in fake.messages["C1"]] == ["posted, never answered"]
    assert fake.calls_to("chat.postMessage")[0].status == 200


async def test_socket_mode_round_trip(fake: FakeSlack) -> None:
    received: asyncio.Queue[SocketModeRequest] = asyncio.Queue()

    async def on_request(sm_client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        await received.put(req)
        await sm_client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"ok": 1})
        )

    socket_client = SocketModeClient(
        app_token="xapp-test", web_client=AsyncWebClient(token="xapp-test", base_url=fake.api_url)
    )
    socket_client.socket_mode_request_listeners.append(on_request)
    await socket_client.connect()
    try:
        await fake.wait_socket_connected(timeout=15)
        payload = event_callback_body(
            {"type": "app_mention", "text": "hi", "channel": "C1"}, event_id="Ev1"
        )
        envelope_id = await fake.socket_send("events_api", payload, accepts_response_payload=False)
        req = await asyncio.wait_for(received.get(), 5)
        assert (req.type, req.envelope_id, req.payload) == ("events_api", envelope_id, payload)
        ack = await fake.wait_socket_ack(envelope_id)
        assert ack == {"envelope_id": envelope_id, "payload": {"ok": 1}}
        assert fake.calls_to("apps.connections.open")[0].status == 200
    finally:
        await socket_client.close()
    await fake.wait_for(lambda: fake.socket_connections == 0, timeout=10)


async def test_bolt_app_over_socket_mode(fake: FakeSlack, client: AsyncWebClient) -> None:
    app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=fake.api_url))

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text="pong", thread_ts=event["ts"])

    @app.action("open")
    async def on_open(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=MODAL)

    handler = AsyncSocketModeHandler(
        app, "xapp-test", web_client=AsyncWebClient(base_url=fake.api_url)
    )
    await handler.connect_async()
    try:
        await fake.wait_socket_connected(timeout=15)
        ts = (await client.chat_postMessage(channel="C1", text="<@U0BOT> ping"))["ts"]
        mention = {"type": "app_mention", "user": "U1", "channel": "C1", "ts": ts, "event_ts": ts}
        sent = await fake.socket_send("events_api", event_callback_body(mention, event_id="Ev1"))
        await fake.wait_socket_ack(sent)
        await fake.wait_for(lambda: fake.messages["C1"][1]["thread_ts"] == ts, timeout=15)
        click = block_action_body(
            action_id="open",
            value="1",
            user_id="U1",
            channel_id="C1",
            message_ts=ts,
            trigger_id=fake.issue_trigger_id(),
        )
        await fake.wait_socket_ack(await fake.socket_send("interactive", click))
        await fake.wait_for(lambda: fake.views, timeout=15)
    finally:
        await handler.close_async()


async def test_stop_closes_connected_socket_without_hanging() -> None:
    fake = FakeSlack()
    await fake.start()
    socket_client = SocketModeClient(
        app_token="xapp-test",
        web_client=AsyncWebClient(base_url=fake.api_url),
        auto_reconnect_enabled=False,
    )
    await socket_client.connect()
    await fake.wait_socket_connected(timeout=15)
    await asyncio.wait_for(fake.stop(), 3)
    await socket_client.close()


async def test_wait_for_times_out_with_helpful_message(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="timed out after 0.05s") as err:
        await fake.wait_for(lambda: fake.messages["C9"][0], timeout=0.05)
    assert "IndexError" in str(err.value) and "fake.messages" in str(err.value)


def test_sign_slack_request_matches_slack_vector() -> None:
    vector = _fixture("signing_test_vector.json")
    headers = sign_slack_request(
        vector["signing_secret"], vector["body"].encode(), int(vector["timestamp"])
    )
    assert headers == vector["headers"]


def test_signed_interactivity_body_verifies_with_slack_sdk() -> None:
    payload = block_action_body(
        action_id="ack",
        value="42",
        user_id="U1",
        channel_id="C1",
        message_ts="1.000100",
        trigger_id="1.2.3",
    )
    body = form_encode_payload(payload)
    assert json.loads(urllib.parse.parse_qs(body.decode())["payload"][0]) == payload
    assert SignatureVerifier("s3cret").is_valid_request(body, sign_slack_request("s3cret", body))
    assert not SignatureVerifier("other").is_valid_request(body, sign_slack_request("s3cret", body))


def test_payload_builders_cover_slack_shapes() -> None:
    actions = block_action_body(
        action_id="a",
        value="v",
        user_id="U1",
        channel_id="C1",
        message_ts="1.000100",
        trigger_id="1.2.3",
    )
    assert actions["actions"][0]["type"] == "button"
    assert actions["container"]["message_ts"] == "1.000100"
    submission = view_submission_body(
        callback_id="cb", private_metadata="pm", values={"b": {"a": "typed"}}, user_id="U1"
    )
    assert submission["view"]["state"]["values"] == {
        "b": {"a": {"type": "plain_text_input", "value": "typed"}}
    }
    event = event_callback_body({"type": "message", "ts": "1700000000.000100"}, event_id="Ev1")
    assert event["event_time"] == 1700000000

    block_fixture = _fixture("bolt_python/test_block_actions/body.json")
    assert set(block_fixture) <= set(actions)
    assert set(block_fixture["actions"][0]) <= set(actions["actions"][0])
    view_fixture = _fixture("bolt_python/test_view_submission/body.json")
    assert set(view_fixture) <= set(submission)
    assert set(view_fixture["view"]) <= set(submission["view"])
    event_fixture = _fixture("python_slack_sdk/socket_mode_envelopes/02_events_api.json")["payload"]
    assert set(event_fixture) <= set(event)
