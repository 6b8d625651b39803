"""The storm card's renderer: every collapsed message counted, the largest groups, valid Block Kit."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from slack_sdk.models.blocks import Block

from bot.i18n import Translator
from bot.views import StormCard, StormGroup
from handlers.slack.surge_blocks import render_storm
from tests.test_blocks import check_snapshot

AT = datetime(2026, 11, 22, 14, 2, tzinfo=UTC)


def storm(**changes: object) -> StormCard:
    base: dict[str, object] = dict(
        ref="AbCdEfGhIjKl",
        label="facebook: Onze nieuwe campagne <3 & meer",
        level="alert",
        state="open",
        started_at=AT,
        collapsed=1234,
        groups=9,
        top=(
            StormGroup(cluster_id=11, sample="Schaam je HEMA! Ik kom hier nooit meer", count=700, threats=0,
                       card_channel="C0WEBCARE", card_ts="1700000000.000200"),
            StormGroup(cluster_id=12, sample="ik weet waar je werkt", count=300, threats=2,
                       card_channel="C0WEBCARE", card_ts="1700000000.000300"),
            StormGroup(cluster_id=13, sample="Boycot <@U123> nu", count=100, threats=0,
                       handled_by="U0AGENT1"),
        ),
        threats=2,
        alert_channel="C0ALERTS",
        alert_ts="1700000000.000100",
    )
    base.update(changes)
    return StormCard(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_storm_card_snapshot(locale: str) -> None:
    text, blocks = render_storm(storm(), Translator(locale, ZoneInfo("Europe/Amsterdam")))
    for raw in blocks:
        Block.parse(raw).validate_json()  # type: ignore[union-attr]
    check_snapshot(f"storm_card_{locale}", {"text": text, "blocks": blocks})


def test_storm_card_counts_every_message_and_hides_threats() -> None:
    t = Translator("nl", ZoneInfo("Europe/Amsterdam"))
    text, blocks = render_storm(storm(), t)
    flat = str(blocks)
    assert "Storm: 1234 berichten" in flat and "1234" in text
    assert "ik weet waar je werkt" not in flat  # a group with threats keeps its text hidden
    assert "<@U123>" not in flat  # user text cannot ping
    assert "Plus 134 bericht(en) in 6 kleinere groep(en)" in flat  # 1234 - 700 - 300 - 100
    shows = [b["accessory"]["value"] for b in blocks if b.get("accessory")]
    assert shows == ['{"cluster":11}', '{"cluster":12}', '{"cluster":13}']  # each group is reachable
    assert "slack.com/archives/C0ALERTS/p1700000000000100" in flat


def test_storm_card_over_and_without_rest() -> None:
    t = Translator("en", ZoneInfo("Europe/Amsterdam"))
    top = (StormGroup(cluster_id=1, sample="same", count=5, threats=0),)
    _, blocks = render_storm(storm(state="resolved", collapsed=5, groups=1, top=top, crisis=True,
                                   statement_at=AT, alert_ts=None), t)
    flat = str(blocks)
    assert "Storm over: 5 messages" in flat and "smaller group" not in flat
    assert "crisis mode" in flat and "statement approved" in flat and "archives" not in flat
