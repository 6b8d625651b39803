"""Install the Teams transport: POST /api/messages (Bot Framework activities) and the Teams chat port.

Active when app.yaml says `chat: teams`; MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD are then needed
(MICROSOFT_APP_TENANT_ID for a single-tenant bot). Every request must carry the Bot Framework's signed
token (handlers/teams/auth.py); the activity is handled before the answer, in one transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.clock import utcnow
from bot.errors import NotAllowed, WebcareError
from bot.logs import correlation_id
from bot.models import IntegrationState
from bot.phrasing import refusal
from bot.runtime import Runtime
from bot.services import audit, replies
from bot.settings import Settings
from bot.sql import upsert
from bot.views import CardAction
from handlers.teams import cards, listeners
from handlers.teams.auth import InboundAuth, Unauthorized
from handlers.teams.chat import TeamsChat
from handlers.teams.connector import BotConnector
from handlers.teams.markdown import TEAMS

log = logging.getLogger(__name__)
SERVICE_URL_KEY = "teams:service_url"
"""The integration_state row that keeps where Teams' Bot Connector is."""
SETUP_HINT = "register a bot in Azure (Teams channel) and upload the app package (see README: Connect Teams)"


def install(app: web.Application, rt: Runtime) -> None:
    """Mount Teams on the app, or explain why it is off."""
    settings, env = rt.settings, rt.settings.env
    if settings.config.chat != "teams" or settings.config.teams is None:
        _unavailable(app, "Teams is off: this team works in Slack (chat: slack)")
        return
    missing = env.teams_missing()
    if missing:
        _unavailable(app, f"Teams is not configured: set {', '.join(missing)}; {SETUP_HINT}.", warn=True)
        return
    tenant = settings.config.teams.tenant_id or env.microsoft_app_tenant_id
    if tenant is None:
        _unavailable(app, "Teams is not configured: set teams.tenant_id in app.yaml (or "
                          "MICROSOFT_APP_TENANT_ID): activities from other tenants are refused", warn=True)
        return
    timeout = max(1.0, settings.config.outbox.lease.total_seconds() / 2)
    connector = _connector(settings, timeout=timeout)
    auth = InboundAuth(app_id=env.microsoft_app_id or "", openid_url=env.bot_openid_metadata_url)
    chat = TeamsChat(connector, rt.t, service_url=str(settings.config.teams.service_url),
                     tenant_id=tenant, sinks=rt.sinks, maker=rt.maker,
                     library=bool(rt.craft.config.library and rt.craft.config.suggestions))
    rt.chat = chat
    table = listeners.handlers(rt)
    answering: set[asyncio.Task[None]] = set()

    async def messages(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            activity = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "the body is not a JSON activity"}, status=400)
        shape = _misshapen(activity)
        if shape:
            return web.json_response({"error": shape}, status=400)
        try:
            await auth.verify(request.headers.get("Authorization"), activity)
        except Unauthorized as exc:
            log.warning("Teams: refused an activity: %s", exc)
            return web.json_response({"error": "unauthorized"}, status=401)
        refused = _foreign(activity, tenant)
        if refused:
            log.warning("Teams: ignored an activity %s", refused)
            return web.json_response({"error": refused}, status=403)
        if chat.heard_from(activity):
            await _store_service_url(rt, chat.service_url)
        try:
            answer = await _handle(rt, table, activity)
        finally:
            rt.metrics.ack_latency.labels(kind=f"teams.{activity.get('type', '?')}").observe(
                time.perf_counter() - started)
        if answer is not None:  # after the 200: Teams gives an activity about 15 s
            task = asyncio.create_task(_answer(rt, chat, answer), name="teams-answer")
            answering.add(task)
            task.add_done_callback(answering.discard)
        if activity.get("type") == "invoke":
            return web.json_response({}, status=200)
        return web.Response(status=200)

    app.router.add_post("/api/messages", messages)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        try:  # where Teams last said its Bot Connector is (after the migrations: cleanup_ctx order)
            async with rt.maker() as session:
                stored = await session.get(IntegrationState, SERVICE_URL_KEY)
            if stored is not None and stored.cursor.get("url"):
                chat.service_url = str(stored.cursor["url"])
        except Exception:  # the default from app.yaml stays; the next activity sets it
            log.exception("Teams: could not read the stored Bot Connector address")
        yield
        if answering:
            await asyncio.wait(answering, timeout=5)
        await connector.close()
        await auth.close()

    app.cleanup_ctx.append(lifecycle)


