"""The Slack ChatPort: posts and updates cards through the Web API, marking each post for reconcile."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.i18n import Translator
from bot.ports import MessageRef, PermanentError, RateLimited, TransientError, UnknownOutcome
from bot.views import ApprovalCard, CaseCard, ClusterCard, PersonMessage, StormCard, SurgeAlert, ThreadNote
from handlers.slack.blocks import render_card, render_note, render_notice
from handlers.slack.chart_uploads import ChartUploads
from handlers.slack.coord_blocks import render_approval, render_person_message
from handlers.slack.ids import MARKER_EVENT
from handlers.slack.surge_blocks import render_cluster, render_storm, render_surge

log = logging.getLogger(__name__)
T = TypeVar("T")

PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "invalid_blocks",
    "invalid_auth", "account_inactive", "token_revoked", "no_permission", "missing_scope",
    "message_not_found", "cant_update_message", "invalid_arguments", "not_authed",
    "user_not_found", "user_disabled", "cannot_dm_bot",
}


class SlackChat:
    """ChatPort over slack_sdk's AsyncWebClient (created without retry handlers: the outbox retries)."""

    def __init__(self, client: AsyncWebClient, t: Translator, charts: ChartUploads | None = None) -> None:
        self._client = client
        self._t = t
        self._charts = charts
        self._direct: dict[str, str] = {}

    async def post_card(self, *, channel: str, card: CaseCard, marker: str) -> MessageRef:
        """Post a new card with the outbox key in the message metadata."""
        text, blocks = render_card(card, self._t)
        data = await self._call("chat_postMessage", channel=channel, text=text, blocks=blocks,
                                unfurl_links=False, unfurl_media=False,
                                metadata=_metadata(marker))
        return MessageRef(channel=data["channel"], ts=data["ts"])

    async def update_card(self, *, ref: MessageRef, card: CaseCard) -> None:
        """Replace the card's blocks in place."""
        text, blocks = render_card(card, self._t)
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def post_note(self, *, parent: MessageRef, note: ThreadNote, marker: str) -> MessageRef:
        """Post a history line in the card's thread."""
        data = await self._call("chat_postMessage", channel=parent.channel, thread_ts=parent.ts,
                                text=render_note(note, self._t), unfurl_links=False,
                                metadata=_metadata(marker))
        return MessageRef(channel=data["channel"], ts=data["ts"])

    async def post_notice(self, *, channel: str, note: ThreadNote, marker: str) -> MessageRef:
        """Post a notice to the channel (not in a thread)."""
        data = await self._call("chat_postMessage", channel=channel, text=render_notice(note, self._t),
                                unfurl_links=False, metadata=_metadata(marker))
        return MessageRef(channel=data["channel"], ts=data["ts"])

    async def find_marker(self, *, channel: str, marker: str, since: datetime,
                          thread_ts: str | None = None) -> MessageRef | None:
        """Look through recent messages (or the thread) for one posted with `marker`."""
        oldest = f"{since.timestamp():.6f}"
        cursor: str | None = None
        for _ in range(20):
            if thread_ts:
                data = await self._call("conversations_replies", channel=channel, ts=thread_ts,
                                        oldest=oldest, include_all_metadata=True, limit=200,
                                        cursor=cursor)
            else:
                data = await self._call("conversations_history", channel=channel, oldest=oldest,
                                        include_all_metadata=True, limit=200, cursor=cursor)
            for message in data.get("messages", []):
                meta = message.get("metadata") or {}
                if (meta.get("event_type") == MARKER_EVENT
                        and (meta.get("event_payload") or {}).get("key") == marker):
                    return MessageRef(channel=channel, ts=message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not data.get("has_more") or not cursor:
                return None
        return None

    def is_person(self, to: str) -> bool:
        """Slack user ids start with U or W; channels with C, G or D."""
        return to[:1] in ("U", "W")

    async def direct_channel(self, user: str) -> str:
        """Open (or find) the bot's direct conversation with `user` (conversations.open)."""
        if user not in self._direct:
            data = await self._call("conversations_open", users=user)
            self._direct[user] = data["channel"]["id"]
        return self._direct[user]

    async def post_message(self, *, channel: str, message: PersonMessage, marker: str) -> MessageRef:
        """Post a nudge, escalation or expert question."""
        text, blocks = render_person_message(message, self._t)
        data = await self._call("chat_postMessage", channel=channel, text=text, blocks=blocks,
                                unfurl_links=False, unfurl_media=False, metadata=_metadata(marker))
        return MessageRef(channel=data["channel"], ts=data["ts"])

    async def post_approval(self, *, channel: str, card: ApprovalCard, marker: str) -> MessageRef:
        """Post an approval card for the spokespersons."""
        text, blocks = render_approval(card, self._t)
        data = await self._call("chat_postMessage", channel=channel, text=text, blocks=blocks,
                                unfurl_links=False, unfurl_media=False, metadata=_metadata(marker))
        return MessageRef(channel=data["channel"], ts=data["ts"])

    async def update_approval(self, *, ref: MessageRef, card: ApprovalCard) -> None:
        """Show the decision on the approval card."""
        text, blocks = render_approval(card, self._t)
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def post_surge(self, *, channel: str, alert: SurgeAlert, marker: str) -> MessageRef:
        """Post a surge alert card (with its chart image when one could be uploaded)."""

        async def post(text: str, blocks: list[dict[str, Any]]) -> MessageRef:
            return await self._post(channel, text, blocks, marker=marker)

        return await self._with_chart(alert, post)

    async def update_surge(self, *, ref: MessageRef, alert: SurgeAlert) -> None:
        """Update a surge alert card in place (with its chart image when one could be uploaded)."""

        async def update(text: str, blocks: list[dict[str, Any]]) -> None:
            await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

        await self._with_chart(alert, update)

    async def _with_chart(self, alert: SurgeAlert,
                          send: Callable[[str, list[dict[str, Any]]], Awaitable[T]]) -> T:
        """Send the alert with its chart image; without it when there is none or Slack refuses it."""
        chart = await self._charts.image_for(alert) if self._charts else None
        if chart is not None and self._charts is not None:
            try:
                result = await send(*render_surge(alert, self._t, chart=chart))
            except PermanentError as exc:
                if not _invalid_blocks(exc):
                    raise
                log.warning("surge %s: Slack refused the chart image %s; sending the card without it",
                            alert.ref, chart.file_id)
                result = await send(*render_surge(alert, self._t))
                # taken without it: the image was the cause (e.g. still processing, or deleted)
                self._charts.rejected(alert.ref, chart.file_id)
                self._charts.shown(alert.ref, None)
                return result
            self._charts.shown(alert.ref, chart.file_id)
            return result
        result = await send(*render_surge(alert, self._t))
        if self._charts is not None:
            self._charts.shown(alert.ref, None)
        return result

    async def post_storm(self, *, channel: str, card: StormCard, marker: str) -> MessageRef:
        """Post a storm card."""
        return await self._post(channel, *render_storm(card, self._t), marker=marker)

    async def update_storm(self, *, ref: MessageRef, card: StormCard) -> None:
        """Update a storm card in place."""
        text, blocks = render_storm(card, self._t)
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def post_cluster(self, *, channel: str, card: ClusterCard, marker: str) -> MessageRef:
        """Post a cluster card."""
        return await self._post(channel, *render_cluster(card, self._t), marker=marker)

    async def update_cluster(self, *, ref: MessageRef, card: ClusterCard) -> None:
        """Update a cluster card in place."""
        text, blocks = render_cluster(card, self._t)
        await self._call("chat_update", channel=ref.channel, ts=ref.ts, text=text, blocks=blocks)

    async def _post(self, channel: str, text: str, blocks: list[dict[str, Any]], *, marker: str) -> MessageRef:
        data = await self._call("chat_postMessage", channel=channel, text=text, blocks=blocks,
                                unfurl_links=False, unfurl_media=False, metadata=_metadata(marker))
        return MessageRef(channel=data["channel"], ts=data["ts"])

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await getattr(self._client, method)(**kwargs)
        except SlackApiError as exc:
            raise _translate(exc) from exc
        except (TimeoutError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise UnknownOutcome(f"slack {method}: {exc!r}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise TransientError(f"slack {method}: cannot connect: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise UnknownOutcome(f"slack {method}: {exc!r}") from exc
        return dict(response.data)  # type: ignore[arg-type]


def _metadata(marker: str) -> dict[str, Any]:
    return {"event_type": MARKER_EVENT, "event_payload": {"key": marker}}


def _invalid_blocks(exc: PermanentError) -> bool:
    cause = exc.__cause__
    return (isinstance(cause, SlackApiError) and isinstance(cause.response.data, dict)
            and cause.response.data.get("error") == "invalid_blocks")


def _translate(exc: SlackApiError) -> Exception:
    status = exc.response.status_code
    error = (exc.response.data or {}).get("error", "") if isinstance(exc.response.data, dict) else ""
    if status == 429 or error == "ratelimited":
        try:
            retry_after = float(exc.response.headers.get("Retry-After", 1))
        except (TypeError, ValueError):
            retry_after = 1.0
        return RateLimited(retry_after, "slack")
    if error in PERMANENT:
        return PermanentError(f"slack: {error}")
    return TransientError(f"slack: {error or status}")
