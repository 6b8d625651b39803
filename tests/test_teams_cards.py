"""Teams' Adaptive Card renderers: valid 1.4 structure, Slack's buttons and texts, no mrkdwn, by snapshot."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest

from bot.i18n import Translator
from bot.models import CaseStatus
from bot.services.cases import IGNORE_REASONS
from bot.triage.policy import Reason
from bot.views import (
    ApprovalCard,
    AuthorView,
    CardAction,
    CaseSummary,
    ClusterCard,
    ClusterLine,
    CoordinationView,
    PersonMessage,
    PromiseView,
    ReplyForm,
    ReplyView,
    Suggestion,
    SurgeAlert,
    ThreadNote,
    TriageView,
)
from handlers.teams import cards
from handlers.teams.cards import ADAPTIVE, INPUTS, attachment, summary
from tests.test_blocks import AT, SNAPSHOTS, card, check_snapshot
from tests.test_storm_card import storm

TYPES = {
    "AdaptiveCard",
    "TextBlock",
    "Image",
    "Media",
    "RichTextBlock",
    "TextRun",
    "Container",
    "ColumnSet",
    "Column",
    "FactSet",
    "ImageSet",
    "ActionSet",
    "Input.Text",
    "Input.Number",
    "Input.Date",
    "Input.Time",
    "Input.Toggle",
    "Input.ChoiceSet",
    "Action.OpenUrl",
    "Action.Submit",
    "Action.ShowCard",
    "Action.ToggleVisibility",
    "Action.Execute",
    "Data.Query",
}
"""Adaptive Cards 1.4 element types, and Teams' Data.Query (the people picker's data source)."""
SINGLE_STAR = re.compile(r"(?<![*\\])\*(?=[^*\s])[^*\n]*[^*\s\\]\*(?!\*)")
SLACK_LINK = re.compile(r"(?<!\\)<[@!#]|(?<!\\)<https?:")
SHORTCODE = re.compile(r":[a-z_]{3,}:")
TRIAGE = TriageView(
    decision="respond",
    priority="high",
    intent="complaint",
    sentiment=-0.62,
    language="nl",
    needs_approval=True,
    reasons=(Reason("own_house", {"intent": "complaint"}), Reason("legal", {"word": "advocaat"})),
)
JAN = AuthorView(handle="jan", name="Jan", followers=None, verified=False)
SUMMARY = CaseSummary(
    ref="AbCdEfGhIjKl",
    source="x",
    venue="own",
    author=JAN,
    text="Waar is *mijn* pakket?",
    url="https://x.com/jan/status/1",
    card_channel="C0WEBCARE",
    card_ts="1700000000.000100",
)


def approval(**changes: Any) -> ApprovalCard:
    base = ApprovalCard(
        ref="ApPrOvAl0001",
        state="pending",
        case=SUMMARY,
        text="Hoi Jan, we zoeken het uit.",
        draft="Hoi Jan, we zoeken het uit.",
        reasons=(Reason("legal", {"word": "advocaat"}),),
        requested_by="U0AGENT1",
        requested_at=AT,
        due=AT + timedelta(hours=1),
    )
    return replace(base, **changes)


def surge(**changes: Any) -> SurgeAlert:
    base = SurgeAlert(
        ref="SuRgE0000001",
        scope="topic",
        label="levering",
        level="alert",
        severity="high",
        state="open",
        started_at=AT,
        raised_at=AT,
        messages=340,
        authors=290,
        negative=200,
        threats=2,
        rate_per_hour=120.0,
        expected_per_hour=6.0,
        history=((AT, 4.0), (AT, 60.0), (AT, 120.0)),
        clusters=(ClusterLine("Waar blijft mijn pakket <@U1>", 120, 0), ClusterLine("ik weet", 4, 2)),
        words=("pakket", "bezorging"),
        small_messages=30,
        small_groups=5,
    )
    return replace(base, **changes)


def cluster(**changes: Any) -> ClusterCard:
    base = ClusterCard(
        ref="SuRgE0000001",
        cluster_id=7,
        surge_label="levering",
        count=120,
        sample="Waar blijft *mijn* pakket",
        words=("pakket",),
        threats=0,
        negative=80,
        first_at=AT,
        last_at=AT + timedelta(minutes=30),
        statement_ready=True,
        counted_at=AT,
    )
    return replace(base, **changes)


COORD = CoordinationView(
    response_due=AT,
    response_late=True,
    promises=(PromiseView("terugbellen", AT, True),),
    broken_promises=1,
    approval_pending=True,
    experts_asked=("U0EXP1",),
    snoozed_until=AT,
    snooze_reason="wacht op klant",
)


def reply_form() -> ReplyForm:
    """A case's reply form with two wordings from the answer library, one lately sent to someone else."""
    jan = AuthorView(handle="jan", name="Jan", followers=None, verified=False)
    return ReplyForm(ref="AbCdEfGhIjKl", source="x", text="Waar blijft *mijn* pakket?", url=None, author=jan,
                     max_length=280,
                     suggestions=(Suggestion("levering/0", "levering", "U0EXP1", "Hoi Jan, wat jammer!", None),
                                  Suggestion("levering/1", "levering", "U0EXP1", "Hé Jan, balen!", AT)))


