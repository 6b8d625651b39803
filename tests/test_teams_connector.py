"""BotConnector against the fake Bot Framework: threads, replies, updates, 1:1 chats, tokens, and errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from bot.ports import PermanentError, RateLimited, TransientError, UnknownOutcome
from handlers.teams.connector import BotConnector, api_url, new_message_id, thread_conversation_id
from tests.fakes.bot_framework import FakeBotFramework, recording


class Clock:
    """A settable monotonic clock for the token cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def teams() -> AsyncIterator[FakeBotFramework]:
    async with FakeBotFramework() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def connector(teams: FakeBotFramework, clock: Clock) -> AsyncIterator[BotConnector]:
    client = BotConnector(app_id=teams.app_id, app_password=teams.app_password, tenant_id=teams.tenant_id,
                          login_url=teams.login_url, timeout=2, clock=clock)
    yield client
    await client.close()


def card(text: str) -> dict:
    """A message with one Adaptive Card showing `text`."""
    content = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": text}]}
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}]}


async def test_create_thread_posts_a_new_channel_message(teams: FakeBotFramework, connector: BotConnector):
    root_id = await connector.create_thread(teams.service_url, channel_id=teams.channel_id,
                                            tenant_id=teams.tenant_id, activity=card("case 1"))

    [root] = teams.threads[teams.channel_id]
    assert root.id == root_id
    assert root.activity["attachments"][0]["content"]["body"][0]["text"] == "case 1"
    [call] = teams.requests_to("/v3/conversations")
    assert call.body["isGroup"] is True
    assert call.body["channelData"] == {"channel": {"id": teams.channel_id}, "tenant": {"id": teams.tenant_id}}


async def test_new_message_id_reads_the_recorded_answer():
    answer = recording("reply_create_thread")["response"]
    assert new_message_id(answer) == "1571508432869"
    assert new_message_id({"id": "19:x@thread.skype", "activityId": "1571508432869"}) == "1571508432869"
    assert new_message_id({"id": "19:x@thread.skype"}) is None


async def test_thread_reply_and_update(teams: FakeBotFramework, connector: BotConnector):
    root_id = await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                            activity=card("case 1"))
    thread = thread_conversation_id(teams.channel_id, root_id)

    reply_id = await connector.send(teams.service_url, thread, {"type": "message", "text": "claimed by Ann"})
    await connector.update(teams.service_url, thread, root_id, card("case 1, claimed"))
    await connector.update(teams.service_url, thread, reply_id, {"type": "message", "text": "claimed by Bob"})

    [root] = teams.threads[teams.channel_id]
    assert [r.activity["text"] for r in root.replies] == ["claimed by Bob"]
    assert root.replies[0].history[0]["text"] == "claimed by Ann"
    assert root.activity["attachments"][0]["content"]["body"][0]["text"] == "case 1, claimed"
    assert [h["attachments"][0]["content"]["body"][0]["text"] for h in root.history] == ["case 1"]
    put = teams.calls[-1]
    assert put.method == "PUT" and put.body["id"] == reply_id


async def test_conversation_ids_are_percent_encoded_like_the_sdks(teams: FakeBotFramework,
                                                                  connector: BotConnector):
    root_id = await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                            activity=card("x"))
    thread = thread_conversation_id(teams.channel_id, root_id)
    await connector.send(teams.service_url.rstrip("/"), thread, {"type": "message", "text": "no slash"})

    encoded = "19%3A097e6717fd7245bdbeba6baa13840db8%40thread.skype%3Bmessageid%3D" + root_id
    assert teams.calls[-1].raw_path == f"/teams/v3/conversations/{encoded}/activities"
    recorded = recording("reply_update")["path"]
    assert str(api_url("https://smba.trafficmanager.net/amer/",
                       "19:9d3c71104f8c49128368b23a5eaeb86d@thread.skype;messageid=1571508491752",
                       "1:1Zu8wK3u9-8LohH10diLSicoeHNSBwMtz2VNKrDCqPQc").raw_path) == recorded


async def test_personal_chat_is_opened_once_per_user(teams: FakeBotFramework, connector: BotConnector):
    user = "29:1CFIxRJBLjT_io3iNsDZxMk_4YPWQmr3DZUM1I6ihf5L2ocCDqg9S1vkHK6kRdGfK1P_2LFE2nQqFIvdu-GBOZA"
    chat_id = await connector.create_personal(teams.service_url, user_id=user, tenant_id=teams.tenant_id)
    again = await connector.create_personal(teams.service_url, user_id=user, tenant_id=teams.tenant_id)
    message_id = await connector.send(teams.service_url, chat_id, {"type": "message", "text": "nudge"})

    assert again == chat_id and chat_id.startswith("a:")
    assert teams.chats[chat_id].posts[0].id == message_id
    body = teams.requests_to("/v3/conversations")[0].body
    assert body["members"] == [{"id": user}] and body["isGroup"] is False
    assert body["bot"] == {"id": teams.bot_id} and body["tenantId"] == teams.tenant_id


