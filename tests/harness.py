"""Run the real app on loopback against fakes, and talk to it the way Slack and integrators do."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.runtime import RUNTIME, Runtime
from bot.settings import AppConfig, Env, Settings
from bot.signing import sign
from tests.fakes.slack_api import (
    FakeSlack,
    block_action_body,
    event_callback_body,
    form_encode_payload,
    sign_slack_request,
    view_submission_body,
)

SIGNING_SECRET = "slack-signing-secret"
WEBHOOK_SECRET = "webhook-secret"
BOT_TOKEN = "xoxb-test"
CHANNEL = "C0WEBCARE"


def base_config(**overrides: Any) -> dict[str, Any]:
    """An app.yaml for tests: fast outbox, loopback reply URL set by the caller."""
    cfg: dict[str, Any] = {
        "locale": "nl",
        "organisation": {"name": "Testbedrijf", "accounts": {"x": "testbedrijf"}},
        "slack": {"channel": CHANNEL, "post_interval": "100ms", "update_interval": "50ms"},
        "roles": {"agents": ["U0AGENT1", "U0AGENT2"], "managers": ["U0MGR1"]},
        "outbox": {"lease": "15s", "poll": "50ms", "backoff_base": "100ms", "backoff_max": "1s"},
        # No tone check unless a test is about it (tests/test_reply_craft.py): the others send
        # replies as fixtures, not as prose.
        "answers": {"checks": []},
    }
    return _merge(cfg, overrides)


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into `base` (nested mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def make_settings(*, db_url: str, slack: FakeSlack | None, reply_url: str | None = None,
                  app_token: bool = False, signing: bool = True,
                  slack_config: dict[str, Any] | None = None, **overrides: Any) -> Settings:
    """Settings as `webcare serve` would build them from app.yaml and the environment.

    `slack_config` merges into app.yaml's `slack:` (the `slack` argument is the fake server)."""
    cfg = base_config(**overrides)
    cfg["slack"].update(slack_config or {})
    if reply_url:
        cfg.setdefault("integrations", {}).setdefault("webhook", {})["reply_url"] = reply_url
    env: dict[str, Any] = {"database_url": db_url, "webcare_webhook_secret": WEBHOOK_SECRET}
    if slack is not None:
        env |= {"slack_bot_token": BOT_TOKEN, "slack_api_url": slack.api_url}
        if signing:
            env["slack_signing_secret"] = SIGNING_SECRET
        if app_token:
            env["slack_app_token"] = "xapp-test"
    return Settings(config=AppConfig.model_validate(cfg), env=Env.model_validate(env))


def mention(n: int | str, **fields: Any) -> dict[str, Any]:
    """A valid mention in the ingest schema."""
    data: dict[str, Any] = {
        "source": "forum-x", "id": f"m{n}", "venue": "own", "url": f"https://example.org/p/{n}",
        "author": {"id": f"a{n}", "handle": f"klant{n}", "name": f"Klant {n}", "followers": 120,
                   "verified": False},
        "text": f"Waar blijft mijn pakket? ({n})", "created_at": "2026-11-22T09:15:00Z", "lang": "nl",
    }
    data.update(fields)
    return data


@dataclass
class Bot:
    """A running app and a client that speaks to it like Slack and integrators do."""

    server: TestServer
    http: aiohttp.ClientSession
    app: web.Application

    @property
    def rt(self) -> Runtime:
        return self.app[RUNTIME]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def post_mentions(self, payload: Any, *, secret: str | None = WEBHOOK_SECRET,
                            raw: bytes | None = None) -> tuple[int, Any]:
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Webcare-Signature"] = sign(secret, body)
        async with self.http.post(self.url("/webhooks/mentions"), data=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def slack(self, body: bytes, *, content_type: str, timestamp: int | None = None,
                    secret: str = SIGNING_SECRET, headers: dict[str, str] | None = None
                    ) -> tuple[int, str]:
        h = {"Content-Type": content_type, **sign_slack_request(secret, body, timestamp)}
        h.update(headers or {})
        async with self.http.post(self.url("/slack/events"), data=body, headers=h) as r:
            return r.status, await r.text()

    async def click(self, fake: FakeSlack, *, action_id: str, value: str, user: str = "U0AGENT1",
                    message_ts: str = "1.000001", **kw: Any) -> tuple[int, str]:
        body = block_action_body(action_id=action_id, value=value, user_id=user, channel_id=CHANNEL,
                                 message_ts=message_ts, trigger_id=fake.issue_trigger_id())
        return await self.slack(form_encode_payload(body),
                                content_type="application/x-www-form-urlencoded", **kw)

    async def submit(self, *, callback_id: str, private_metadata: str, values: dict[str, Any],
                     user: str = "U0AGENT1") -> tuple[int, str]:
        body = view_submission_body(callback_id=callback_id, private_metadata=private_metadata,
                                    values=values, user_id=user)
        return await self.slack(form_encode_payload(body),
                                content_type="application/x-www-form-urlencoded")

    async def event(self, event: dict[str, Any], *, event_id: str,
                    headers: dict[str, str] | None = None) -> tuple[int, str]:
        body = json.dumps(event_callback_body(event, event_id=event_id)).encode()
        return await self.slack(body, content_type="application/json", headers=headers)


def card_actions(message: dict[str, Any]) -> dict[str, str]:
    """action_id -> value of the buttons on a posted card."""
    out = {}
    for block in message.get("blocks", []):
        for el in block.get("elements", []) if block.get("type") == "actions" else []:
            if el.get("type") == "button":
                out[el["action_id"]] = el.get("value", "")
    return out


def card_text(message: dict[str, Any]) -> str:
    """A posted card's blocks as one string, for `in` checks."""
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


async def wait_until(predicate: Any, *, what: str, timeout: float = 15.0) -> Any:
    """Poll an async predicate (e.g. a database query) until it is truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def settle(bot: Bot, timeout: float = 10.0) -> None:
    """Wait until the outbox has nothing pending or in flight (every card and note is out)."""
    from sqlalchemy import func, select

    from bot.models import OutboxItem
    from bot.outbox import OPEN_OUTBOX_SQL

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with bot.rt.maker() as session:
            left = await session.scalar(select(func.count()).select_from(OutboxItem)
                                        .where(OutboxItem.status.in_(OPEN_OUTBOX_SQL)))
        if not left:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox did not settle: {left} rows open")
        await asyncio.sleep(0.02)


async def start_bot(settings: Settings, **kw: Any) -> Bot:
    """Start the app on a free loopback port."""
    app = create_app(settings, **kw)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return Bot(server=server, http=aiohttp.ClientSession(), app=app)


async def stop_bot(bot: Bot) -> None:
    await bot.http.close()
    await bot.server.close()


StartBot = Callable[..., Awaitable[Bot]]


@contextlib.asynccontextmanager
async def bots(settings: Callable[..., Settings], **kw: Any) -> AsyncIterator[StartBot]:
    """Start bots as a test asks for them (`await start(**overrides)`, each on `settings(**overrides)`,
    with `kw` for create_app); all are stopped at the end, the newest first."""
    running: list[Bot] = []

    async def start(**overrides: Any) -> Bot:
        bot = await start_bot(settings(**overrides), **kw)
        running.append(bot)
        return bot

    try:
        yield start
    finally:
        for bot in reversed(running):
            await stop_bot(bot)