def every_card(t: Translator) -> dict[str, dict[str, Any]]:
    """One of each kind, with most of what they can show."""
    return {
        "case": cards.case_card(
            t,
            card(
                triage=TRIAGE,
                coordination=COORD,
                actions=tuple(CardAction),
                reply_until=AT,
                edited=True,
                notice="let op",
                problem="500",
            ),
            max_length=280,
        ),
        "case_open": cards.case_card(
            t,
            card(
                status="open",
                owner=None,
                last_reply=None,
                replies_sent=0,
                actions=(CardAction.CLAIM, CardAction.REPLY, CardAction.IGNORE),
            ),
        ),
        "case_library": cards.case_card(t, card(status="open", owner=None, last_reply=None, replies_sent=0,
                                                actions=(CardAction.CLAIM, CardAction.REPLY)), library=True),
        "suggestions": cards.suggestions_card(t, reply_form(), value='{"case":"AbCdEfGhIjKl"}'),
        "suggestions_approval": cards.suggestions_card(t, replace(reply_form(), needs_approval=True),
                                                       value='{"case":"AbCdEfGhIjKl"}'),
        "reply_done": cards.reply_done(t),
        "suggestions_none": cards.suggestions_card(t, replace(reply_form(), suggestions=()),
                                                   value='{"case":"AbCdEfGhIjKl"}'),
        "case_threat": cards.case_card(
            t, card(threat=True, triage=replace(TRIAGE, reasons=(Reason("threat", {"words": "geheimwoord"}),)))
        ),
        "case_compact": cards.case_card(t, card(compact=True, triage=TRIAGE)),
        "case_deleted": cards.case_card(t, card(text="", deleted=True, actions=(), status="answered")),
        "note": cards.thread_note(
            t, ThreadNote(event="new_message", text="Nog *steeds* <niks>", params={"author": "jan"})
        ),
        "note_due": cards.thread_note(
            t, ThreadNote(event="first_response_due", params={"due": AT.isoformat(), "people": "U0LEAD"})
        ),
        "notice": cards.notice(t, ThreadNote(event="source_failing", params={"source": "x", "detail": "503"})),
        "person": cards.person_message(
            t,
            PersonMessage(
                event="expert_question",
                params={"actor": "U0AGENT1", "topic": "levering"},
                text="Hoe lang?",
                case=SUMMARY,
                answer_ref="ExPeRt000001",
            ),
        ),
        "person_escalated": cards.person_message(
            t,
            PersonMessage(
                event="first_response_escalated",
                params={"due": AT.isoformat(), "owner": "U0AGENT1"},
                case=SUMMARY,
            ),
        ),
        "approval": cards.approval_card(t, approval()),
        "approval_done": cards.approval_card(
            t,
            approval(
                state="approved", decided_by="U0SPOKE", decided_at=AT, edited=True, note="iets vriendelijker"
            ),
        ),
        "surge": cards.surge_alert(t, surge()),
        "surge_resolved": cards.surge_alert(
            t,
            surge(
                state="resolved",
                resolved_at=AT,
                acked_by="U0LEAD",
                statement_by="U0SPOKE",
                statement_at=AT + timedelta(minutes=9),
            ),
        ),
        "storm": cards.storm_card(t, storm()),
        "cluster": cards.cluster_card(t, cluster()),
        "cluster_threats": cards.cluster_card(t, cluster(threats=3, sample="ik weet waar je werkt")),
    }