async def test_token_is_cached_until_five_minutes_before_expiry(teams: FakeBotFramework,
                                                                connector: BotConnector, clock: Clock):
    teams.token_lifetime = 3600
    for text in ("a", "b", "c"):
        await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                      activity={"type": "message", "text": text})
    assert teams.token_requests == 1
    form = teams.requests_to("/oauth2/v2.0/token")[0]
    assert form.path == f"/login/{teams.tenant_id}/oauth2/v2.0/token"
    assert form.body["scope"] == "https://api.botframework.com/.default"

    clock.now += 3600 - 300 - 1
    await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                  activity={"type": "message", "text": "d"})
    assert teams.token_requests == 1
    clock.now += 1
    await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                  activity={"type": "message", "text": "e"})
    assert teams.token_requests == 2
    assert len(teams.threads[teams.channel_id]) == 5


async def test_concurrent_calls_share_one_token_fetch(teams: FakeBotFramework, connector: BotConnector):
    posts = (connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                     activity={"type": "message", "text": str(n)}) for n in range(5))
    await asyncio.gather(*posts)
    assert teams.token_requests == 1 and len(teams.threads[teams.channel_id]) == 5


async def test_multi_tenant_bot_asks_botframework_com(teams: FakeBotFramework):
    client = BotConnector(app_id=teams.app_id, app_password=teams.app_password, tenant_id=None,
                          login_url=teams.login_url + "/", timeout=2)
    try:
        await client.send(teams.service_url, *await _chat(teams, client))
    finally:
        await client.close()
    assert teams.requests_to("/oauth2")[0].path == "/login/botframework.com/oauth2/v2.0/token"


async def _chat(teams: FakeBotFramework, client: BotConnector) -> tuple[str, dict]:
    chat = await client.create_personal(teams.service_url, user_id="29:someone", tenant_id=teams.tenant_id)
    return chat, {"type": "message", "text": "hello"}


async def test_a_revoked_cached_token_is_replaced_once(teams: FakeBotFramework, connector: BotConnector):
    chat = await connector.create_personal(teams.service_url, user_id="29:u", tenant_id=teams.tenant_id)
    teams.tokens.clear()  # e.g. the fake (Microsoft) forgot it
    await connector.send(teams.service_url, chat, {"type": "message", "text": "still works"})
    assert teams.token_requests == 2


@pytest.mark.parametrize(("status", "app_id", "password"), [(401, None, "wrong"), (400, "other-app", None)])
async def test_bad_credentials_are_permanent_and_name_the_settings(teams: FakeBotFramework, status, app_id,
                                                                   password):
    client = BotConnector(app_id=app_id or teams.app_id, app_password=password or teams.app_password,
                          tenant_id=teams.tenant_id, login_url=teams.login_url, timeout=2)
    try:
        with pytest.raises(PermanentError, match="MICROSOFT_APP_ID.*MICROSOFT_APP_PASSWORD") as caught:
            await client.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                       activity={"type": "message"})
    finally:
        await client.close()
    assert "AADSTS" in str(caught.value)
    assert teams.requests_to("/oauth2")[0].status == status
    assert not teams.requests_to("/v3/")


async def test_token_endpoint_outage_is_transient(teams: FakeBotFramework, connector: BotConnector):
    teams.fail_next("/oauth2/", 503)
    with pytest.raises(TransientError, match="token endpoint"):
        await connector.create_personal(teams.service_url, user_id="29:u", tenant_id=teams.tenant_id)
    assert await connector.create_personal(teams.service_url, user_id="29:u", tenant_id=teams.tenant_id)


async def test_429_is_rate_limited_with_retry_after(teams: FakeBotFramework, connector: BotConnector):
    teams.fail_next("/v3/conversations", 429, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                      activity={"type": "message"})
    assert caught.value.retry_after == 7
    teams.fail_next("/v3/conversations", 429)
    with pytest.raises(RateLimited) as caught:
        await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                      activity={"type": "message"})
    assert caught.value.retry_after == 1  # no Retry-After header: one second


async def test_a_busy_thread_answers_429_from_its_own_count(teams: FakeBotFramework, connector: BotConnector):
    teams.rate_windows = ((3600.0, 2),)
    root = await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                         activity={"type": "message"})
    thread = thread_conversation_id(teams.channel_id, root)
    await connector.send(teams.service_url, thread, {"type": "message", "text": "1"})
    await connector.send(teams.service_url, thread, {"type": "message", "text": "2"})
    with pytest.raises(RateLimited):
        await connector.send(teams.service_url, thread, {"type": "message", "text": "3"})
    assert teams.rate_counts[thread] == 2 and teams.rate_limited == 1