def _unavailable(app: web.Application, message: str, *, warn: bool = False) -> None:
    """Answer /api/messages with 503 and why (Teams is off, or not set up yet)."""
    if warn:
        log.warning(message)

    async def unavailable(request: web.Request) -> web.Response:
        return web.json_response({"error": message}, status=503)

    app.router.add_post("/api/messages", unavailable)


ACTIVITY_OBJECTS = ("from", "recipient", "conversation", "channelData")
"""Activity fields that are objects when present (the handlers read into them)."""


def _misshapen(activity: Any) -> str | None:
    """Why a body is not an activity we can read (a 400), or None."""
    if not isinstance(activity, dict):
        return "the body is not a JSON activity"
    for name in ACTIVITY_OBJECTS:
        if activity.get(name) is not None and not isinstance(activity[name], dict):
            return f"activity field {name!r} is not an object"
    data = activity.get("channelData") or {}
    for name in ("tenant", "team", "channel"):
        if data.get(name) is not None and not isinstance(data[name], dict):
            return f"activity field 'channelData.{name}' is not an object"
    for name in ("type", "id", "serviceUrl", "channelId", "text", "replyToId"):
        if activity.get(name) is not None and not isinstance(activity[name], str):
            return f"activity field {name!r} is not a string"
    return None


@dataclass(frozen=True)
class Answer:
    """What the person who acted is told, after Teams got its 200: privately when the bot can reach
    them in a 1:1 chat, else in the conversation they acted in (the private text never goes there)."""

    user: str
    conversation: str
    text: str | None = None
    card: dict[str, Any] | None = None
    summary: str = ""
    private_only: bool = False
    markdown: bool = False
    public: bool = False
    """For everyone in the conversation (not a person's answer): never sent privately."""
    replace: str | None = None
    """The id of the card in `conversation` that `card` takes the place of."""