def walk(node: Any) -> list[dict[str, Any]]:
    """Every object in the card (elements, actions, nested cards, choices)."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def texts(content: dict[str, Any]) -> str:
    """What a reader sees: texts, titles, labels, placeholders and input values."""
    keys = ("text", "title", "label", "placeholder", "value")
    return "\n".join(
        str(o[k])
        for o in walk(content)
        if "type" in o or "title" in o
        for k in keys
        if isinstance(o.get(k), str)
    )


def check_card(content: dict[str, Any]) -> None:
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    assert content["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert content["msteams"] == {"width": "Full"} and isinstance(content["actions"], list)
    ids = []
    for o in walk(content):
        if "type" in o:
            assert o["type"] in TYPES, o["type"]
        if o.get("type") == "Action.Submit":
            assert set(o["data"]) - {"field"} == {"action", "value"} and json.loads(o["data"]["value"])
        if o.get("type") in ("ActionSet", "AdaptiveCard"):
            assert len(o.get("actions", [])) <= 6  # Teams drops the rest
        if "id" in o:
            ids.append(o["id"])
    assert len(ids) == len(set(ids))
    shown = texts(content)
    assert not SLACK_LINK.search(shown), SLACK_LINK.search(shown)  # escaped user text (\\<@U1) is fine
    assert not SINGLE_STAR.search(shown), SINGLE_STAR.search(shown)
    assert not SHORTCODE.search(shown), SHORTCODE.search(shown)
    assert len(json.dumps(attachment(content), ensure_ascii=False).encode()) < 28_000


def actions(content: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's top-level buttons in order (rows in the body first)."""
    rows = [a for b in content["body"] if b["type"] == "ActionSet" for a in b["actions"]]
    return rows + content["actions"]


def action_id(a: dict[str, Any]) -> str:
    if a["type"] == "Action.Submit":
        return str(a["data"]["action"])
    if a["type"] == "Action.ShowCard":
        return str(a["card"]["actions"][0]["data"]["action"])
    return a["type"]


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_every_card_is_valid(locale: str) -> None:
    t = Translator(locale, UTC)
    for name, content in every_card(t).items():
        check_card(content)
        assert attachment(content) == {"contentType": ADAPTIVE, "content": content}, name
    for status in CaseStatus:
        content = cards.case_card(t, card(status=status.value))
        check_card(content)
        assert f"status.{status.value}" not in json.dumps(content)


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_forms_send_the_documented_inputs(locale: str) -> None:
    for content in every_card(Translator(locale, UTC)).values():
        for form in (o for o in walk(content) if o.get("type") == "Action.ShowCard"):
            submit, *others = form["card"]["actions"]
            assert submit["type"] == "Action.Submit"  # others send no inputs (Prepared answers)
            assert all(a["type"] == "Action.Submit" and a["associatedInputs"] == "none" for a in others)
            submit = [submit]
            # a wording's form names its input (text_1…) in the submit's "field"
            ids = tuple("field" if o["id"] == submit[0]["data"].get("field") else o["id"]
                        for o in walk(form["card"]["body"]) if "id" in o)
            sent = INPUTS[submit[0]["data"]["action"]]  # reply: no spokesperson toggle when triage requires one
            assert ids and ids == tuple(i for i in sent if i in ids), submit[0]["data"]["action"]


