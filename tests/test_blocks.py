"""Pure renderers: card, notes and modals, by snapshot, validated against Slack's Block Kit models."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.i18n import Translator
from bot.models import CaseStatus
from bot.views import AuthorView, CardAction, CaseCard, ReplyForm, ReplyView, ThreadNote
from handlers.slack.blocks import escape, ignore_modal, render_card, render_note, reply_modal

SNAPSHOTS = Path(__file__).parent / "snapshots"
AT = datetime(2026, 11, 22, 9, 15, tzinfo=UTC)


def card(**changes: object) -> CaseCard:
    base = dict(
        ref="AbCdEfGhIjKl",
        status="claimed",
        source="x",
        venue="own",
        author=AuthorView(handle="jan", name="Jan <Jansen>", followers=12_300, verified=True),
        text="Waar blijft mijn pakket?\nBesteld op maandag & nog niks",
        url="https://x.com/jan/status/1",
        created_at=AT,
        mention_count=2,
        owner="U0AGENT1",
        ignored_reason=None,
        last_reply=ReplyView(agent="U0AGENT1", text="Wat vervelend! Ik zoek het uit.", at=AT, status="sent"),
        replies_sent=1,
        actions=(CardAction.REPLY, CardAction.IGNORE),
        problem=None,
    )
    base.update(changes)
    return CaseCard(**base)  # type: ignore[arg-type]


def check_snapshot(name: str, data: object) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"snapshot {name} changed (UPDATE_SNAPSHOTS=1)"


def valid_blocks(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for raw in blocks:
        Block.parse(raw).validate_json()  # type: ignore[union-attr]


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_every_case_status_renders(locale: str) -> None:
    # e.g. a storm comment whose card was posted just before it was taken into a storm group
    t = Translator(locale, UTC)
    for status in CaseStatus:
        text, blocks = render_card(card(status=status.value), t)
        assert f"status.{status.value}" not in json.dumps(blocks)
        valid_blocks(blocks)


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_card_snapshot(locale: str) -> None:
    fallback, blocks = render_card(card(), Translator(locale))
    valid_blocks(blocks)
    check_snapshot(f"card_{locale}", {"text": fallback, "blocks": blocks})


def test_card_states() -> None:
    t = Translator("nl")
    _, new = render_card(
        card(
            status="open",
            owner=None,
            last_reply=None,
            replies_sent=0,
            actions=(CardAction.CLAIM, CardAction.REPLY, CardAction.IGNORE),
        ),
        t,
    )
    ids = [e["action_id"] for b in new if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["case.claim", "case.reply", "case.ignore"]
    assert all(
        json.loads(e["value"]) == {"case": "AbCdEfGhIjKl"}
        for b in new
        if b["type"] == "actions"
        for e in b["elements"]
    )
    _, ignored = render_card(card(status="ignored", ignored_reason="spam: reclamebot", actions=()), t)
    assert "Genegeerd: Spam of reclame — reclamebot" in json.dumps(ignored, ensure_ascii=False)
    _, failed = render_card(
        card(
            problem="reply webhook answered 500",
            last_reply=ReplyView(agent="U0AGENT1", text="x", at=AT, status="failed", error="500"),
        ),
        t,
    )
    text = json.dumps(failed, ensure_ascii=False)
    assert "niet verstuurd" in text and ":warning: Let op: reply webhook answered 500" in text
    valid_blocks(failed)


def test_user_text_cannot_ping_or_fake_links() -> None:
    _, blocks = render_card(card(text="<!channel> kijk <https://evil|hier>"), Translator("nl"))
    text = json.dumps(blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert escape("a & <b>") == "a &amp; &lt;b&gt;"
    _, linked = render_card(card(url="https://x.com/a>|<!here>"), Translator("nl"))
    assert "<https://x.com/a%3E%7C%3C!here%3E|Bekijk origineel>" in json.dumps(linked)
    _, scripted = render_card(card(url="javascript:alert(1)"), Translator("nl"))
    assert "javascript" not in json.dumps(scripted)


def test_long_text_is_cut_within_slack_limits() -> None:
    _, blocks = render_card(card(text="x" * 10_000), Translator("nl"))
    valid_blocks(blocks)
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)


def test_notes() -> None:
    t = Translator("nl")
    assert (
        render_note(ThreadNote(event="claimed", actor="U0AGENT1"), t)
        == "<@U0AGENT1> heeft deze melding opgepakt."
    )
    assert (
        render_note(ThreadNote(event="new_message", text="Nog steeds <niks>", params={"author": "jan"}), t)
        == "Nieuw bericht van @jan:\n> Nog steeds &lt;niks&gt;"
    )
    assert "(Spam or advertising)" in render_note(
        ThreadNote(event="ignored", actor="U1", params={"reason": "spam"}), Translator("en")
    )


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_modal_snapshots(locale: str) -> None:
    t = Translator(locale)
    form = ReplyForm(
        ref="AbCdEfGhIjKl",
        source="x",
        text="Waar blijft mijn pakket?",
        url=None,
        author=AuthorView(handle="jan", name=None, followers=None, verified=False),
        max_length=280,
    )
    modals = {
        "loading": reply_modal(t, metadata='{"case":"AbCdEfGhIjKl"}', form=None),
        "reply": reply_modal(t, metadata='{"case":"AbCdEfGhIjKl"}', form=form),
        "ignore": ignore_modal(t, metadata='{"case":"AbCdEfGhIjKl"}'),
    }
    for modal in modals.values():
        View(**modal).validate_json()
        assert len(modal["blocks"]) <= 100
    reply_input = next(b for b in modals["reply"]["blocks"] if b.get("block_id") == "reply")
    assert reply_input["block_id"] == "reply" and reply_input["element"]["action_id"] == "text"
    assert reply_input["element"]["max_length"] == 280
    check_snapshot(f"modals_{locale}", modals)


def test_triage_line() -> None:
    from bot.triage.policy import Reason
    from bot.views import TriageView

    view = TriageView(
        decision="respond",
        priority="high",
        intent="complaint",
        sentiment=-0.62,
        language="nl",
        needs_approval=True,
        reasons=(Reason("own_house", {"intent": "complaint"}), Reason("legal", {"word": "advocaat"})),
    )
    _, blocks = render_card(card(triage=view), Translator("nl"))
    text = json.dumps(blocks, ensure_ascii=False)
    assert (
        ":large_green_circle: *Reageren* · hoog · klacht · sentiment -0,6 · :lock: woordvoerder keurt goed"
        in text
    )
    assert "in ons eigen kanaal: altijd reageren (complaint); juridisch: 'advocaat'" in text
    _, en = render_card(card(triage=view), Translator("en"))
    assert "*Respond* · high · complaint · sentiment -0.6" in json.dumps(en, ensure_ascii=False)
    valid_blocks(blocks)


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_reply_craft_modal_snapshots(locale: str) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from bot.craft.answers import Suggestion
    from bot.craft.promises import Promise
    from bot.craft.tone import ToneCode, ToneWarning
    from bot.views import ReplyReview

    t = Translator(locale)
    meta = '{"case":"AbCdEfGhIjKl"}'
    jan = AuthorView(handle="jan", name="Jan", followers=None, verified=False)
    form = ReplyForm(ref="AbCdEfGhIjKl", source="x", text="Mijn pakket is kwijt!", url=None, author=jan,
                     max_length=280)
    fresh = Suggestion("0123456789abcdef", "levering", "U0EXP1", "Hoi Jan, wat vervelend! Je ordernummer?")
    used = Suggestion("fedcba9876543210", "levering", "U0EXP1", "Hé Jan, balen! Ik kijk het na.", recent_at=AT)
    review = ReplyReview(
        text="Sorry, dat klopt niet. We komen erop terug.",
        warnings=(ToneWarning(ToneCode.APOLOGY, ("sorry",)),
                  ToneWarning(ToneCode.DEFENSIVE, ("dat klopt niet",)),
                  ToneWarning(ToneCode.TOO_LONG, length=300, limit=280),
                  ToneWarning(ToneCode.DUPLICATE, at=AT), ToneWarning(ToneCode.NO_ADDRESSEE, ("Jan",))),
        promise=Promise(("komen erop terug",), "nl", AT + timedelta(days=1), "default"),
    )
    modals = {
        "suggestions": reply_modal(t, metadata=meta, form=replace(form, suggestions=(fresh, used))),
        "draft_loading": reply_modal(t, metadata=meta, form=None, with_input=False),
        "draft": reply_modal(t, metadata=meta, form=replace(form, draft=fresh)),
        "review": reply_modal(t, metadata='{"case":"AbCdEfGhIjKl","warned":["apology"]}',
                              form=replace(form, review=review)),
    }
    for name, modal in modals.items():
        View(**modal).validate_json()
        if name != "draft_loading":
            assert _reply_input(modal)["element"]["action_id"] == "text"
    assert "input" not in json.dumps(modals["draft_loading"]) and "submit" not in modals["draft_loading"]
    assert _reply_input(modals["draft"])["element"]["initial_value"] == fresh.text
    assert _reply_input(modals["review"])["element"]["initial_value"] == review.text
    buttons = [b["accessory"] for b in modals["suggestions"]["blocks"] if "accessory" in b]
    assert [json.loads(b["value"]) for b in buttons] == [
        {"case": "AbCdEfGhIjKl", "variant": "0123456789abcdef"},
        {"case": "AbCdEfGhIjKl", "variant": "fedcba9876543210"}]
    check_snapshot(f"reply_craft_{locale}", modals)


def _reply_input(modal: dict[str, Any]) -> dict[str, Any]:
    """The reply modal's text input (block `reply`, CONTRACT.md)."""
    return next(b for b in modal["blocks"] if b.get("block_id") == "reply")
