"""Chart images of surge alerts on Slack: a new upload at most every five minutes per surge, reused between.

An upload is three Web API calls (files.getUploadURLExternal, the bytes to the returned upload URL,
files.completeUploadExternal: slack_sdk's `files_upload_v2`). The file is not shared to a channel: an
image block may show a file the poster can access (Slack's "slack_file" object), and the bot
uploaded it. The last file id of each surge is kept in memory (a restart or another instance simply
uploads again). A failed upload never holds the card back: it goes out with the text chart only.

Once the card shows a new chart, the one it showed before is deleted (files.delete), and so is a file
Slack keeps refusing: a storm of some hours leaves one file in the workspace, not one per upload. An
instance deletes only files it uploaded and saw replaced (it remembers in memory only): with several
instances taking turns on a card, or one that stopped, a few files stay behind. None is deleted while
a card shows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.i18n import Translator
from bot.views import SurgeAlert
from handlers.slack.surge_blocks import ChartImage, chart_alt
from handlers.slack.surge_chart import rate_chart

log = logging.getLogger(__name__)

CHART_EVERY = 300.0
"""Seconds between two uploads of one surge's chart (and only when its history has a new point): the
alert card is the managers' overview, updated every minute while the storm grows; its figures are live."""
MAX_SURGES = 64
"""Surges whose last chart is remembered (the oldest used is forgotten first)."""
MAX_REJECTIONS = 2
"""Cards Slack refused with a file (invalid_blocks) before the file is dropped and uploaded again."""
DELETE_TIMEOUT = 10.0
"""Seconds a deletion of an old chart may take (it runs beside the cards, never holding one)."""


@dataclass
class _Chart:
    image: ChartImage | None
    point: tuple[datetime, float] | None  # the newest history point drawn in the image
    tried_at: float  # clock time of the last upload attempt, successful or not
    rejected: int = 0
    shown: str | None = None  # the file id the card shows since its last successful send
    deleted: str | None = None  # the file id deleted last (not asked twice)


class ChartUploads:
    """Upload a surge's rate chart when it is due, and remember the file id to show meanwhile."""

    def __init__(self, client: AsyncWebClient, t: Translator, *, timeout: float, every: float = CHART_EVERY,
                 clock: Callable[[], float] = time.monotonic, max_surges: int = MAX_SURGES) -> None:
        self._client, self._t = client, t
        self._timeout, self._every, self._clock, self._max = timeout, every, clock, max_surges
        self._charts: OrderedDict[str, _Chart] = OrderedDict()
        self._deleting: set[asyncio.Task[None]] = set()

    async def image_for(self, alert: SurgeAlert) -> ChartImage | None:
        """The chart to show on the alert card: the last upload, or a new one when due; None: none."""
        if not alert.history:
            return None
        point = alert.history[-1]
        chart = self._charts.get(alert.ref)
        if chart is not None:
            self._charts.move_to_end(alert.ref)
            if chart.point == point or self._clock() - chart.tried_at < self._every:
                return chart.image
        else:
            chart = self._remember(alert.ref)
        chart.tried_at = self._clock()
        image = await self._upload(alert)
        if image is not None:
            replaced = chart.image
            chart.image, chart.point, chart.rejected = image, point, 0
            if replaced is not None and replaced.file_id != chart.shown:  # uploaded, never shown
                self._retire(chart, alert.ref, replaced.file_id)
        return chart.image

    def shown(self, ref: str, file_id: str | None) -> None:
        """The card of surge `ref` now shows `file_id` (None: no image): the chart it showed before is
        deleted, unless it is still the one to offer (a single refusal; `rejected` decides)."""
        chart = self._charts.get(ref)
        if chart is None:
            return
        before, chart.shown = chart.shown, file_id
        if before is not None and before != file_id and not (chart.image and chart.image.file_id == before):
            self._retire(chart, ref, before)

    def rejected(self, ref: str, file_id: str) -> None:
        """Slack refused the card with `file_id` and took it without: after a second refusal the file is
        dropped (the next round uploads anew) and deleted."""
        chart = self._charts.get(ref)
        if chart is None or chart.image is None or chart.image.file_id != file_id:
            return
        chart.rejected += 1
        if chart.rejected >= MAX_REJECTIONS:  # gone, or never usable
            chart.image, chart.point, chart.rejected = None, None, 0
            if file_id != chart.shown:
                self._retire(chart, ref, file_id)

    async def drain(self) -> None:
        """Wait for the deletions under way (tests; a stop simply leaves their files behind)."""
        while self._deleting:
            await asyncio.gather(*self._deleting, return_exceptions=True)

    def _retire(self, chart: _Chart, ref: str, file_id: str) -> None:
        """Delete a chart no card shows any more, beside the card's own calls (never holding its lane)."""
        if file_id == chart.deleted:
            return
        chart.deleted = file_id
        task = asyncio.create_task(self._delete(ref, file_id), name=f"chart-delete-{file_id}")
        self._deleting.add(task)
        task.add_done_callback(self._deleting.discard)

    async def _delete(self, ref: str, file_id: str) -> None:
        """files.delete; a failure only leaves the file behind."""
        try:
            async with asyncio.timeout(DELETE_TIMEOUT):
                await self._client.files_delete(file=file_id)
        except SlackApiError as exc:
            if _reason(exc) not in ("file_not_found", "file_deleted"):
                log.info("surge %s: old chart %s not deleted: %s", ref, file_id, _reason(exc))
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("surge %s: old chart %s not deleted: %s", ref, file_id, _reason(exc))

    def _remember(self, ref: str) -> _Chart:
        chart = self._charts[ref] = _Chart(image=None, point=None, tried_at=self._clock())
        while len(self._charts) > self._max:
            self._charts.popitem(last=False)
        return chart

    async def _upload(self, alert: SurgeAlert) -> ChartImage | None:
        # about 50 ms of drawing: off the event loop, which also answers Slack's 3-second requests
        png = await asyncio.to_thread(rate_chart, alert.history, alert.expected_per_hour, self._t)
        alt = chart_alt(alert.history, alert.expected_per_hour, self._t)
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.files_upload_v2(
                    content=png, filename=f"surge-{alert.ref}.png", title=self._t("surge.chart_title"),
                    alt_txt=alt[:1000])
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("surge %s: chart image not uploaded (the card shows the text chart): %s",
                        alert.ref, _reason(exc))
            return None
        file = response.get("file")
        if not isinstance(file, dict) or not file.get("id"):
            return None
        return ChartImage(file_id=str(file["id"]), alt=alt)


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        error = str((exc.response.data or {}).get("error", "")) if isinstance(exc.response.data, dict) else ""
        if error == "missing_scope":
            return "missing_scope: add files:write to the app (slack-manifest.yaml) and reinstall it, " \
                   "or set slack.charts: false"
        return error or str(exc.response.status_code)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return (str(exc) or repr(exc))[:200]