def test_case_buttons_follow_the_status() -> None:
    t = Translator("nl", UTC)
    every = every_card(t)
    new = actions(every["case_open"])
    assert [action_id(a) for a in new] == ["case.claim", "case.reply", "case.ignore"]
    assert all(
        json.loads(a["data"]["value"] if "data" in a else a["card"]["actions"][0]["data"]["value"])
        == {"case": "AbCdEfGhIjKl"}
        for a in new
    )
    assert new[0]["style"] == "positive" and [a["type"] for a in new][1:] == ["Action.ShowCard"] * 2
    ignore = walk(new[2]["card"])
    choice = next(o for o in ignore if o.get("id") == "choice")
    assert [c["value"] for c in choice["choices"]] == list(IGNORE_REASONS)
    assert actions(every["case_compact"])[0]["data"]["action"] == "case.claim"
    assert [action_id(a) for a in actions(cards.case_card(t, card()))] == ["case.reply", "case.ignore"]
    assert actions(every["case_deleted"]) == []
    full = [action_id(a) for a in actions(every["case"])]
    assert full == [
        "case.claim",
        "case.reply",
        "Action.OpenUrl",
        "case.promise",
        "case.ask_expert",
        "case.like",
        "case.hide",
        "case.unhide",
        "case.snooze",
        "case.ignore",
        "case.assign",
    ]
    reply = next(o for o in walk(every["case"]) if o.get("id") == "text")
    assert reply["maxLength"] == 280 and reply["isMultiline"] is True
    assert "Maximaal 280 tekens op X." in texts(every["case"])
    assert [action_id(a) for a in actions(every["case_threat"])] == ["case.reply", "case.ignore", "case.show"]


def test_case_card_shows_what_slack_shows() -> None:
    t = Translator("nl", UTC)
    shown = texts(every_card(t)["case"])
    assert "🐦 **X** · eigen kanaal · **@jan** · Jan \\<Jansen\\> · 12,3K volgers · ☑️ geverifieerd" in shown
    assert "Waar blijft mijn pakket?\n\nBesteld op maandag & nog niks" in shown
    assert "🟡 Status: **Opgepakt** · Eigenaar: U0AGENT1 · 2 berichten in dit gesprek" in shown
    assert "[Bekijk origineel](https://x.com/jan/status/1)" in shown
    assert "📤 Antwoord van U0AGENT1 (verstuurd 22 nov 2026 09:15)" in shown
    assert "🟢 **Reageren** · hoog · klacht · sentiment -0,6 · 🔒 woordvoerder keurt goed" in shown
    assert "in ons eigen kanaal: altijd reageren (complaint); juridisch: 'advocaat'" in shown
    assert "⏰ **Reactietermijn verlopen** (22 nov 2026 09:15)" in shown and "terugbellen" in shown
    assert "_bewerkt_" in shown and "ℹ️ let op" in shown and "⚠️ Let op: 500" in shown
    ignored = texts(cards.case_card(t, card(status="ignored", ignored_reason="spam: reclamebot", actions=())))
    assert "Genegeerd: Spam of reclame — reclamebot" in ignored
    failed = cards.case_card(t, card(last_reply=ReplyView(agent="U0AGENT1", text="x", at=AT, status="failed")))
    assert "niet verstuurd" in texts(failed)
    threat = texts(every_card(t)["case_threat"])
    assert "Waar blijft" not in threat and "geheimwoord" not in threat and "bedreiging" in threat
    assert "tekst verwijderd" in texts(every_card(t)["case_deleted"])
    compact = texts(every_card(t)["case_compact"])
    assert "⚪ X · @jan: Waar blijft mijn pakket?" in compact and "Reageren" in compact


def test_user_text_cannot_format_or_link() -> None:
    t = Translator("nl", UTC)
    shown = texts(
        cards.case_card(t, card(text="<!channel> kijk [hier](https://evil) *nu*", url="javascript:x"))
    )
    assert "\\<!channel\\> kijk \\[hier\\](https://evil) \\*nu\\*" in shown
    assert "javascript" not in shown


