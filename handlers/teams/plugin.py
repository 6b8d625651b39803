"""Install the Teams transport: POST /api/messages (Bot Framework activities) and the Teams chat port.

Active when app.yaml says `chat: teams`; MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD are then needed
(MICROSOFT_APP_TENANT_ID for a single-tenant bot). Every request must carry the Bot Framework's signed
token (handlers/teams/auth.py); the activity is handled before the answer, in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot.clock import utcnow
from bot.errors import NotAllowed, WebcareError
from bot.logs import correlation_id
from bot.runtime import Runtime
from bot.services import audit, replies
from bot.settings import Settings
from handlers.teams import cards, listeners
from handlers.teams.auth import InboundAuth, Unauthorized
from handlers.teams.chat import TeamsChat
from handlers.teams.connector import BotConnector

log = logging.getLogger(__name__)
SETUP_HINT = "register a bot in Azure (Teams channel) and upload the app package (see README: Connect Teams)"


def install(app: web.Application, rt: Runtime) -> None:
    """Mount Teams on the app, or explain why it is off."""
    settings = rt.settings
    missing = settings.env.teams_missing()
    if settings.config.chat != "teams" or settings.config.teams is None or missing:
        message = (f"Teams is not configured: set {', '.join(missing)}; {SETUP_HINT}."
                   if missing and settings.config.chat == "teams"
                   else "Teams is off: this team works in Slack (chat: slack)")
        if settings.config.chat == "teams":
            log.warning(message)

        async def off(request: web.Request) -> web.Response:
            return web.json_response({"error": message}, status=503)

        app.router.add_post("/api/messages", off)
        return

    env = settings.env
    timeout = max(1.0, settings.config.outbox.lease.total_seconds() / 2)
    connector = _connector(settings, timeout=timeout)
    auth = InboundAuth(app_id=env.microsoft_app_id or "", openid_url=env.bot_openid_metadata_url)
    chat = TeamsChat(connector, rt.t, service_url=str(settings.config.teams.service_url),
                     tenant_id=env.microsoft_app_tenant_id, sinks=rt.sinks, maker=rt.maker)
    rt.chat = chat
    table = listeners.handlers(rt)

    async def messages(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            activity = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body is not a JSON activity"}, status=400)
        if not isinstance(activity, dict):
            return web.json_response({"error": "the body is not a JSON activity"}, status=400)
        try:
            await auth.verify(request.headers.get("Authorization"), activity)
        except Unauthorized as exc:
            log.warning("Teams: refused an activity: %s", exc)
            return web.json_response({"error": "unauthorized"}, status=401)
        chat.heard_from(activity)
        try:
            await _handle(rt, chat, table, activity)
        finally:
            rt.metrics.ack_latency.labels(kind=f"teams.{activity.get('type', '?')}").observe(
                time.perf_counter() - started)
        if activity.get("type") == "invoke":
            return web.json_response({}, status=200)
        return web.Response(status=200)

    app.router.add_post("/api/messages", messages)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await connector.close()
        await auth.close()

    app.cleanup_ctx.append(lifecycle)


async def _handle(rt: Runtime, chat: TeamsChat, table: dict[str, listeners.Handler],
                  activity: dict[str, Any]) -> None:
    """Run the activity's service call; tell the person who acted what they need to know."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    if activity.get("type") == "conversationUpdate":
        _log_installation(activity)
        return
    try:
        outcome = await listeners.handle(rt, table, activity)
    except WebcareError as exc:
        if isinstance(exc, NotAllowed):
            await _audit(rt, exc, activity)
        log.info("Teams: refused: %s", exc)
        await _tell(chat, conversation, _refusal(rt, exc))
        return
    except Exception:  # a bug or the database away: the person gets a reference, the log the cause
        log.exception("Teams: activity %s could not be handled", activity.get("id"))
        await _tell(chat, conversation, rt.t("error.unexpected", cid=correlation_id.get()))
        return
    if outcome is None:
        return
    if outcome.message:  # shown to the person alone (e.g. the text behind a content warning)
        user = listeners.user_of(activity)
        try:
            await _tell(chat, await chat.direct_channel(user), outcome.message)
        except Exception:  # the person cannot be reached privately: say so in the thread, not the text
            log.exception("Teams: could not open a private chat with %s", user)
    review = outcome.review
    click = listeners.click_of(activity)
    if review is not None and click is not None:  # the tone check: the warnings and the text, to send anyway
        ref = replies.parse_reply_ref(click.value)
        card = cards.review_card(rt.t, review.form, value=replies.reply_ref_value(ref.case, review.warned),
                                 max_length=review.form.max_length)
        try:
            await chat.post_form(conversation, card, summary=rt.t("modal.reply.review"))
        except Exception:  # the agent sees nothing happen; the log has the cause
            log.exception("Teams: could not show the tone check in %s", conversation)


def _connector(settings: Settings, *, timeout: float) -> BotConnector:
    env = settings.env
    password = env.microsoft_app_password
    return BotConnector(app_id=env.microsoft_app_id or "",
                        app_password=password.get_secret_value() if password else "",
                        tenant_id=env.microsoft_app_tenant_id, login_url=env.microsoft_login_url,
                        timeout=timeout)


def _refusal(rt: Runtime, error: WebcareError) -> str:
    params = dict(error.params)
    if isinstance(error, NotAllowed):
        roles = str(error.params.get("role")).split("/")
        params["role"] = rt.t("role.or").join(rt.t(f"role.{r}") for r in roles)
    return rt.t(error.key, **params)


async def _tell(chat: TeamsChat, conversation: str, text: str) -> None:
    if not conversation:
        return
    try:
        await chat.tell(conversation, text)
    except Exception:  # the person cannot be told; the log has the cause
        log.exception("Teams: could not answer in %s", conversation)


async def _audit(rt: Runtime, exc: NotAllowed, activity: dict[str, Any]) -> None:
    click = listeners.click_of(activity)
    rt.metrics.refused.labels(action=str(exc.params.get("action", "?"))).inc()
    async with rt.uow() as session:
        await audit.refusal(session, actor=str(exc.params.get("user", "?")), at=utcnow(),
                            ref=click.value if click else None, action=str(exc.params.get("action")),
                            role=str(exc.params.get("role")))


def _log_installation(activity: dict[str, Any]) -> None:
    """Say which channel the bot was added to: its id is what `teams.channel` in app.yaml needs."""
    data = activity.get("channelData") or {}
    channel = (data.get("channel") or {}).get("id")
    team = (data.get("team") or {}).get("name") or (data.get("team") or {}).get("id")
    if channel:
        log.info("Teams: %s in team %s, channel id %s (teams.channel in app.yaml)",
                 data.get("eventType") or "conversation update", team, channel)


async def check(settings: Settings) -> list[str]:
    """`webcare check`: with `chat: teams`, the Bot Framework credentials get a token."""
    if settings.config.chat != "teams":
        return []
    env = settings.env
    missing = env.teams_missing()
    if missing:
        return [f"teams: not configured: set {', '.join(missing)}; {SETUP_HINT}"]
    connector = _connector(settings, timeout=10)
    try:
        await connector.token()
    except Exception as exc:  # report any failure as one line
        return [f"teams: MICROSOFT_APP_ID/MICROSOFT_APP_PASSWORD rejected: {exc}"]
    finally:
        await connector.close()
    return []
