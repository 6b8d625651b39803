"""A fake website on loopback serving RSS 2.0 and Atom feeds that tests change while it runs.

Each path holds one document. The server answers conditional requests the way real servers do:
`If-None-Match` (checked first, RFC 9110) or else `If-Modified-Since` matching the document's
validators gives 304. It counts requests and 304s per path, and can be told to fail with a status,
to answer slowly (timeouts), or to serve something that is not a feed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web


@dataclass
class Entry:
    """One feed entry (post or comment); `html` is the body, `in_reply_to` an Atom thread link."""

    id: str
    title: str
    link: str
    html: str = ""
    author: str | None = None
    published: datetime | None = None
    in_reply_to: str | None = None
    comments_rss: str | None = None


@dataclass
class Document:
    """What one path serves, with its validators."""

    body: bytes
    content_type: str
    etag: str | None
    last_modified: datetime | None
    fail: int | None = None
    delay: float = 0.0


@dataclass
class FeedServer:
    """`async with FeedServer() as feeds:` then `feeds.rss("/f.rss", [...])` and `feeds.url("/f.rss")`."""

    host: str = "127.0.0.1"
    docs: dict[str, Document] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    not_modified: Counter[str] = field(default_factory=Counter)
    conditional: Counter[str] = field(default_factory=Counter)
    """Requests that carried If-None-Match or If-Modified-Since."""
    port: int = 0
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> FeedServer:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"http://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, *, content_type: str = "application/xml",
              etag: bool = True, last_modified: bool = True) -> None:
        """Serve `body` at `path` with fresh validators (a strong ETag and/or Last-Modified)."""
        prev = self.docs.get(path)
        stamp = datetime.now(UTC).replace(microsecond=0)
        if prev is not None and prev.last_modified is not None and stamp <= prev.last_modified:
            stamp = prev.last_modified + timedelta(seconds=1)  # a change must look newer (1 s grain)
        self.docs[path] = Document(
            body=body, content_type=content_type,
            etag=f'"{hashlib.sha1(body).hexdigest()[:16]}"' if etag else None,
            last_modified=stamp if last_modified else None)

    def rss(self, path: str, entries: list[Entry], *, title: str = "Forum", link: str | None = None,
            language: str | None = "nl-NL", **kw: Any) -> None:
        """Serve an RSS 2.0 feed (with dc:creator, wfw:commentRss)."""
        self.serve(path, rss_document(entries, title=title, link=link or self.url("/"),
                                      language=language), content_type="application/rss+xml", **kw)

    def atom(self, path: str, entries: list[Entry], *, title: str = "Reacties", link: str | None = None,
             language: str | None = "nl", **kw: Any) -> None:
        """Serve an Atom feed (with thr:in-reply-to for comments)."""
        self.serve(path, atom_document(entries, title=title, link=link or self.url("/"),
                                       language=language), content_type="application/atom+xml", **kw)

    def fail(self, path: str, status: int | None) -> None:
        """Answer `status` at `path` from now on (None: serve the document again)."""
        self.docs.setdefault(path, Document(b"", "text/plain", None, None)).fail = status

    def slow(self, path: str, seconds: float) -> None:
        """Wait this long before answering at `path`."""
        self.docs.setdefault(path, Document(b"", "text/plain", None, None)).delay = seconds

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests[path] += 1
        doc = self.docs.get(path)
        if doc is None:
            return web.Response(status=404, text="not found")
        if doc.delay:
            await asyncio.sleep(doc.delay)
        if doc.fail is not None:
            return web.Response(status=doc.fail, text=f"failing with {doc.fail}")
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if inm or ims:
            self.conditional[path] += 1
        headers = {}
        if doc.etag:
            headers["ETag"] = doc.etag
        if doc.last_modified:
            headers["Last-Modified"] = format_datetime(doc.last_modified, usegmt=True)
        if _unchanged(doc, inm, ims):
            self.not_modified[path] += 1
            return web.Response(status=304, headers=headers)
        return web.Response(body=doc.body, headers={**headers, "Content-Type": doc.content_type})


def _unchanged(doc: Document, inm: str | None, ims: str | None) -> bool:
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return doc.etag is not None and ("*" in tags or doc.etag in tags)
    if ims is not None and doc.last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return doc.last_modified <= since
    return False


def _rfc822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def rss_document(entries: list[Entry], *, title: str, link: str, language: str | None) -> bytes:
    """An RSS 2.0 document (guid, dc:creator, pubDate, HTML description, wfw:commentRss)."""
    items = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>", f"<link>{escape(e.link)}</link>",
                 f"<guid isPermaLink=\"false\">{escape(e.id)}</guid>",
                 f"<description>{escape(e.html)}</description>"]
        if e.author:
            parts.append(f"<dc:creator>{escape(e.author)}</dc:creator>")
        if e.published:
            parts.append(f"<pubDate>{_rfc822(e.published)}</pubDate>")
        if e.comments_rss:
            parts.append(f"<wfw:commentRss>{escape(e.comments_rss)}</wfw:commentRss>")
        items.append("<item>" + "".join(parts) + "</item>")
    lang = f"<language>{escape(language)}</language>" if language else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:wfw="http://wellformedweb.org/CommentAPI/"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>{lang}"
        "<description>fake</description>" + "".join(items) + "</channel></rss>"
    ).encode()


def atom_document(entries: list[Entry], *, title: str, link: str, language: str | None) -> bytes:
    """An Atom document (author name, published, HTML content, thr:in-reply-to)."""
    out = []
    for e in entries:
        parts = [f"<id>{escape(e.id)}</id>", f"<title>{escape(e.title)}</title>",
                 f"<link rel=\"alternate\" href={quoteattr(e.link)}/>",
                 f"<content type=\"html\">{escape(e.html)}</content>"]
        if e.author:
            parts.append(f"<author><name>{escape(e.author)}</name></author>")
        if e.published:
            stamp = e.published.astimezone(UTC).isoformat().replace("+00:00", "Z")
            parts.append(f"<published>{stamp}</published><updated>{stamp}</updated>")
        if e.in_reply_to:
            parts.append(f"<thr:in-reply-to ref={quoteattr(e.in_reply_to)} "
                         f"href={quoteattr(e.in_reply_to)}/>")
        out.append("<entry>" + "".join(parts) + "</entry>")
    lang = f" xml:lang={quoteattr(language)}" if language else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0"{lang}>'
        f"<title>{escape(title)}</title><id>urn:fake:feed</id><link href={quoteattr(link)}/>"
        "<updated>2026-01-01T00:00:00Z</updated>" + "".join(out) + "</feed>"
    ).encode()
