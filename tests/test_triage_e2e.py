"""Triage through the real app: the card shows decision, priority, intent, sentiment and reasons;
`webcare classify` answers per CONTRACT without network or database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select

from bot.models import Case, Mention
from tests.fakes.slack_api import FakeSlack
from tests.harness import CHANNEL, base_config, card_text, mention, settle

REPO = Path(__file__).resolve().parent.parent


async def test_card_shows_the_triage_line(bot, fake_slack: FakeSlack) -> None:
    await bot.post_mentions([
        mention(1, text="Waar blijft mijn pakket? Al drie dagen niks gehoord"),
        mention(2, text="Ik steek jullie winkel in de fik als dit niet opgelost wordt", venue="own"),
    ])
    await settle(bot)
    cards = {("klant1" in card_text(m)): m for m in fake_slack.messages[CHANNEL]}
    question = card_text(cards[True])
    assert "Reageren" in question and "eigen kanaal" in question and "sentiment" in question
    threat = card_text(cards[False])
    assert "urgent" in threat and "woordvoerder keurt goed" in threat
    async with bot.rt.maker() as session:
        rows = {m.external_id: m for m in await session.scalars(select(Mention))}
        cases = list(await session.scalars(select(Case)))
    assert rows["m2"].threat and rows["m2"].priority == "urgent" and rows["m2"].needs_approval
    assert rows["m2"].triage and rows["m2"].triage["evidence"]["threat"]
    assert {c.priority for c in cases} == {"urgent", rows["m1"].priority}


def test_classify_cli(tmp_path: Path) -> None:
    cfg = tmp_path / "app.yaml"
    cfg.write_text(yaml.safe_dump(base_config(triage={"topics": {"levering": ["pakket"]}})), encoding="utf-8")
    lines = [json.dumps(mention(1, text="Waar blijft mijn pakket?")),
             "{not json",
             json.dumps(mention(3, text="Thanks, great help from your team!", lang="en"))]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "SLACK_"))}
    env["DATABASE_URL"] = "postgresql+asyncpg://nobody@127.0.0.1:1/none"  # must not be touched
    result = subprocess.run([sys.executable, "-m", "bot.cli", "classify", "--config", str(cfg)],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60,
                            env={**env, "PYTHONPATH": str(REPO)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["m1", None, "m3"] and "error" in out[1]
    first = out[0]
    assert set(first) >= {"id", "language", "intent", "sentiment", "threat", "topics", "decision",
                          "priority", "needs_approval", "reasons"}
    assert first["language"] == "nl" and first["intent"] == "question" and "levering" in first["topics"]
    assert first["decision"] == "respond" and isinstance(first["reasons"], list) and first["reasons"]
    assert out[2]["language"] == "en" and out[2]["intent"] == "compliment" and out[2]["sentiment"] > 0
    asyncio.get_event_loop_policy()  # nothing async ran: no database, no network


async def test_skipped_mentions_compact_and_none(bot_factory, fake_slack: FakeSlack) -> None:
    skipped = mention(1, source="forum", venue="third_party", text="Leuk artikel over jullie nieuwe winkel!")
    compact = await bot_factory(slack=fake_slack)  # default: compact
    await compact.post_mentions(skipped)
    await settle(compact)
    card = fake_slack.messages[CHANNEL][0]
    assert "Overslaan" in card_text(card) and "Toch oppakken" in card_text(card)
    assert len(card["blocks"]) == 3  # one line, the triage line, the button


async def test_skipped_mentions_without_card_until_they_need_one(bot_factory, fake_slack: FakeSlack) -> None:
    bot = await bot_factory(slack=fake_slack, triage={"skipped": "none"})
    first = mention(1, source="forum", venue="third_party", thread_id="t1",
                    text="Leuk artikel over jullie nieuwe winkel!")
    await bot.post_mentions(first)
    await settle(bot)
    assert fake_slack.messages[CHANNEL] == []
    async with bot.rt.maker() as session:
        case = await session.scalar(select(Case))
    assert case is not None and case.status == "skipped" and case.decision == "skip"
    # the same author comes back, angry: now the team must see it
    angry = mention(2, source="forum", venue="third_party", thread_id="t1", author=first["author"],
                    text="Dit is echt schandalig, drie weken geen reactie, waardeloze service!!",
                    created_at="2026-11-22T10:00:00Z")
    await bot.post_mentions(angry)
    await settle(bot)
    assert len(fake_slack.messages[CHANNEL]) == 1
    assert "Reageren" in card_text(fake_slack.messages[CHANNEL][0])
