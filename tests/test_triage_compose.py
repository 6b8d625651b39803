"""Compositional threats: cue + harm act (or approach with menace) + target, with the parts as evidence.

The messages here are written for these tests; none is taken from a labelled set.
"""

from __future__ import annotations

import pytest

from bot.triage.model import Intent
from bot.triage.rules import RuleClassifier


@pytest.fixture(scope="module")
def clf() -> RuleClassifier:
    return RuleClassifier()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        # speaker intent + act + staff
        ("Als de bezorger morgen weer niet komt ga ik klappen uitdelen aan die gast", ("klappen", "bezorger")),
        # passive "koppen rollen" with a speaker and a target
        ("Bij dat distributiecentrum gaan koppen rollen en ik ga daarvoor zorgen", ("koppen rollen",)),
        # "te pakken krijgen" + staff + warning
        ("Reken maar dat ik die filiaalmanager een keer te pakken krijg", ("te pakken",)),
        # incitement + act + place
        ("Iemand moet eens wat bakstenen door de etalage van die winkel gooien", ("bakstenen",)),
        # English: intent + harm + target
        ("if you don't refund me I will make sure somebody at your office gets hurt", ("hurt",)),
        # hypothetical + act + place
        ("stel dat jullie magazijn vannacht in brand staat, wie gaat dat betalen hè", ("in brand",)),
    ],
)
def test_composed_act_threats(clf: RuleClassifier, text: str, parts: tuple[str, ...]) -> None:
    result = clf.classify(text)
    assert result.threat, result.threat_evidence
    assert result.intent is Intent.THREAT
    shown = " ".join(result.threat_evidence)
    assert all(p in shown for p in parts), result.threat_evidence


@pytest.mark.parametrize(
    "text",
    [
        "zaterdag komen we met de jongens bij jullie vestiging in Zwolle, allemaal",  # approach + group + time
        "we know where your Bristol warehouse is. see you tonight, all of you",  # place + time + menace
        "Ik wacht vrijdagavond buiten op die chauffeur van jullie, reken maar",  # waiting + time + warning
    ],
)
def test_composed_approach_threats(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert result.threat, result.threat_evidence
    assert any("composed" in e or "threat" in e for e in result.threat_evidence)


@pytest.mark.parametrize(
    "text",
    [
        "morgen kom ik langs in de winkel om mijn geld terug te halen, ben het zat",  # a visit with a reason
        "ik ga vanavond naar jullie winkel om te ruilen",
        "we komen zaterdag met z'n allen demonstreren bij jullie hoofdkantoor",  # a protest
        "we komen morgen met de hele familie naar de opening, zin in!",  # a happy visit
        "Na dit gedoe gaan er bij jullie vast koppen rollen",  # people will be fired: no speaker, no cue
        "I'm gonna regret ordering from you lot again",  # regret of one's own
        "my back hurts from carrying your heavy boxes, tomorrow I'll complain",
        "I'll be waiting for your reply tomorrow, thanks",  # waiting for an answer
    ],
)
def test_composed_parts_alone_are_no_threat(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert not result.threat, result.threat_evidence


def test_composed_evidence_names_cue_act_and_target(clf: RuleClassifier) -> None:
    result = clf.classify("Iemand zou die winkel van jullie eens met benzine moeten bezoeken")
    assert result.threat
    ev = next(e for e in result.threat_evidence if e.startswith("composed"))
    assert "incitement" in ev and "benzine" in ev and "target" in ev


# --- abuse, claims and replies between users ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "jullie zijn gewoon parasieten",  # dehumanising noun + "jullie"
        "the cashiers there are vultures, always upselling",  # staff + dehumanising noun
        "rot op met jullie campagne",  # a directed curse
        "Stelletje luizen zijn jullie",
    ],
)
def test_insults_aimed_at_people_are_abuse(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert result.intent is Intent.THREAT and not result.threat, result.intent_evidence
    assert result.intent_evidence[0] == "rule: abuse"


@pytest.mark.parametrize(
    "text",
    [
        "ik ben geen idioot, ik weet wat ik besteld heb",  # denied
        "ik voel me een sukkel dat ik dit geloofde",  # said of oneself
        "I'm such an idiot, wrong address again",
        "Hebben jullie de rookworst ook zonder varkensvlees?",  # no insult inside a compound
    ],
)
def test_insult_words_not_aimed_at_anyone_are_no_abuse(clf: RuleClassifier, text: str) -> None:
    assert clf.classify(text).intent is not Intent.THREAT


@pytest.mark.parametrize(
    "text",
    [
        "they sell your shopping data to insurers",
        "De directie geeft de winst aan de aandeelhouders en het personeel krijgt niks",
        "jullie verkopen al onze adressen aan reclamebureaus",
    ],
)
def test_claims_about_us_as_fact_are_misinformation(clf: RuleClassifier, text: str) -> None:
    result = clf.classify(text)
    assert result.intent is Intent.MISINFORMATION, result.intent_evidence


@pytest.mark.parametrize(
    "text",
    [
        "Ik heb gemerkt dat jullie mijn gegevens verkopen?",  # asked
        "jullie geven geen geld terug, schandalig",  # money back: a complaint
        "Do you sell gift cards for the Ghent stores?",
    ],
)
def test_claim_parts_in_questions_and_complaints_are_no_misinformation(clf: RuleClassifier, text: str) -> None:
    assert clf.classify(text).intent is not Intent.MISINFORMATION


def test_a_reply_between_users_is_other(clf: RuleClassifier) -> None:
    assert clf.classify("@pieter_j hahaha nee joh, die was van mijn zus").intent is Intent.OTHER
    assert clf.classify("@webcare mijn pakket is nog niet binnen").intent is Intent.COMPLAINT


# --- the naive Bayes tie-breaker -----------------------------------------------------------------


def test_tie_breaker_only_where_the_rules_are_silent(clf: RuleClassifier) -> None:
    assert "bayes/" in clf.version
    plain = RuleClassifier(bayes=False)
    assert "bayes/" not in plain.version
    text = "Die nieuwe verpakking van de stroopwafels dus"  # no cue for any rule
    silent = plain.classify(text)
    assert silent.intent_evidence[0].startswith(("rule: other (no cue)", "rule: complaint ("))
    broken = clf.classify(text)
    assert broken.intent_evidence[0].startswith("tie-breaker: ")
    assert broken.intent_evidence[-1].startswith("(rules: ")
    # a rule with a cue is never overruled
    assert clf.classify("Hoe laat gaan jullie open?").intent_evidence == plain.classify(
        "Hoe laat gaan jullie open?"
    ).intent_evidence


def test_tie_breaker_never_says_threat(clf: RuleClassifier) -> None:
    from bot.triage.bayes import NaiveBayes

    model = NaiveBayes.load()
    assert model is not None and "threat" in model.classes
    for text in ("jullie hele bedrijf", "die mensen daar", "you lot again"):
        result = clf.classify(text)
        assert result.intent is not Intent.THREAT or result.intent_evidence[0].startswith("rule:")
