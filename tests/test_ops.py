"""Health, readiness, metrics and correlation ids."""

from __future__ import annotations

from tests.fakes.slack_api import FakeSlack
from tests.harness import Bot, mention, settle


async def test_health_ready_and_request_ids(bot: Bot) -> None:
    async with bot.http.get(bot.url("/healthz")) as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
        assert len(r.headers["X-Request-Id"]) == 12
    async with bot.http.get(bot.url("/readyz"), headers={"X-Request-Id": "abc-123"}) as r:
        assert r.status == 200 and (await r.json()) == {"status": "ok", "database": "ok", "chat": True}
        assert r.headers["X-Request-Id"] == "abc-123"


async def test_readyz_fails_when_the_database_is_gone(bot: Bot) -> None:
    await bot.rt.engine.dispose()
    bot.rt.engine.pool._creator = lambda: (_ for _ in ()).throw(OSError("database down"))  # type: ignore[attr-defined]
    async with bot.http.get(bot.url("/readyz")) as r:
        assert r.status == 503 and "database down" in (await r.json())["database"]


async def test_metrics_count_what_happened(bot: Bot, fake_slack: FakeSlack) -> None:
    await bot.post_mentions([mention(1), mention(2)])
    await bot.post_mentions([mention(1), {"bad": True}])
    await settle(bot)
    async with bot.http.get(bot.url("/metrics")) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    assert 'webcare_mentions_ingested_total{source="forum-x"} 2.0' in text
    assert 'webcare_mentions_duplicate_total{source="forum-x"} 1.0' in text
    assert 'webcare_mentions_rejected_total{route="webhooks.mentions"} 1.0' in text
    assert "webcare_cards_posted_total 2.0" in text
    assert "webcare_outbox_backlog 0.0" in text and "webcare_outbox_oldest_age_seconds 0.0" in text
    assert "# TYPE webcare_slack_ack_seconds histogram" in text