async def _handle(rt: Runtime, table: dict[str, listeners.Handler], activity: dict[str, Any]) -> Answer | None:
    """Run the activity's service call (before Teams gets its answer); what to tell the person after."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    user = listeners.user_of(activity)
    if activity.get("type") == "conversationUpdate":
        return _installed(rt, activity)
    try:
        outcome = await listeners.handle(rt, table, activity)
    except WebcareError as exc:
        if isinstance(exc, NotAllowed):
            click = listeners.click_of(activity)
            await audit.refused(rt, exc, click.value if click else None)
        log.info("Teams: refused: %s", exc)
        return Answer(user, conversation, text=refusal(rt.t, TEAMS, exc))
    except Exception:  # a bug or the database away: the person gets a reference, the log the cause
        log.exception("Teams: activity %s could not be handled", activity.get("id"))
        return Answer(user, conversation, text=rt.t("error.unexpected", cid=correlation_id.get()))
    if outcome is None:
        return _sent_from_private_card(rt, activity, user, conversation)
    if outcome.message:  # e.g. the text behind a content warning: to the person alone
        return Answer(user, conversation, text=outcome.message, private_only=True)
    if outcome.answer:
        return Answer(user, conversation, text=outcome.answer, markdown=True)
    review, click = outcome.review, listeners.click_of(activity)
    if review is not None and click is not None:  # the tone check: the warnings and the text, to send anyway
        ref = replies.parse_reply_ref(click.value)
        card = cards.review_card(rt.t, review.form, value=replies.reply_ref_value(ref.case, review.warned),
                                 max_length=review.form.max_length, approval=click.text("approval"))
        return Answer(user, conversation, card=card, summary=rt.t("modal.reply.review"))
    if outcome.suggestions is not None and click is not None:  # the answer library's wordings
        card = cards.suggestions_card(rt.t, outcome.suggestions, value=click.value)
        return Answer(user, conversation, card=card, summary=rt.t("teams.suggestions"), private_only=True)
    return None


def _sent_from_private_card(rt: Runtime, activity: dict[str, Any], user: str,
                            conversation: str) -> Answer | None:
    """A reply sent from a card in the person's 1:1 chat (the tone check, the wordings): that card now
    says so, and offers no second send."""
    click = listeners.click_of(activity)
    card_id = activity.get("replyToId")
    personal = (activity.get("conversation") or {}).get("conversationType") == "personal"
    if click is None or click.action != CardAction.REPLY or not personal or not isinstance(card_id, str):
        return None
    return Answer(user, conversation, card=cards.reply_done(rt.t), summary=rt.t("teams.reply_done_summary"),
                  replace=card_id)


async def _answer(rt: Runtime, chat: TeamsChat, answer: Answer) -> None:
    """Tell the person: in their 1:1 chat with the bot, else (unless private) where they acted."""
    if answer.replace is not None and answer.card is not None:
        try:
            await chat.replace_form(answer.conversation, answer.replace, answer.card, summary=answer.summary)
        except Exception:  # the card stays as it was; the reply is on its way regardless
            log.exception("Teams: could not update card %s in %s", answer.replace, answer.conversation)
        return

    async def send(conversation: str) -> None:
        if answer.card is not None:
            await chat.post_form(conversation, answer.card, summary=answer.summary)
        else:
            await chat.tell(conversation, answer.text or "", markdown=answer.markdown)

    if not answer.public:
        try:
            await send(await chat.direct_channel(answer.user))
            return
        except Exception as exc:  # the app is not installed for this person: no 1:1 chat
            log.info("Teams: no 1:1 chat with %s (%s)", answer.user, exc)
    try:
        if answer.private_only:
            await chat.tell(answer.conversation, rt.t("teams.no_private_chat"))
        else:
            await send(answer.conversation)
    except Exception:  # the person cannot be told; the log has the cause
        log.exception("Teams: could not answer in %s", answer.conversation)


async def _store_service_url(rt: Runtime, url: str) -> None:
    """Keep the Bot Connector address for the next start (every instance reads it there)."""
    now = utcnow()
    async with rt.uow() as session:
        await session.execute(upsert(session, IntegrationState, ["key"], ["cursor", "updated_at"]),
                              [{"key": SERVICE_URL_KEY, "cursor": {"url": url}, "next_poll_at": now,
                                "updated_at": now}])


def _foreign(activity: dict[str, Any], tenant: str) -> str | None:
    """Why an activity is not ours to act on (not from Teams, or from another tenant), else None."""
    if activity.get("channelId") != "msteams":
        return f"from channel {str(activity.get('channelId'))[:40]!r}, not Teams"
    data_tenant = ((activity.get("channelData") or {}).get("tenant") or {}).get("id")
    their = str(data_tenant or (activity.get("conversation") or {}).get("tenantId") or "").lower()
    if their != tenant.lower():
        return f"from tenant {their[:40]!r}, not ours"
    return None


def _connector(settings: Settings, *, timeout: float) -> BotConnector:
    env = settings.env
    password = env.microsoft_app_password
    return BotConnector(app_id=env.microsoft_app_id or "",
                        app_password=password.get_secret_value() if password else "",
                        tenant_id=env.microsoft_app_tenant_id, login_url=env.microsoft_login_url,
                        timeout=timeout)


def _installed(rt: Runtime, activity: dict[str, Any]) -> Answer | None:
    """The bot was added to a team: say so there, with the ids `teams.channel` in app.yaml needs."""
    data = activity.get("channelData") or {}
    team = data.get("team") or {}
    channel = str((data.get("channel") or {}).get("id") or team.get("id") or "")
    bot = (activity.get("recipient") or {}).get("id")
    added = [m.get("id") for m in activity.get("membersAdded") or [] if isinstance(m, dict)]
    log.info("Teams: %s in team %s, channel id %s (teams.channel in app.yaml)",
             data.get("eventType") or "conversation update", team.get("name") or team.get("id"), channel)
    if not bot or bot not in added or not channel or (activity.get("conversation") or {}).get(
            "conversationType") != "channel":
        return None
    teams = rt.settings.config.teams
    configured = teams is not None and channel in (teams.channel, teams.approvals_channel, teams.alerts_channel)
    text = rt.t("teams.installed_here" if configured else "teams.installed", team=team.get("name") or "?",
                channel=channel)
    return Answer("", channel, text=text, public=True)


async def check(settings: Settings) -> list[str]:
    """`webcare check`: with `chat: teams`, the Bot Framework credentials get a token."""
    if settings.config.chat != "teams":
        return []
    env = settings.env
    missing = env.teams_missing()
    if missing:
        return [f"teams: not configured: set {', '.join(missing)}; {SETUP_HINT}"]
    problems = []
    teams = settings.config.teams
    if (teams.tenant_id if teams else None) is None and env.microsoft_app_tenant_id is None:
        problems.append("teams: set teams.tenant_id in app.yaml (or MICROSOFT_APP_TENANT_ID): without it "
                        "/api/messages acts on nothing")
    connector = _connector(settings, timeout=10)
    try:
        await connector.token()
    except Exception as exc:  # report any failure as one line
        problems.append(f"teams: MICROSOFT_APP_ID/MICROSOFT_APP_PASSWORD rejected: {exc}")
    finally:
        await connector.close()
    return problems
