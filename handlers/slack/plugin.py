"""Install the Slack transport: /slack/events (HTTP), Socket Mode when SLACK_APP_TOKEN is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import RUNTIME, Runtime
from bot.settings import Settings
from handlers.slack import listeners
from handlers.slack.chart_uploads import ChartUploads
from handlers.slack.chat import SlackChat

log = logging.getLogger(__name__)
MANIFEST_HINT = "create the app from slack-manifest.yaml (see README: Connect Slack)"


def build_bolt(rt: Runtime, client: AsyncWebClient) -> AsyncApp:
    """The Bolt app with every listener registered."""
    secret = rt.settings.env.slack_signing_secret
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "socket-mode-only",
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        ignoring_self_events_enabled=True,
    )
    listeners.register(app, rt)
    return app


def _kind(body: bytes) -> str:
    if body.startswith(b"payload="):
        return "interactive"
    if b"command=" in body[:200]:
        return "command"
    return "event"


def install(app: web.Application, rt: Runtime) -> None:
    """Mount Slack on the app, or explain what is missing."""
    env = rt.settings.env
    slack = rt.settings.config.slack
    missing = env.slack_missing()
    if rt.settings.config.chat != "slack" or slack is None or missing:
        message = (f"Slack is not configured: set {', '.join(missing)}; {MANIFEST_HINT}." if missing
                   else "Slack is off: this team works in Teams (chat: teams in app.yaml)")
        if rt.settings.config.chat == "slack":
            log.warning(message)

        async def not_configured(request: web.Request) -> web.Response:
            return web.json_response({"error": message}, status=503)

        app.router.add_post("/slack/events", not_configured)
        return

    token = env.slack_bot_token.get_secret_value()  # type: ignore[union-attr]
    lease = rt.settings.config.outbox.lease.total_seconds()
    # The outbox client has no retry handlers: 429s and failures go back to the dispatcher.
    outbox_client = AsyncWebClient(token=token, base_url=env.slack_api_url,
                                   timeout=max(1, int(lease / 2)), retry_handlers=[])
    # A chart upload (three calls) gets a quarter of the lease: the card itself must still go out in time.
    charts = ChartUploads(outbox_client, rt.t, timeout=lease / 4) if slack.charts else None
    rt.chat = SlackChat(outbox_client, rt.t, charts)
    bolt = build_bolt(rt, AsyncWebClient(token=token, base_url=env.slack_api_url, timeout=10))

    async def events(request: web.Request) -> web.Response:
        started = time.perf_counter()
        bolt_request = await to_bolt_request(request)
        response = await to_aiohttp_response(await bolt.async_dispatch(bolt_request))
        rt.metrics.ack_latency.labels(kind=_kind(bolt_request.raw_body.encode()[:300])).observe(
            time.perf_counter() - started)
        return response

    if env.slack_signing_secret is not None:
        app.router.add_post("/slack/events", events)
    else:
        async def http_disabled(request: web.Request) -> web.Response:
            return web.json_response(
                {"error": "HTTP mode is off (Socket Mode only): set SLACK_SIGNING_SECRET"},
                status=503)

        app.router.add_post("/slack/events", http_disabled)

    groups = rt.coord.team.group_ids()
    if groups:
        group_client = AsyncWebClient(token=token, base_url=env.slack_api_url, timeout=10)
        app.cleanup_ctx.append(_user_groups(rt, group_client, sorted(groups)))

    if env.slack_app_token is not None:
        app_token = env.slack_app_token.get_secret_value()

        async def socket_mode(app: web.Application) -> AsyncIterator[None]:
            handler = AsyncSocketModeHandler(bolt, app_token)
            await handler.connect_async()
            log.info("Slack Socket Mode connected")
            yield
            await handler.close_async()

        app.cleanup_ctx.append(socket_mode)


GROUP_REFRESH = 600.0
"""Seconds between refreshes of the roles' user groups (usergroups.users.list)."""


def _user_groups(rt: Runtime, client: AsyncWebClient, groups: list[str]):  # type: ignore[no-untyped-def]
    """Keep the team's user groups (roles listing `S…` ids) filled in, refreshed every 10 minutes."""

    async def refresh() -> None:
        while True:
            for group in groups:
                try:
                    data = await client.usergroups_users_list(usergroup=group)
                    rt.coord.team.set_group(group, list(data.get("users") or []))
                except Exception as exc:  # keep the last known members; say why once per round
                    log.warning("could not read user group %s: %s", group, _reason(exc))
            await asyncio.sleep(GROUP_REFRESH)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(refresh(), name="slack-user-groups")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


__all__ = ["install", "build_bolt", "RUNTIME"]


BOT_SCOPES = (
    "chat:write", "channels:history", "groups:history", "im:write", "im:history", "commands", "usergroups:read",
    "files:write",
)
"""The bot token's scopes, as `slack-manifest.yaml` asks for them."""


def missing_scopes(granted: str | None, *, charts: bool) -> list[str]:
    """The scopes the bot needs but its token lacks, from an answer's `X-OAuth-Scopes` (None: not said)."""
    if granted is None:
        return []
    have = {s.strip() for s in granted.split(",")}
    return [s for s in BOT_SCOPES if s not in have and (charts or s != "files:write")]


async def check(settings: Settings) -> list[str]:
    """`webcare check`: Slack credentials work (auth.test) with the scopes the bot needs."""
    env = settings.env
    if settings.config.chat != "slack":
        return []  # the team works in Teams: Slack's variables are not needed
    missing = env.slack_missing()
    if missing:
        return [f"slack: not configured: set {', '.join(missing)}; {MANIFEST_HINT}"]
    client = AsyncWebClient(token=env.slack_bot_token.get_secret_value(),  # type: ignore[union-attr]
                            base_url=env.slack_api_url, timeout=10)
    problems = []
    try:
        answer = await client.auth_test()
    except Exception as exc:  # report any failure as one line
        problems.append(f"slack: SLACK_BOT_TOKEN rejected by auth.test: {_reason(exc)}")
    else:
        headers = {str(k).lower(): v for k, v in (answer.headers or {}).items()}
        charts = settings.config.slack is not None and settings.config.slack.charts
        lacking = missing_scopes(headers.get("x-oauth-scopes"), charts=charts)
        if lacking:
            problems.append(f"slack: the bot token lacks {', '.join(lacking)}: add to the app's scopes "
                            "(slack-manifest.yaml) and reinstall it")
    if env.slack_app_token is not None:
        try:
            await client.apps_connections_open(app_token=env.slack_app_token.get_secret_value())
        except Exception as exc:  # report any failure as one line
            problems.append(f"slack: SLACK_APP_TOKEN rejected (Socket Mode): {_reason(exc)}")
    return problems


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return (str(exc) or repr(exc))[:200]
