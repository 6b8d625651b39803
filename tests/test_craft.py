"""Reply craft, pure: the tone check, promise detection with due times, the answer library and rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.craft.answers import Library, fill, rank, variant_key
from bot.craft.promises import detect_promise
from bot.craft.text import normalised, similarity, text_hash
from bot.craft.tone import ToneCode, ToneContext, check_tone
from bot.settings import AnswerSet

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Amsterdam
COMPLAINT = ToneContext(complaint=True)


def codes(text: str, ctx: ToneContext = COMPLAINT) -> list[str]:
    return [w.code.value for w in check_tone(text, ctx)]


@pytest.mark.parametrize("text", [
    "Sorry dat je zo lang moest wachten!",
    "Onze excuses voor het ongemak.",
    "Het spijt ons, dat had niet mogen gebeuren.",
    "Dat is echt onze fout.",
    "Sorry for the wait, Jan.",
    "We apologise for the inconvenience.",
    "That was our mistake.",
])
def test_an_apology_on_a_complaint_is_warned(text: str) -> None:
    assert codes(text) == ["apology"]


@pytest.mark.parametrize("text", [
    "Het spijt me dat u zich zo voelt.",       # regret about the feeling: empathy, no fault admitted
    "Wat vervelend dat je dit zo ervaart.",
    "Sorry om dat te horen, we kijken met je mee.",
    "I'm sorry to hear that.",
    "So sorry you feel this way.",
    "Dank voor je bericht!",
])
def test_empathy_is_not_an_apology(text: str) -> None:
    assert codes(text) == []


def test_an_apology_on_a_question_is_politeness() -> None:
    assert codes("Sorry, welk ordernummer bedoel je?", ToneContext(complaint=False)) == []


def test_evidence_quotes_the_draft() -> None:
    [w] = check_tone("Sorry! Sorry nogmaals, onze excuses.", COMPLAINT)
    assert w.code == ToneCode.APOLOGY and w.evidence == ("sorry", "excuses")


@pytest.mark.parametrize("text", [
    "Dat klopt niet, u had moeten bellen.",
    "Zoals we al zeiden: het ligt niet aan ons.",
    "Dat is de fout van de bezorger.",
    "As previously mentioned, that's not our fault.",
    "You should have read the terms.",
])
def test_defensive_phrasing_is_warned_on_any_intent(text: str) -> None:
    assert codes(text, ToneContext()) == ["defensive"]


def test_length_duplicate_and_addressee() -> None:
    ctx = ToneContext(names=("Jan", "Jan de Vries", "jan_dv"), soft_limit=40,
                      duplicate_at=NOW - timedelta(hours=2))
    warnings = check_tone("Hoi! Je pakket komt morgen, dat hebben we nagevraagd bij de bezorger.", ctx)
    assert [w.code for w in warnings] == [ToneCode.TOO_LONG, ToneCode.DUPLICATE, ToneCode.NO_ADDRESSEE]
    assert warnings[0].length == 69 and warnings[0].limit == 40
    assert warnings[1].at == NOW - timedelta(hours=2)
    for addressed in ("Hoi Jan, top!", "@jan_dv top!", "Dag JAN."):
        assert codes(addressed, ToneContext(names=("Jan", "jan_dv"))) == []
    assert codes("Hoi Zoë!", ToneContext(names=("Zoe",))) == []  # accents do not matter
    assert codes("Hoi Janneke!", ToneContext(names=("Jan",))) == ["no_addressee"]


def test_checks_can_be_switched_off() -> None:
    ctx = ToneContext(complaint=True, names=("Jan",), checks=frozenset({"defensive"}))
    assert codes("Sorry!", ctx) == []


@pytest.mark.parametrize(("text", "phrase", "hint", "due"), [
    ("We komen erop terug.", "komen erop terug", None, NOW + timedelta(days=1)),
    ("Ik zoek het voor je uit en laat het je morgen weten.", "ik zoek het voor je uit", "morgen",
     datetime(2026, 11, 25, 23, 59, 59, tzinfo=AMS)),
    ("Ik ga het na, je hoort binnen 2 uur van ons.", "ik ga het na", "binnen 2 uur", NOW + timedelta(hours=2)),
    ("We'll get back to you tomorrow.", "get back to you", "tomorrow",
     datetime(2026, 11, 25, 23, 59, 59, tzinfo=AMS)),
    ("I'll look into it within the hour!", "i'll look into", "within the hour", NOW + timedelta(hours=1)),
    ("We nemen vrijdag contact met je op.", "we nemen vrijdag … met je op", "vrijdag",
     datetime(2026, 11, 27, 23, 59, 59, tzinfo=AMS)),
    ("Ik kom er vandaag nog op terug.", "kom er vandaag nog op terug", "vandaag",
     datetime(2026, 11, 24, 23, 59, 59, tzinfo=AMS)),
    ("We zoeken het uit. Over een half uur weet ik meer, dan laat ik je het weten.", "we zoeken het uit",
     "over een half uur", NOW + timedelta(minutes=30)),
    ("We zoeken het uit. Morgen zijn we gesloten.", "we zoeken het uit", None, NOW + timedelta(days=1)),
])
def test_promises_and_when_they_are_due(text: str, phrase: str, hint: str | None, due: datetime) -> None:
    p = detect_promise(text, now=NOW, tz=AMS, default_due=timedelta(days=1))
    assert p is not None and p.phrases[0] == phrase
    assert p.due_hint == hint and p.due_at == due
    assert p.due_from == ("hint" if hint else "default")
    stored = p.as_json()
    assert stored["version"] == 1 and stored["due_at"] == due.isoformat() and stored["phrases"][0] == phrase


@pytest.mark.parametrize("text", [
    "Laat ons even weten wat je ordernummer is?",
    "Neem gerust contact met ons op via de chat.",
    "Je kunt het nakijken op onze site.",
    "Thanks, have a lovely day!",
    "Kijk het even na in de app.",
])
def test_no_promise(text: str) -> None:
    assert detect_promise(text, now=NOW, tz=AMS, default_due=timedelta(days=1)) is None


def test_a_promise_is_due_at_its_earliest_hint() -> None:
    p = detect_promise("Ik laat het je binnen een uur weten, uiterlijk morgen.", now=NOW, tz=AMS,
                       default_due=timedelta(days=1))
    assert p is not None and p.due_hint == "binnen een uur" and p.due_at == NOW + timedelta(hours=1)


def test_normalised_text_ignores_the_addressee_case_and_punctuation() -> None:
    a = text_hash("Hoi Jan, je pakket komt morgen!", ["Jan", "jan_dv"])
    b = text_hash("hoi @piet_k  je pakket komt MORGEN", ["Piet", "piet_k"])
    assert a == b
    assert normalised("Hoi {name}, top!") == "hoi top"
    assert similarity("a b c d e", "a b c d x") == 0.8


SETS = [
    AnswerSet(topic="levering", owner="U0EXP1", language="nl", variants=[
        "Hoi {name}, wat vervelend dat je pakket er nog niet is. Stuur je je ordernummer via DM?",
        "Hé {name}, balen dat je nog wacht! Met je ordernummer (in een DM) zoek ik het direct uit.",
        "Dag {name}, dat duurt inderdaad lang. Wil je je ordernummer sturen in een privébericht?",
    ]),
    AnswerSet(topic="levering", owner="U0EXP1", language="en", variants=[
        "Hi {name}, how annoying that your parcel hasn't arrived. Could you DM us your order number?",
    ]),
    AnswerSet(topic="retour", owner="U0EXP2", variants=["Hoi {name}, retourneren kan binnen 30 dagen."]),
]


def test_candidates_fit_topic_and_language() -> None:
    lib = Library(SETS)
    assert [v.language for v in lib.candidates(["levering"], "nl")] == ["nl", "nl", "nl"]
    assert [v.language for v in lib.candidates(["levering"], "en")] == ["en"]
    assert len(lib.candidates(["levering"], "other")) == 4  # unknown language: everything
    assert [v.topic for v in lib.candidates(["retour", "levering"], "en")] == ["retour", "levering"]
    assert lib.candidates(["privacy"], "nl") == []
    assert lib.get(variant_key("retour", "Hoi {name}, retourneren kan binnen 30 dagen.")) is not None


def test_rotation_puts_wordings_sent_to_others_last() -> None:
    lib = Library(SETS)
    cands = lib.candidates(["levering"], "nl")
    first = rank(cands, {}, name="Jan", limit=3)
    assert first[0].text.startswith("Hoi Jan, wat vervelend") and first[0].recent_at is None
    used = {cands[0].key: NOW - timedelta(hours=1), cands[1].key: NOW - timedelta(days=2)}
    again = rank(cands, used, name="Piet", limit=3)
    assert [s.key for s in again] == [cands[2].key, cands[1].key, cands[0].key]
    assert again[1].recent_at == NOW - timedelta(days=2)
    assert len(rank(cands, {}, name=None, limit=2)) == 2


def test_fill_without_a_name() -> None:
    assert fill("Hoi {name}, top!", None) == "Hoi, top!"
    assert fill("{name}, top!", None) == "top!"
    assert fill("Hoi {name}, top!", "@jan") == "Hoi @jan, top!"


def test_a_personalised_reply_still_counts_as_the_variant() -> None:
    lib = Library(SETS)
    text = "Hoi Jan, wat vervelend dat je pakket er nog steeds niet is. Stuur je je ordernummer via DM?"
    v = lib.match(text, ["levering"], ["Jan"])
    assert v is not None and v.text.startswith("Hoi {name}, wat vervelend")
    assert lib.match("Hoi Jan, ik bel je zo.", ["levering"], ["Jan"]) is None
