"""InboundAuth: Bot Framework tokens signed by the fake's keys pass; every broken part is refused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from handlers.teams.auth import InboundAuth, SigningKey, Unauthorized, check_endorsement
from tests.fakes.bot_framework import FakeBotFramework, recording
from tests.fakes.loopback import LoopbackServer


@pytest.fixture
async def teams() -> AsyncIterator[FakeBotFramework]:
    async with FakeBotFramework() as fake:
        yield fake


@pytest.fixture
async def auth(teams: FakeBotFramework) -> AsyncIterator[InboundAuth]:
    checker = InboundAuth(app_id=teams.app_id, openid_url=teams.openid_url, timeout=2)
    yield checker
    await checker.close()


def key_fetches(teams: FakeBotFramework) -> int:
    return len(teams.requests_to("/openid/keys"))


async def test_a_good_token_passes(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    claims = await auth.verify(teams.inbound_auth(activity), activity)
    assert claims["aud"] == teams.app_id and claims["serviceurl"] == teams.service_url


async def test_metadata_is_fetched_once_for_many_requests(teams: FakeBotFramework, auth: InboundAuth):
    for n in range(5):
        activity = teams.channel_message(f"hello {n}")
        await auth.verify(teams.inbound_auth(activity), activity)
    assert len(teams.requests_to("/.well-known/openidconfiguration")) == 1
    assert key_fetches(teams) == 1 and auth.fetches == 1


async def test_keys_are_refetched_after_a_day(teams: FakeBotFramework):
    now = [0.0]
    checker = InboundAuth(app_id=teams.app_id, openid_url=teams.openid_url, clock=lambda: now[0])
    try:
        activity = teams.channel_message("hello")
        await checker.verify(teams.inbound_auth(activity), activity)
        now[0] += 24 * 3600 - 1
        await checker.verify(teams.inbound_auth(activity), activity)
        assert key_fetches(teams) == 1
        now[0] += 1
        await checker.verify(teams.inbound_auth(activity), activity)
        assert key_fetches(teams) == 2
    finally:
        await checker.close()


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"aud": "someone-else"}, "another app id"),
    ({"aud": None}, "'aud'"),
    ({"iss": "https://sts.windows.net/evil/"}, "not issued by the Bot Framework"),
    ({"exp": int(time.time()) - 301}, "expired"),
    ({"nbf": int(time.time()) + 3600}, "not yet valid"),
    ({"serviceurl": "https://smba.evil.example/amer/"}, "serviceurl"),
    ({"serviceurl": None}, "serviceurl"),
])
async def test_broken_claims_are_refused(teams: FakeBotFramework, auth: InboundAuth,
                                         overrides: dict[str, Any], reason: str):
    activity = teams.channel_message("hello")
    with pytest.raises(Unauthorized, match=reason):
        await auth.verify(teams.inbound_auth(activity, **overrides), activity)


async def test_clock_skew_of_five_minutes_is_allowed(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    claims = await auth.verify(teams.inbound_auth(activity, exp=int(time.time()) - 240), activity)
    assert claims["aud"] == teams.app_id and claims["exp"] < time.time()  # expired 4 min ago: still taken


async def test_missing_or_malformed_header_is_refused(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    for header in (None, "", "Basic abc", "Bearer ", "Bearer not-a-jwt"):
        with pytest.raises(Unauthorized):
            await auth.verify(header, activity)


async def test_tampered_signature_is_refused(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    head, payload, signature = teams.inbound_auth(activity).split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    with pytest.raises(Unauthorized, match="signature"):
        await auth.verify(".".join((head, payload, flipped)), activity)


async def test_a_key_not_published_is_refused_even_under_a_known_kid(teams: FakeBotFramework,
                                                                     auth: InboundAuth):
    activity = teams.channel_message("hello")
    forged = teams.add_key(published=False)
    with pytest.raises(Unauthorized, match="signature"):
        await auth.verify(teams.inbound_auth(activity, kid=forged, header_kid=teams.kid), activity)


async def test_unknown_kid_refetches_once_then_refuses(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    await auth.verify(teams.inbound_auth(activity), activity)
    stranger = teams.add_key(published=False)
    for _ in range(3):
        with pytest.raises(Unauthorized, match="unknown signing key"):
            await auth.verify(teams.inbound_auth(activity, kid=stranger), activity)
    assert key_fetches(teams) == 2


async def test_a_rotated_key_is_found_by_refetching(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    await auth.verify(teams.inbound_auth(activity), activity)
    teams.rotate_key()
    await auth.verify(teams.inbound_auth(activity), activity)
    assert key_fetches(teams) == 2


async def test_a_key_without_the_channels_endorsement_is_refused(teams: FakeBotFramework, auth: InboundAuth):
    activity = teams.channel_message("hello")
    skype_only = teams.add_key(endorsements=["skype"])
    with pytest.raises(Unauthorized, match="not endorsed for channel 'msteams'"):
        await auth.verify(teams.inbound_auth(activity, kid=skype_only), activity)
    unlisted = teams.add_key(endorsements=[])
    with pytest.raises(Unauthorized, match="not endorsed"):
        await auth.verify(teams.inbound_auth(activity, kid=unlisted), activity)


async def test_unreachable_metadata_refuses(teams: FakeBotFramework, auth: InboundAuth):
    teams.fail_next("openidconfiguration", 500)
    activity = teams.channel_message("hello")
    with pytest.raises(Unauthorized, match="signing keys unavailable"):
        await auth.verify(teams.inbound_auth(activity), activity)
    await auth.verify(teams.inbound_auth(activity), activity)


# --- recorded activities through the helpers, delivered to a bot that checks them ---

def _shape(value: Any) -> Any:
    """The keys of a JSON value, recursively (values left out)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize(("name", "build"), [
    ("channel_message", lambda fake: fake.channel_message("hi")),
    ("card_submit", lambda fake: fake.card_submit({"action": "claim"}, reply_to_id="1571508432869")),
    ("team_member_added", lambda fake: fake.bot_added()),
])
async def test_helpers_build_the_recorded_shapes(teams: FakeBotFramework, name: str, build: Any):
    recorded = recording(name)["body"]
    built = build(teams)
    if name == "card_submit":
        assert built["type"] == "message" and built["value"] == {"action": "claim"}
        assert built["replyToId"] == "1571508432869" and set(built) == set(recorded)
    elif name == "team_member_added":
        assert built["membersAdded"] == [{"id": teams.bot_id}]
        assert _shape(built["channelData"]) == _shape(recorded["channelData"])
        assert set(built) == set(recorded)
    else:
        assert _shape(built) == _shape(recorded)
        assert built["from"]["aadObjectId"] == recorded["from"]["aadObjectId"]
    assert built["serviceUrl"] == teams.service_url and built["recipient"]["id"] == teams.bot_id


