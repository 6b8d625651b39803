"""One RSS/Atom feed as a polled, read-only source: conditional GET, feedparser, entries to mentions.

Each poll sends the cursor's `ETag` / `Last-Modified` back (`If-None-Match` / `If-Modified-Since`):
a 304 costs nothing and changes nothing. A 200 is parsed with feedparser; malformed ("bozo") feeds
are used as long as they still yield entries.

The cursor, which the core stores together with the emitted mentions in one transaction, is
``{"etag", "last_modified", "newest", "seen"}``: the validators to send next time, the newest entry
date seen so far (ISO-8601) and the ids of at most `SEEN_LIMIT` entries seen (those of the latest
document first).

Which entries are emitted:

- **First poll** of a feed (no cursor yet): only entries dated within `lookback` (default 1 day)
  before now. Adding a blog with years of history therefore does not flood the channel; older and
  undated entries are only remembered as seen.
- **Later polls**: entries whose id is not among the seen ids and that are not dated more than
  `lookback` before the newest entry already seen (a guard for feeds longer than the seen set,
  where an old entry could otherwise come back as "new"). New undated entries are dated now.

Entry to mention: `id` is the entry id (guid), else its link, else a hash of its content (bare
guids such as ``123`` are qualified with the feed URL so two feeds cannot collide); `thread_id` is
the discussion the entry belongs to when it is a comment (Atom ``thr:in-reply-to``, else the page of
a ``…#comment-5`` link), else none (a post starts its own thread); the author's Atom URI, e-mail or
name is kept as the author id so one commenter's messages in a thread share a case.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urlsplit

import aiohttp
import feedparser

from bot.clock import utcnow
from bot.ports import (
    Capabilities,
    OutboundReply,
    PermanentError,
    PollResult,
    RateLimited,
    TransientError,
)
from bot.schemas import MentionIn
from bot.settings import Feed

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)
SEEN_LIMIT = 500
MAX_TEXT = 4000
MAX_BYTES = 10 * 1024 * 1024
MAX_ID = 200
USER_AGENT = "webcare-bot feeds (+https://github.com/webcare-bot)"
ACCEPT = ("application/atom+xml, application/rss+xml, application/xml;q=0.9, text/xml;q=0.9, "
          "*/*;q=0.5")

ClientGetter = Callable[[], aiohttp.ClientSession]


class ReadOnlySink:
    """The sink of a feed source: we only read it, so cards offer "open to respond" instead of Reply."""

    capabilities = Capabilities(reply=False, read_only=True)

    def __init__(self, source: str) -> None:
        self.source = source

    async def send_reply(self, reply: OutboundReply) -> str | None:
        """Refuse: feeds are read-only (answer on the site itself)."""
        raise PermanentError(f"{self.source} is a read-only feed source: answer on the site itself")


@dataclass(frozen=True)
class Fetched:
    """The answer to one feed request."""

    status: int
    body: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        """The server answered 304: nothing changed since the validators we sent."""
        return self.status == 304


async def fetch(http: aiohttp.ClientSession, url: str, *, timeout: float, etag: str | None = None,
                last_modified: str | None = None) -> Fetched:
    """GET a feed, conditionally when validators are given; raise a DeliveryError naming the feed."""
    headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with http.get(url, headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if resp.status == 304:
                return Fetched(status=304, etag=etag, last_modified=last_modified)
            if resp.status == 429:
                raise RateLimited(_retry_after(resp.headers.get("Retry-After")),
                                  f"feed {url} answered 429")
            if resp.status >= 500:
                raise TransientError(f"feed {url} answered {resp.status}")
            if not 200 <= resp.status < 300:
                raise PermanentError(f"feed {url} answered {resp.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise PermanentError(f"feed {url} is larger than {MAX_BYTES // 2**20} MiB")
                chunks.append(chunk)
            return Fetched(status=resp.status, body=b"".join(chunks),
                           content_type=resp.headers.get("Content-Type", ""),
                           etag=resp.headers.get("ETag"),
                           last_modified=resp.headers.get("Last-Modified"))
    except TimeoutError as exc:
        raise TransientError(f"feed {url} timed out after {timeout:g}s") from exc
    except aiohttp.ClientError as exc:
        raise TransientError(f"feed {url} unreachable: {exc or type(exc).__name__}") from exc


def parse(fetched: Fetched, url: str) -> Any:
    """Parse a fetched document with feedparser; raise PermanentError when it is not a feed at all."""
    doc = feedparser.parse(io.BytesIO(fetched.body), response_headers={
        "content-location": url, "content-type": fetched.content_type or "application/xml"})
    if not doc.entries and (doc.bozo or not doc.get("version")):
        problem = doc.get("bozo_exception") or "no RSS or Atom document"
        raise PermanentError(f"feed {url} is not a feed: {problem}")
    return doc


class FeedPoller:
    """Polls one configured feed; the core schedules it and keeps its cursor (see the module doc)."""

    def __init__(self, feed: Feed, *, client: ClientGetter, interval: timedelta, timeout: timedelta,
                 lookback: timedelta = LOOKBACK, now: Callable[[], datetime] = utcnow) -> None:
        self.feed = feed
        self.url = str(feed.url)
        self.key = f"feed:{self.url}"
        self.interval = interval
        self._client = client
        self._timeout = timeout.total_seconds()
        self._lookback = lookback
        self._now = now

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        """Fetch the feed (conditionally) and return the entries not emitted before."""
        fetched = await fetch(self._client(), self.url, timeout=self._timeout,
                              etag=cursor.get("etag"), last_modified=cursor.get("last_modified"))
        if fetched.not_modified:
            return PollResult(mentions=[], cursor=dict(cursor))
        doc = await asyncio.to_thread(parse, fetched, self.url)
        if doc.bozo:
            log.debug("feed %s is malformed but yields entries: %s", self.url, doc.get("bozo_exception"))
        now = self._now()
        first = "seen" not in cursor
        seen: list[str] = [str(s) for s in cursor.get("seen", [])]
        seen_set = set(seen)
        newest = _parse_iso(cursor.get("newest"))
        cutoff = now - self._lookback if first or newest is None else newest - self._lookback
        lang = _language(doc.feed.get("language"))

        mentions: list[MentionIn] = []
        current: dict[str, None] = {}  # ids in document order, once each
        for entry in doc.entries:
            entry_id = entry_key(entry, self.url)
            if entry_id in current:
                continue
            current[entry_id] = None
            dated = entry_date(entry)
            if dated is not None:
                dated = min(dated, now)
                newest = dated if newest is None else max(newest, dated)
            if entry_id in seen_set:
                continue
            if dated is None and first:
                continue
            if dated is not None and dated < cutoff:
                continue
            try:
                mentions.append(to_mention(entry, entry_id=entry_id, source=self.feed.source,
                                           created_at=dated or now, lang=lang))
            except ValueError as exc:  # pydantic: an entry we cannot represent (logged, skipped)
                log.warning("feed %s: skipping entry %s: %s", self.url, entry_id, exc)
        # the current document's ids first (feeds list newest first), then older ones still remembered
        kept = list(current) + [s for s in seen if s not in current]
        new_cursor: dict[str, Any] = {
            "etag": fetched.etag, "last_modified": fetched.last_modified,
            "newest": newest.isoformat() if newest is not None else None,
            "seen": kept[:SEEN_LIMIT],
        }
        mentions.sort(key=lambda m: m.created_at)
        return PollResult(mentions=mentions, cursor=new_cursor)


def to_mention(entry: Any, *, entry_id: str, source: str, created_at: datetime,
               lang: str | None) -> MentionIn:
    """One feed entry as a third-party mention."""
    link = entry.get("link")
    detail = entry.get("author_detail") or {}
    name = (detail.get("name") or entry.get("author") or "").strip() or None
    author_id = (detail.get("href") or detail.get("email") or name or "").strip()
    if not author_id:  # anonymous: never lump different anonymous commenters into one case
        author_id = "anonymous:" + hashlib.sha256(entry_id.encode()).hexdigest()[:16]
    data: dict[str, Any] = {
        "source": source, "id": entry_id, "thread_id": thread_of(entry),
        "venue": "third_party", "url": link if _is_http(link) else None,
        "author": {"id": author_id[:MAX_ID], "name": name[:300] if name else None},
        "text": entry_text(entry), "created_at": created_at, "lang": lang,
    }
    data["author"] = {k: v for k, v in data["author"].items() if v is not None}
    # absent rather than null: MentionIn's optional id fields refuse an explicit None (see report)
    return MentionIn.model_validate({k: v for k, v in data.items() if v is not None})


def entry_key(entry: Any, feed_url: str) -> str:
    """A stable id for an entry: its id (guid), else its link, else a hash of its content."""
    raw = (entry.get("id") or entry.get("link") or "").strip()
    if not raw:
        basis = "\n".join(str(entry.get(k) or "") for k in ("title", "summary", "published", "updated"))
        return "sha256:" + hashlib.sha256(basis.encode()).hexdigest()[:40]
    if ":" not in raw:  # a bare guid like "123" is only unique within its feed
        raw = f"{feed_url}#{raw}"
    if len(raw) > MAX_ID:
        return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    return raw


def thread_of(entry: Any) -> str | None:
    """The discussion a comment belongs to (Atom thr:in-reply-to, else a `#comment` link's page)."""
    reply_to = entry.get("thr_in-reply-to")
    if isinstance(reply_to, dict):
        target = (reply_to.get("href") or reply_to.get("ref") or "").strip()
        if target:
            return target[:MAX_ID]
    link = entry.get("link") or ""
    page, fragment = urldefrag(link)
    if fragment and page and _is_http(page):
        return page[:MAX_ID]
    return None


def entry_date(entry: Any) -> datetime | None:
    """When the entry was published (else updated), as aware UTC; None when it carries no date."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    return None


def entry_text(entry: Any) -> str:
    """Title and body as plain text (HTML stripped), at most MAX_TEXT characters."""
    title_detail = entry.get("title_detail") or {}
    title = entry.get("title") or ""
    if "html" in str(title_detail.get("type", "")):
        title = html_to_text(title)
    title = " ".join(title.split())
    body = ""
    for content in entry.get("content") or []:
        if content.get("value"):
            body = content["value"]
            break
    body = html_to_text(body or entry.get("summary") or "")
    text = f"{title}\n\n{body}" if title and body and not body.startswith(title) else body or title
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1].rstrip() + "…"
    return text


_BLOCKS = frozenset({"p", "br", "div", "li", "ul", "ol", "blockquote", "pre", "tr", "table",
                     "h1", "h2", "h3", "h4", "h5", "h6", "hr", "section", "article", "figure"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS and tag not in ("br", "hr"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    """Strip tags and entities; keep paragraph breaks, collapse other whitespace."""
    if "<" not in value and "&" not in value:
        raw = value
    else:
        parser = _Text()
        parser.feed(value)
        parser.close()
        raw = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _language(value: object) -> str | None:
    """The primary language subtag of a feed's language (`nl-NL` → `nl`)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().split("-")[0].split("_")[0].lower()[:16] or None


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_http(url: object) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in ("http", "https")


def _retry_after(value: str | None) -> float:
    try:
        return max(1.0, float(value or 60))
    except ValueError:
        return 60.0


__all__ = ["FeedPoller", "Fetched", "ReadOnlySink", "fetch", "parse", "to_mention"]