def test_other_cards_show_what_slack_shows() -> None:
    t = Translator("en", UTC)
    every = every_card(t)
    person = texts(every["person"])
    assert (
        "🎓 U0AGENT1 asks for your help" in person and "Hoe lang?" in person and "Waar is \\*mijn\\*" in person
    )
    assert [action_id(a) for a in actions(every["person"])] == ["expert.answer"]
    assert "owner U0AGENT1" in texts(every["person_escalated"])
    approval_ = every["approval"]
    assert [action_id(a) for a in actions(approval_)] == [
        "approval.approve",
        "approval.edit",
        "approval.reject",
    ]
    edit = next(o for o in walk(approval_) if o.get("id") == "text")
    assert edit["value"] == "Hoi Jan, we zoeken het uit."
    assert "legal: 'advocaat'" in texts(approval_)
    assert actions(every["approval_done"]) == [] and "iets vriendelijker" in texts(every["approval_done"])
    alert = every["surge"]
    assert [action_id(a) for a in actions(alert)] == [
        "surge.ack",
        "surge.escalate",
        "surge.crisis",
        "surge.statement",
        "surge.resolve",
    ]
    shown = texts(alert)
    assert "340 messages" in shown and "▁▅█" in shown and "ik weet" not in shown and "\\<@U1\\>" in shown
    assert actions(every["surge_resolved"]) == []
    assert [action_id(a) for a in actions(every["cluster"])] == [
        "cluster.reply",
        "cluster.hide",
        "cluster.handled",
        "cluster.show",
    ]
    assert "ik weet waar" not in texts(every["cluster_threats"])
    storm_ = every["storm"]
    shows = [o["data"]["value"] for o in walk(storm_) if o.get("type") == "Action.Submit"]
    assert shows == ['{"cluster":11}', '{"cluster":12}', '{"cluster":13}', '{"surge":"AbCdEfGhIjKl"}']
    assert "own card with the actions" in texts(storm_) and "alert card" in texts(storm_)
    assert "ik weet waar je werkt" not in texts(storm_) and "[" not in texts(storm_).replace("\\[", "")


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_summaries_are_plain_text(locale: str) -> None:
    t = Translator(locale, UTC)
    items = [
        card(),
        card(threat=True),
        ThreadNote(event="claimed", actor="U0AGENT1"),
        PersonMessage(event="first_response_escalated", params={"due": AT.isoformat()}),
        approval(),
        surge(),
        storm(),
        cluster(),
    ]
    for item in items:
        text = summary(t, item)
        assert (
            text and len(text) <= 150 and "**" not in text and "\\" not in text and not SHORTCODE.search(text)
        )
    assert "Waar blijft" not in summary(t, card(threat=True))
    assert summary(Translator("nl", UTC), ThreadNote(event="claimed", actor="U0AGENT1")) == (
        "U0AGENT1 heeft deze melding opgepakt."
    )
    notice = ThreadNote(event="source_recovered", params={"source": "x"})
    assert summary(Translator("nl", UTC), notice, channel_notice=True) == "ℹ️ Bron x werkt weer."


def test_snapshots() -> None:
    (SNAPSHOTS / "teams").mkdir(exist_ok=True)
    every = every_card(Translator("nl", UTC))
    for name in ("case", "approval", "surge"):
        check_snapshot(f"teams/{name}_nl", attachment(every[name]))


def test_lists_sent_privately_are_plain_text() -> None:
    t = Translator("nl")
    messages = cards.cluster_messages_text(t, count=2, rows=[("@jan", "Walgelijk!"), ("@piet", "Schandalig")])
    assert messages.splitlines()[1:] == ["• @jan: Walgelijk!", "• @piet: Schandalig"]
    assert "2" in messages.splitlines()[0]
    groups = cards.storm_groups_text(t, label="HEMA-post", total=70, groups=[(50, "walgelijk"), (20, "boos")])
    assert "HEMA-post" in groups.splitlines()[0] and "70" in groups.splitlines()[0]
    assert groups.splitlines()[1:] == ["• 50× walgelijk", "• 20× boos"]
