"""RSS/Atom feeds: the poller against a local fake website (real HTTP), then end to end through the app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.app import DEFAULT_PLUGINS
from bot.ports import PermanentError, RateLimited, TransientError
from bot.settings import Feed
from integrations.feeds.plugin import check
from integrations.feeds.source import MAX_TEXT, SEEN_LIMIT, FeedPoller, ReadOnlySink
from tests.fakes.feed_server import Entry, FeedServer
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, Bot, card_actions, card_text, make_settings

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def site() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def poller(site: FeedServer, http: aiohttp.ClientSession, path: str, *, source: str = "forum",
           timeout: float = 5, now: Callable[[], datetime] | None = None) -> FeedPoller:
    feed = Feed.model_validate({"url": site.url(path), "source": source})
    kw: dict[str, Any] = {"now": now} if now else {}
    return FeedPoller(feed, client=lambda: http, interval=timedelta(minutes=1),
                      timeout=timedelta(seconds=timeout), **kw)


def post(n: int, *, age: timedelta = timedelta(hours=1), **kw: Any) -> Entry:
    fields: dict[str, Any] = {
        "id": f"https://forum.example.nl/t/{n}", "title": f"Onderwerp {n}",
        "link": f"https://forum.example.nl/t/{n}", "author": f"Klant {n}",
        "html": f"<p>Waar blijft mijn <b>pakket</b> &amp; factuur? ({n})</p>",
        "published": NOW - age,
    }
    fields.update(kw)
    return Entry(**fields)


async def test_rss_entries_become_third_party_mentions(site: FeedServer,
                                                       http: aiohttp.ClientSession) -> None:
    site.rss("/latest.rss", [
        post(2, age=timedelta(minutes=5)),
        post(1, age=timedelta(hours=2)),
        post(0, age=timedelta(days=3)),  # older than the first poll's lookback: not emitted
    ])
    result = await poller(site, http, "/latest.rss").poll({})

    assert [m.id for m in result.mentions] == ["https://forum.example.nl/t/1", "https://forum.example.nl/t/2"]
    m = result.mentions[0]
    assert m.source == "forum" and m.resolved_venue == "third_party" and m.venue == "third_party"
    assert m.url == "https://forum.example.nl/t/1" and m.thread_id is None
    assert m.author.name == "Klant 1" and m.author.handle is None and m.author.id == "Klant 1"
    assert m.text == "Onderwerp 1\n\nWaar blijft mijn pakket & factuur? (1)"
    assert m.created_at == NOW - timedelta(hours=2) and m.created_at.tzinfo is not None
    assert m.lang == "nl"
    cursor = result.cursor
    assert cursor["etag"] and cursor["last_modified"]
    assert set(cursor["seen"]) == {f"https://forum.example.nl/t/{n}" for n in range(3)}
    assert cursor["newest"] == (NOW - timedelta(minutes=5)).isoformat()


async def test_unchanged_feed_is_a_304_and_emits_nothing(site: FeedServer,
                                                         http: aiohttp.ClientSession) -> None:
    site.rss("/latest.rss", [post(1)])
    p = poller(site, http, "/latest.rss")
    first = await p.poll({})
    second = await p.poll(first.cursor)
    assert len(first.mentions) == 1
    assert second.mentions == [] and second.cursor == first.cursor
    assert site.requests["/latest.rss"] == 2
    assert site.conditional["/latest.rss"] == 1 and site.not_modified["/latest.rss"] == 1


async def test_last_modified_alone_also_gives_a_304(site: FeedServer, http: aiohttp.ClientSession) -> None:
    site.rss("/latest.rss", [post(1)], etag=False)
    p = poller(site, http, "/latest.rss")
    first = await p.poll({})
    assert first.cursor["etag"] is None and first.cursor["last_modified"]
    second = await p.poll(first.cursor)
    assert second.mentions == [] and site.not_modified["/latest.rss"] == 1


async def test_only_the_new_entry_is_emitted(site: FeedServer, http: aiohttp.ClientSession) -> None:
    site.rss("/latest.rss", [post(2), post(1)])
    p = poller(site, http, "/latest.rss")
    first = await p.poll({})
    site.rss("/latest.rss", [post(3, age=timedelta(minutes=1)), post(2), post(1)])
    second = await p.poll(first.cursor)
    assert [m.id for m in second.mentions] == ["https://forum.example.nl/t/3"]
    assert site.not_modified["/latest.rss"] == 0  # the document changed: a full 200
    # a server that ignores validators and sends the same document again: still nothing new
    site.rss("/latest.rss", [post(3, age=timedelta(minutes=1)), post(2), post(1)], etag=False,
             last_modified=False)
    third = await p.poll(second.cursor)
    assert third.mentions == []


async def test_new_entries_after_a_quiet_period_are_emitted(site: FeedServer,
                                                            http: aiohttp.ClientSession) -> None:
    """A dormant blog: nothing on the first poll, but a post months later is new."""
    site.rss("/blog.rss", [post(1, age=timedelta(days=200))])
    p = poller(site, http, "/blog.rss", source="blog")
    first = await p.poll({})
    assert first.mentions == []
    site.rss("/blog.rss", [post(2, age=timedelta(minutes=3)), post(1, age=timedelta(days=200))])
    second = await p.poll(first.cursor)
    assert [m.id for m in second.mentions] == ["https://forum.example.nl/t/2"]
    assert second.mentions[0].source == "blog"


async def test_atom_comment_feed_threads_by_the_post(site: FeedServer, http: aiohttp.ClientSession) -> None:
    article = "https://nieuws.example.nl/artikel/42"
    site.atom("/comments.atom", [
        Entry(id="tag:nieuws.example.nl,2026:c2", title="Reactie van Piet", link=f"{article}#c2",
              author="Piet", html="<p>Eens!<br>Echt <i>waar</i>.</p><script>x()</script>",
              published=NOW - timedelta(minutes=3), in_reply_to=article),
        Entry(id="tag:nieuws.example.nl,2026:c1", title="Reactie", link=f"{article}#c1",
              author=None, html="Slechte service", published=NOW - timedelta(minutes=9)),
    ], language="nl-BE")
    result = await poller(site, http, "/comments.atom", source="news").poll({})
    anonymous, piet = result.mentions
    assert piet.thread_id == article and piet.url == f"{article}#c2"
    assert piet.text == "Reactie van Piet\n\nEens!\nEcht waar."
    assert piet.lang == "nl" and piet.author.name == "Piet"
    # no thr:in-reply-to: the page of a `#c1` link is the thread
    assert anonymous.thread_id == article and anonymous.author.name is None
    assert anonymous.author.id and anonymous.author.id.startswith("anonymous:")
    assert anonymous.created_at == NOW - timedelta(minutes=9)


async def test_undated_entries_are_history_first_then_now(site: FeedServer,
                                                          http: aiohttp.ClientSession) -> None:
    clock = [NOW]
    site.rss("/f.rss", [post(1, published=None)], language=None)
    p = poller(site, http, "/f.rss", now=lambda: clock[0])
    first = await p.poll({})
    assert first.mentions == []
    clock[0] = NOW + timedelta(minutes=10)
    site.rss("/f.rss", [post(2, published=None), post(1, published=None)], language=None)
    second = await p.poll(first.cursor)
    assert [m.id for m in second.mentions] == ["https://forum.example.nl/t/2"]
    assert second.mentions[0].created_at == clock[0] and second.mentions[0].lang is None


async def test_bare_guids_long_text_and_future_dates(site: FeedServer, http: aiohttp.ClientSession) -> None:
    site.rss("/f.rss", [post(1, id="17", html="<p>" + "lang verhaal " * 600 + "</p>",
                             published=NOW + timedelta(hours=5))])
    p = poller(site, http, "/f.rss", now=lambda: NOW)
    (m,) = (await p.poll({})).mentions
    assert m.id == site.url("/f.rss") + "#17"  # a bare guid is qualified with its feed
    assert len(m.text) <= MAX_TEXT and m.text.endswith("…")
    assert m.created_at == NOW  # a date in the future is clamped to now


async def test_seen_ids_stay_bounded(site: FeedServer, http: aiohttp.ClientSession) -> None:
    p = poller(site, http, "/f.rss")
    cursor: dict[str, Any] = {"seen": [f"old-{i}" for i in range(SEEN_LIMIT)], "newest": None}
    site.rss("/f.rss", [post(1)])
    result = await p.poll(cursor)
    assert len(result.mentions) == 1
    assert len(result.cursor["seen"]) == SEEN_LIMIT and result.cursor["seen"][0] == result.mentions[0].id
    assert result.cursor["seen"][-1] == f"old-{SEEN_LIMIT - 2}"  # the oldest remembered id dropped out


async def test_malformed_feed_with_entries_is_used(site: FeedServer, http: aiohttp.ClientSession) -> None:
    when = (NOW - timedelta(minutes=1)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    site.serve("/bozo.rss", (
        "<rss version='2.0'><channel><title>Kapot & stuk</title><item><title>Q&A</title>"
        f"<link>https://forum.example.nl/t/9</link><pubDate>{when}</pubDate>"
        "<description>werkt niet</description></item></channel></rss>").encode())
    result = await poller(site, http, "/bozo.rss").poll({})
    assert [m.url for m in result.mentions] == ["https://forum.example.nl/t/9"]
    assert "werkt niet" in result.mentions[0].text


@pytest.mark.parametrize(("status", "error", "words"), [
    (503, TransientError, "answered 503"),
    (500, TransientError, "answered 500"),
    (404, PermanentError, "answered 404"),
    (410, PermanentError, "answered 410"),
    (429, RateLimited, "answered 429"),
])
async def test_failing_feed_raises_a_clear_error(site: FeedServer, http: aiohttp.ClientSession,
                                                 status: int, error: type[Exception], words: str) -> None:
    site.rss("/f.rss", [post(1)])
    site.fail("/f.rss", status)
    with pytest.raises(error) as raised:
        await poller(site, http, "/f.rss").poll({})
    assert str(raised.value).startswith(f"feed {site.url('/f.rss')} {words}")


async def test_not_a_feed_timeouts_and_refused_connections_raise(site: FeedServer,
                                                                 http: aiohttp.ClientSession) -> None:
    site.serve("/page.html", b"<html><body><p>Welkom</p></body></html>", content_type="text/html")
    with pytest.raises(PermanentError, match=r"^feed http://127\.0\.0\.1:\d+/page\.html is not a feed"):
        await poller(site, http, "/page.html").poll({})
    site.rss("/slow.rss", [post(1)])
    site.slow("/slow.rss", 2)
    with pytest.raises(TransientError, match=r"slow\.rss timed out after 0\.3s"):
        await poller(site, http, "/slow.rss", timeout=0.3).poll({})
    closed = FeedServer()
    async with closed:
        url = closed.url("/gone.rss")
    feed = Feed.model_validate({"url": url})
    gone = FeedPoller(feed, client=lambda: http, interval=timedelta(minutes=1), timeout=timedelta(seconds=2))
    with pytest.raises(TransientError, match=r"gone\.rss unreachable"):
        await gone.poll({})


async def test_an_empty_feed_is_fine(site: FeedServer, http: aiohttp.ClientSession) -> None:
    site.atom("/empty.atom", [])
    result = await poller(site, http, "/empty.atom").poll({})
    assert result.mentions == [] and result.cursor["seen"] == []


async def test_read_only_sink_refuses_replies() -> None:
    sink = ReadOnlySink("forum")
    assert sink.capabilities.read_only and not sink.capabilities.reply
    with pytest.raises(PermanentError, match="read-only"):
        await sink.send_reply(None)  # type: ignore[arg-type]


async def test_check_reports_each_failing_feed(site: FeedServer, tmp_path: Any) -> None:
    site.rss("/ok.rss", [post(1)])
    site.rss("/down.rss", [post(1)])
    site.fail("/down.rss", 502)
    site.serve("/page.html", b"<html><body>hallo</body></html>", content_type="text/html")
    settings = make_settings(db_url=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}", slack=None, integrations={
        "feeds": {"timeout": "2s", "urls": [{"url": site.url(p)} for p in
                                            ("/ok.rss", "/down.rss", "/page.html", "/missing.rss")]}})
    problems = await check(settings)
    assert problems[0] == f"feeds: {site.url('/down.rss')}: answered 502"
    assert problems[1].startswith(f"feeds: {site.url('/page.html')}: is not a feed")
    assert problems[2] == f"feeds: {site.url('/missing.rss')}: answered 404"
    assert len(problems) == 3
    no_feeds = make_settings(db_url="sqlite+aiosqlite://", slack=None)
    assert await check(no_feeds) == []


PLUGINS = list(dict.fromkeys([*DEFAULT_PLUGINS, "integrations.feeds.plugin"]))


async def start_with_feed(bot_factory: Callable[..., Any], fake_slack: FakeSlack, url: str) -> Bot:
    bot: Bot = await bot_factory(slack=fake_slack, plugins=PLUGINS, integrations={
        "feeds": {"poll": "200ms", "urls": [{"url": url, "source": "forum"}]}})
    return bot


async def test_feed_entry_becomes_a_card_without_reply(bot_factory: Callable[..., Any], site: FeedServer,
                                                       fake_slack: FakeSlack) -> None:
    site.rss("/forum.rss", [post(1, age=timedelta(minutes=2))])
    await start_with_feed(bot_factory, fake_slack, site.url("/forum.rss"))
    await fake_slack.wait_for(lambda: len(fake_slack.messages[CHANNEL]) == 1, timeout=10)
    card = fake_slack.messages[CHANNEL][0]
    actions = card_actions(card)
    assert "case.reply" not in actions and "case.open" in actions
    (button,) = [el for block in card["blocks"] if block["type"] == "actions"
                 for el in block["elements"] if el["action_id"] == "case.open"]
    assert button["url"] == "https://forum.example.nl/t/1"
    assert "Waar blijft mijn pakket" in card_text(card)
    # later polls are conditional and add nothing; a new entry is one more card
    await fake_slack.wait_for(lambda: site.not_modified["/forum.rss"] >= 2, timeout=10)
    assert len(fake_slack.messages[CHANNEL]) == 1
    site.rss("/forum.rss", [post(2, age=timedelta(seconds=5)), post(1, age=timedelta(minutes=2))])
    await fake_slack.wait_for(lambda: len(fake_slack.messages[CHANNEL]) == 2, timeout=10)
    assert "(2)" in card_text(fake_slack.messages[CHANNEL][1])


async def test_a_failing_feed_is_reported_once(bot_factory: Callable[..., Any], site: FeedServer,
                                               fake_slack: FakeSlack) -> None:
    site.rss("/forum.rss", [post(1, age=timedelta(minutes=2))])
    site.fail("/forum.rss", 503)
    await start_with_feed(bot_factory, fake_slack, site.url("/forum.rss"))
    await fake_slack.wait_for(lambda: site.requests["/forum.rss"] >= 4, timeout=10)
    await fake_slack.wait_for(lambda: len(fake_slack.messages[CHANNEL]) >= 1, timeout=10)
    notices = [m.get("text", "") for m in fake_slack.messages[CHANNEL]]
    assert len(notices) == 1 and "answered 503" in notices[0], notices
    site.fail("/forum.rss", None)
    await fake_slack.wait_for(lambda: len(fake_slack.messages[CHANNEL]) == 3, timeout=10)
    texts = [card_text(m) + m.get("text", "") for m in fake_slack.messages[CHANNEL][1:]]
    assert any("Waar blijft mijn pakket" in t for t in texts)
