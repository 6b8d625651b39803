"""The rule classifier's behaviour: language, threats and their idioms, evidence, sentiment, intent, topics.

These test what the rules do with clear examples, not the figures on the labelled sets (that is
`python -m bench.triage_eval`).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from bot.triage.lexicon import LEXICON_DIR, LexiconError
from bot.triage.model import Classification, Classifier, Intent
from bot.triage.rules import RuleClassifier


@pytest.fixture(scope="module")
def clf() -> RuleClassifier:
    return RuleClassifier()


def test_is_a_classifier(clf: RuleClassifier) -> None:
    classifier: Classifier = clf  # the Protocol: an organisation's own model can take its place
    assert isinstance(classifier.classify("hallo"), Classification)


# --- language ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Waar blijft mijn pakket? Ik wacht al een week", "nl"),
        ("Kunde gij mij zeggen tot wanneer da die actie loopt?", "nl"),
        ("Amai, da's de derde keer dat mijn levering nie komt", "nl"),
        ("Where is my parcel? I have been waiting for a week", "en"),
        ("Toujours pas reçu mon colis, c'est inadmissible", "other"),
        ("Hallo, liefert ihr auch nach Deutschland? Ich finde keine Info", "other"),
        ("Hola, ¿tienen tiendas en Madrid?", "other"),
    ],
)
def test_language(clf: RuleClassifier, text: str, language: str) -> None:
    result = clf.classify(text)
    assert result.language == language, result.language_evidence
    assert result.language_evidence


def test_flemish_is_dutch_and_named(clf: RuleClassifier) -> None:
    result = clf.classify("Allee, ge zijt een straffe ploeg, merci!")
    assert result.language == "nl"
    assert any(e.startswith("flemish:") and "ge" in e for e in result.language_evidence)


def test_language_hint_decides_when_the_text_cannot(clf: RuleClassifier) -> None:
    assert clf.classify("👍👍").language == "other"
    assert clf.classify("👍👍", lang_hint="nl").language == "nl"
    assert clf.classify("👍👍", lang_hint="en-GB").language == "en"


# --- threats -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "De prijs is moordend, €5 voor een kroket",
        "Ik ga dood van het lachen om jullie reclame 😂",
        "Your social team is killing it today",
        "That cake is to die for",
        "could kill for a coffee right now",
        "ik vermoord die kroket zo, honger",
        "this ad is fire 🔥🔥",
        "Die nieuwe actie is echt de bom!",
        "Knallende aanbiedingen deze week!",
        "Schiet eens op met mijn pakket",
        "Dit slaat nergens op",
        "ik ga hier echt kapot van de stress",
        "Ajax speelde ze gisteren helemaal kapot, 4-0 🔥⚽",
        "Verkopen jullie ook messen in de winkel?",
        "jullie schieten echt tekort qua service",
        "Your new fragrance is the bomb 💣",
        # sport and gaming talk, slang praise, announcing a visit, exploding with anger
        "PSV heeft ze gewoon afgemaakt gisteren 3-0",
        "Ik maak jullie allemaal af op FIFA vanavond",
        "we got absolutely destroyed in the final lol",
        "jullie nieuwe tompouce is echt bom",
        "Die actie slaat echt alles, top!",
        "mijn geduld is op, ik ontplof zo",
        "Ik kom morgen langs in de winkel om mijn jas te ruilen",
        "Als het niet opgelost wordt, ga ik een klacht indienen",
        "I'm going to find the receipt and bring it back tomorrow",
        "Er zit een vogel in jullie winkel",  # not repaired to "kogel": short words need an exact match
        "Ge weet toch dat de vervallen vis nog in de toog ligt",  # "vervallen" is no "overvallen"
        "Nieuwe messenset gekocht 🔪",
    ],
)
def test_idioms_are_not_threats(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert not result.threat, result.threat_evidence
    assert result.intent is not Intent.THREAT


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Ik ga die kassamedewerker vermoorden", "vermoorden"),  # direct
        ("ik steek je filiaal in de fik als ik mijn geld niet terugkrijg", "in de fik"),  # direct + conditional
        ("Als mijn geld er vrijdag niet is, kom ik met een mes naar het filiaal", "mes"),  # conditional
        ("als dit niet opgelost wordt weet ik waar jullie medewerker woont", "weet ik waar"),  # veiled
        ("jullie personeel moet maar eens goed oppassen als ze naar buiten komen", "oppassen"),  # veiled
        ("iemand zou die directeur eens flink in elkaar moeten slaan", "in elkaar"),  # incitement
        ("someone should torch that store tbh", "torch"),
        ("I know where your staff park their cars. Just saying.", "know where"),
        ("ik vermoort jullie allemaal", "vermoord"),  # typo
        ("ik maak je d00d", "maak je dood"),  # leetspeak
        ("k1ll every employee in that shop", "kill"),
        ("🔪🔥 jullie winkel", "🔪"),  # emoji next to a target
        ("💣💣 your HQ", "💣"),
        ("Ge moogt blij zijn da'k nie weet waar da kantoor is, anders kwam ik langs met ne knuppel", "knuppel"),
        # constructions without a violent verb: a consequence promised, a visit with company, seeking someone
        ("als ik morgen weer geen pakket heb dan zul je het wel merken", "zul je het wel merken"),
        ("Ik kom vanavond langs met mijn jongens", "menace: ik kom"),
        ("ik ga die manager van jullie wel vinden", "wel vinden"),
        ("wees maar bang als je morgen je dienst hebt", "wees maar bang"),
        ("jullie bezorger moet maar goed uitkijken als hij nog eens bij mij komt", "uitkijken"),
        ("Nog zo'n actie en er gebeuren ongelukken bij jullie", "ongelukken"),
        ("I'm bringing my baseball bat when I come to your store", "bringing"),
        ("gonna throw a rock through your store window", "through"),
        ("Ik breng de benzine mee, wie doet er mee? #boycot", "benzine"),  # offering help: incitement
        # spelled out with spaces, leetspeak, other languages
        ("s t e e k  j u l l i e  w i n k e l  i n  b r a n d", "steek jullie"),
        ("k1ll d4t c4sh13r", "kill"),
        ("k.i.l.l your staff", "kill"),
        ("k!ll the cashier", "kill"),
        ("ik vermoodr die kassamedwerker", "vermoord"),  # typos repaired towards threat words
        ("ik steek die medewekrer neer", "medewerker"),
        ("🔪 @webcare_jan", "short reply"),
        ("Ich werde euren Laden abfackeln", "abfackeln"),
    ],
)
def test_threats(clf: RuleClassifier, text: str, words: str) -> None:
    result = clf.classify(text)
    assert result.threat, text
    assert result.intent is Intent.THREAT
    assert result.sentiment < 0
    assert any(words in e for e in result.threat_evidence), result.threat_evidence
    assert result.intent_evidence[0] == "rule: threat"


def test_abuse_is_intent_threat_without_the_threat_flag(clf: RuleClassifier) -> None:
    result = clf.classify("Stelletje oplichters, jullie zijn echt het laagste van het laagste")
    assert result.intent is Intent.THREAT and not result.threat
    assert result.intent_evidence[0] == "rule: abuse"
    assert any("stelletje oplichters" in e for e in result.intent_evidence)


@pytest.mark.parametrize(
    "text",
    [
        "Ik hoop dat die directeur failliet gaat",  # a wish of harm: abuse, the writer does nothing
        "I hope your CEO ends up on the street",
        "You absolute clowns",
        "Wat een rotbedrijf",
    ],
)
def test_wishes_of_harm_and_insults_are_abuse_not_threats(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert result.intent is Intent.THREAT and not result.threat, (
        result.intent_evidence,
        result.threat_evidence,
    )
    assert result.intent_evidence[0] == "rule: abuse"


# --- evidence and sentiment ----------------------------------------------------------------------


def test_every_label_names_its_words(clf: RuleClassifier) -> None:
    result = clf.classify("Mijn pakket is al 3 weken te laat, echt belachelijk!!")
    assert result.intent is Intent.COMPLAINT
    assert result.intent_evidence[0] == "rule: complaint"
    assert "te laat" in result.intent_evidence
    assert any(e.startswith("belachelijk") for e in result.sentiment_evidence)
    assert "levering" in result.topics and "pakket" in result.topic_evidence["levering"]
    assert result.language_evidence[0].startswith("nl ")


def test_negation_flips_sentiment(clf: RuleClassifier) -> None:
    happy, unhappy = clf.classify("Ik ben blij met de service"), clf.classify("Ik ben niet blij met de service")
    assert happy.sentiment > 0.15 and unhappy.sentiment < -0.15
    assert any(e.startswith("niet blij") for e in unhappy.sentiment_evidence)
    assert clf.classify("not bad at all").sentiment > 0
    assert clf.classify("This is not good").sentiment < 0


def test_intensifier_and_exclamation_strengthen(clf: RuleClassifier) -> None:
    plain, strong = clf.classify("goed"), clf.classify("echt heel goed!!")
    assert strong.sentiment > plain.sentiment > 0


@pytest.mark.parametrize(
    "text",
    [
        "Super, weer een week geen pakket. Top service hoor 👏",
        "Tompouce was completely squashed in the box, icing everywhere. Fantastic 🙄",
        "Oh great, charged twice again. Love that for me 🙃",
        "Thanks for nothing, 2 hours in the chat queue",
        "Lovely, another parcel 'delivered' to a neighbour I don't have",  # scare quotes
        "Wow, amazing service, an hour on hold and then disconnected",  # praise opening, only problems after
        "Geweldig hoor, de taart kwam helemaal ingedeukt aan",
    ],
)
def test_sarcasm_is_negative(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert result.sentiment < -0.15, result.sentiment_evidence
    assert result.intent is Intent.COMPLAINT


def test_praise_with_an_irony_marker_nearby_but_no_problem_stays_positive(clf: RuleClassifier) -> None:
    result = clf.classify("Chapeau voor de medewerker die mijn kapotte fietstas omruilde zonder bon 👏")
    assert result.sentiment > 0.15 and result.intent is Intent.COMPLIMENT


# --- intent --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ik wil graag weten hoe ik mijn abonnement opzeg",
        "mag ik een jas zonder bon terugbrengen als het label er nog aan zit",
        "Bezorgen jullie ook op zaterdag in Groningen",
        "how do I reset my password",
        "Hi, can I return an item bought online in one of your stores",
        "Kan iemand me vertellen waar mijn pakket is",
    ],
)
def test_question_without_question_mark(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert result.intent is Intent.QUESTION, result.intent_evidence
    assert result.intent_evidence[0].startswith("rule: question")


def test_complaint_phrased_as_a_question(clf: RuleClassifier) -> None:
    assert clf.classify("Waarom duurt het 3 weken??? Ik heb gewoon betaald hoor").intent is Intent.COMPLAINT


def test_a_problem_asked_calmly_is_a_neutral_question(clf: RuleClassifier) -> None:
    result = clf.classify("Hallo, ik heb 2x betaald voor dezelfde bestelling, hoe krijg ik dat terug?")
    assert result.intent is Intent.QUESTION and abs(result.sentiment) < 0.15


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Zou fijn zijn als de app een donkere modus kreeg", Intent.SUGGESTION),
        ("Waarom geen optie om het pakket bij de buren af te geven?", Intent.SUGGESTION),
        ("It would be nice if you offered gift wrapping", Intent.SUGGESTION),
        ("ik heb gelezen dat jullie al het geld aan de directie geven", Intent.MISINFORMATION),
        ("You put microchips in the loyalty cards to track where we go", Intent.MISINFORMATION),
        ("Klopt het dat jullie stoppen met contant geld?", Intent.QUESTION),
        ("jullie zijn geweldig ❤️", Intent.COMPLIMENT),
        ("top 👍", Intent.COMPLIMENT),
        ("🎉 WIN een iPhone 15!! Klik hier: https://bit.ly/x 🎉", Intent.OTHER),
        ("Allee, wie gaat er mee naar de Gentse Feesten?", Intent.OTHER),
        ("hey how long does a refund usually take", Intent.QUESTION),  # a greeting before the question word
        (
            "Lekker dan, betaal ik voor spoed en komt het alsnog na een week",
            Intent.COMPLAINT,
        ),  # a story, no question
        ("Heerlijk weekend gehad met de kinderen aan zee", Intent.OTHER),  # happy, but not about us
        ("Jullie reageren nooit op mijn berichten", Intent.COMPLAINT),
        ("Al drie weken geleden opgestuurd en nog steeds niks", Intent.COMPLAINT),
        ("Could you add a filter for vegan products?", Intent.SUGGESTION),
    ],
)
def test_intents(clf: RuleClassifier, text: str, intent: Intent) -> None:
    result = clf.classify(text)
    assert result.intent is intent, result.intent_evidence
    assert result.intent_evidence[0].startswith(("rule: ", "tie-breaker: "))


# --- configuration -------------------------------------------------------------------------------


def test_organisation_topics_and_extra_words() -> None:
    base = RuleClassifier()
    org = RuleClassifier(
        topics={"spoor": ["trein*", "perron", "ns app"]},
        extra={"threat": {"targets": ["conducteur"]}, "sentiment": {"words": {"vertraagd": -0.8}}},
    )
    result = org.classify("De trein op perron 5 is weer vertraagd")
    assert "spoor" in result.topics and result.topic_evidence["spoor"] == ("trein", "perron")
    assert result.sentiment < base.classify("De trein op perron 5 is weer vertraagd").sentiment
    threat = "Ik heb een knuppel klaarliggen voor die conducteur"
    assert not base.classify(threat).threat
    assert org.classify(threat).threat_evidence == ("violence near target: knuppel + conducteur",)
    # bringing a weapon along is a threat whoever it is for
    assert base.classify("Ik neem een knuppel mee voor die conducteur").threat
    assert org.version != base.version and "org/" in org.version


def test_versions_name_every_data_file(clf: RuleClassifier) -> None:
    for path in LEXICON_DIR.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert f"{path.stem}/{data['version']}" in clf.version
    assert clf.version.startswith("rules/")
    assert RuleClassifier().version == clf.version  # stable


def test_unknown_extra_section_is_refused() -> None:
    with pytest.raises(LexiconError, match="threat.targetz"):
        RuleClassifier(extra={"threat": {"targetz": ["x"]}})


def test_a_lexicon_file_without_version_is_refused(tmp_path: Path) -> None:
    for path in LEXICON_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "topics.yaml").write_text("topics: {}\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="version"):
        RuleClassifier(lexicon_dir=tmp_path)


# --- odd input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "👏👏👏", "?!?!", "@webcare", "https://t.co/abc", "ÅÄÖ ßø 🤷🏽‍♀️"])
def test_odd_input(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert -1.0 <= result.sentiment <= 1.0
    assert result.intent in Intent
    assert not result.threat


def test_emoji_only_praise(clf: RuleClassifier) -> None:
    result = clf.classify("👏👏👏")
    assert result.intent is Intent.COMPLIMENT and result.sentiment > 0.15


def test_very_long_text_is_classified_quickly(clf: RuleClassifier) -> None:
    text = "Mijn pakket is nog steeds niet bezorgd en niemand neemt op. " * 2000 + "Ik weet waar je woont."
    started = time.perf_counter()
    result = clf.classify(text)
    assert time.perf_counter() - started < 5.0
    assert result.threat and result.intent is Intent.THREAT
    assert -1.0 <= result.sentiment <= 1.0
    assert len(result.sentiment_evidence) <= 8 and len(result.threat_evidence) <= 40
