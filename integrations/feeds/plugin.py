"""Install RSS/Atom feeds: one poller per configured feed and a read-only sink per feed source.

```yaml
integrations:
  feeds:
    poll: 15m          # how often each feed is fetched (conditional GET: unchanged feeds cost a 304)
    timeout: 15s
    urls:
      - {url: https://forum.example.nl/latest.rss, source: forum, name: Forum}
      - {url: https://blog.example.nl/comments/feed/, source: blog}
```
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web

from bot.ports import DeliveryError
from bot.runtime import Runtime
from bot.settings import Settings
from integrations.feeds.source import FeedPoller, ReadOnlySink, fetch, parse

log = logging.getLogger(__name__)


def install(app: web.Application, rt: Runtime) -> None:
    """Register a FeedPoller per `integrations.feeds.urls` entry; nothing when feeds are not configured."""
    cfg = rt.settings.config.integrations.feeds
    if cfg is None or not cfg.urls:
        return
    for feed in cfg.urls:
        rt.pollers.append(FeedPoller(feed, client=rt.http_client, interval=cfg.poll, timeout=cfg.timeout))
        existing = rt.reply_sinks.get(feed.source)
        if existing is None:
            rt.reply_sinks[feed.source] = ReadOnlySink(feed.source)
        elif not isinstance(existing, ReadOnlySink):
            log.warning("feed %s uses source %r, which another integration answers; its cards offer "
                        "that integration's Reply", feed.url, feed.source)
    log.info("feeds: polling %d feed(s) every %ss", len(cfg.urls), cfg.poll.total_seconds())


async def check(settings: Settings) -> list[str]:
    """`webcare check`: fetch each configured feed once; one "feeds: <url>: <problem>" line per problem."""
    cfg = settings.config.integrations.feeds
    if cfg is None:
        return []
    problems: list[str] = []
    async with aiohttp.ClientSession() as http:
        for feed in cfg.urls:
            url = str(feed.url)
            try:
                fetched = await fetch(http, url, timeout=cfg.timeout.total_seconds())
                parse(fetched, url)
            except DeliveryError as exc:
                problem = str(exc).removeprefix(f"feed {url} ").strip()
                problems.append(f"feeds: {url}: {problem}")
    return problems