@pytest.mark.parametrize(("status", "error"), [(503, TransientError), (502, TransientError),
                                               (500, UnknownOutcome), (504, UnknownOutcome)])
async def test_server_errors_on_post(teams: FakeBotFramework, connector: BotConnector, status, error):
    teams.fail_next("/v3/conversations", status)
    with pytest.raises(error):
        await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                      activity={"type": "message"})


async def test_server_error_on_put_is_transient(teams: FakeBotFramework, connector: BotConnector):
    root = await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                         activity={"type": "message", "text": "a"})
    teams.fail_next("/activities/", 500)
    with pytest.raises(TransientError):
        await connector.update(teams.service_url, thread_conversation_id(teams.channel_id, root), root,
                               {"type": "message", "text": "b"})


async def test_bot_not_in_the_team_is_permanent_and_says_so(teams: FakeBotFramework, connector: BotConnector):
    with pytest.raises(PermanentError, match="installed in that team or channel") as caught:
        await connector.create_thread(teams.service_url, channel_id="19:elsewhere@thread.skype", tenant_id=None,
                                      activity={"type": "message"})
    assert "BotNotInConversationRoster" in str(caught.value)


async def test_connector_401_is_permanent(teams: FakeBotFramework, connector: BotConnector):
    teams.fail_next("/v3/conversations", 401, times=1, body={"message": "Authorization has been denied."})
    with pytest.raises(PermanentError, match="MICROSOFT_APP_PASSWORD"):
        await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                      activity={"type": "message"})


async def test_unknown_message_is_permanent_not_found(teams: FakeBotFramework, connector: BotConnector):
    root = await connector.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                         activity={"type": "message"})
    thread = thread_conversation_id(teams.channel_id, root)
    with pytest.raises(PermanentError, match="not found"):
        await connector.update(teams.service_url, thread, "1234", {"type": "message"})
    with pytest.raises(PermanentError, match="not found"):
        await connector.send(teams.service_url, thread_conversation_id(teams.channel_id, "999"),
                             {"type": "message"})


async def test_other_4xx_carries_the_service_message(teams: FakeBotFramework, connector: BotConnector):
    with pytest.raises(PermanentError, match="BadArgument: Tenant id is required"):
        await connector.create_personal(teams.service_url, user_id="29:u", tenant_id=None)


async def test_hanging_post_is_an_unknown_outcome_but_was_delivered(teams: FakeBotFramework, clock: Clock):
    client = BotConnector(app_id=teams.app_id, app_password=teams.app_password, tenant_id=teams.tenant_id,
                          login_url=teams.login_url, timeout=0.3, clock=clock)
    try:
        await client.create_personal(teams.service_url, user_id="29:u", tenant_id=teams.tenant_id)  # token
        teams.hang_next("/v3/conversations")
        with pytest.raises(UnknownOutcome):
            await client.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                       activity={"type": "message", "text": "maybe"})
    finally:
        await client.close()
    assert teams.threads[teams.channel_id][0].activity["text"] == "maybe"


async def test_hanging_put_is_transient(teams: FakeBotFramework, clock: Clock):
    client = BotConnector(app_id=teams.app_id, app_password=teams.app_password, tenant_id=teams.tenant_id,
                          login_url=teams.login_url, timeout=0.3, clock=clock)
    try:
        root = await client.create_thread(teams.service_url, channel_id=teams.channel_id, tenant_id=None,
                                          activity={"type": "message"})
        teams.hang_next("/activities/")
        with pytest.raises(TransientError):
            await client.update(teams.service_url, thread_conversation_id(teams.channel_id, root), root,
                                {"type": "message", "text": "again"})
    finally:
        await client.close()


async def test_dropped_connection_after_sending_is_an_unknown_outcome(teams: FakeBotFramework,
                                                                      connector: BotConnector):
    chat = await connector.create_personal(teams.service_url, user_id="29:u", tenant_id=teams.tenant_id)
    teams.drop_next("/activities")
    with pytest.raises(UnknownOutcome):
        await connector.send(teams.service_url, chat, {"type": "message", "text": "lost answer"})
    assert teams.chats[chat].posts[0].activity["text"] == "lost answer"


async def test_refused_connection_is_transient(teams: FakeBotFramework, connector: BotConnector):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(TransientError, match="cannot connect"):
        await connector.send(f"http://127.0.0.1:{closed_port}/teams/", "a:chat", {"type": "message"})