class EchoBot(LoopbackServer):
    """A minimal /api/messages that verifies each request with InboundAuth and keeps what passed."""

    def __init__(self, auth: InboundAuth) -> None:
        super().__init__()
        self.auth = auth
        self.received: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.Response:
        activity = await request.json()
        try:
            await self.auth.verify(request.headers.get("Authorization"), activity)
        except Unauthorized as exc:
            return web.json_response({"error": exc.reason}, status=401)
        self.received.append(activity)
        return web.json_response({}, status=200)


@pytest.mark.parametrize("name", ["channel_message", "card_submit", "team_member_added"])
async def test_recorded_activities_delivered_signed_pass(teams: FakeBotFramework, auth: InboundAuth, name: str):
    async with EchoBot(auth) as bot:
        url = f"http://127.0.0.1:{bot.port}/api/messages"
        activity = teams.from_recording(name)
        ok = await teams.deliver(url, activity)
        refused = await teams.deliver(url, activity, auth=None)
        unsigned_url = await teams.deliver(url, dict(activity, serviceUrl="https://evil.example/"),
                                           serviceurl=activity["serviceUrl"])
    assert ok.status == 200 and bot.received == [activity]
    assert refused == (401, {"error": "missing bearer token"})
    assert unsigned_url.status == 401


@pytest.mark.parametrize("channel", [["msteams"], None, 7, "webchat"])
def test_only_an_endorsed_channel_name_passes(channel: object) -> None:
    key = SigningKey(key=None, endorsements=frozenset({"msteams"}))
    check_endorsement(key, "msteams")
    with pytest.raises(Unauthorized, match="not endorsed"):
        check_endorsement(key, channel)
