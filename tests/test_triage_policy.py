"""The response policy (Oxfam Novib checklist) and sensitivity, on hand-made classifications."""

from __future__ import annotations

from bot.i18n import Translator
from bot.settings import Triage
from bot.triage.model import Classification, Intent
from bot.triage.policy import Decision, Facts, Policy, Priority
from bot.triage.service import explain

OWN = Facts(venue="own", source="x")
ELSEWHERE = Facts(venue="third_party", source="forum", url="https://forum.example.nl/t/1")


def labels(intent: Intent, sentiment: float = 0.0, *, threat: bool = False,
           topics: tuple[str, ...] = ()) -> Classification:
    return Classification(language="nl", intent=intent, sentiment=sentiment, threat=threat,
                          topics=topics, threat_evidence=("in de fik",) if threat else ())


def test_own_house_always_responds_to_customers() -> None:
    policy = Policy(Triage())
    for intent in (Intent.QUESTION, Intent.COMPLAINT, Intent.COMPLIMENT, Intent.SUGGESTION):
        verdict = policy.decide(labels(intent), OWN)
        assert verdict.decision is Decision.RESPOND and verdict.reasons[0].code == "own_house"
    assert policy.decide(labels(Intent.COMPLAINT, -0.8), OWN).priority is Priority.HIGH
    assert policy.decide(labels(Intent.COMPLIMENT, 0.8), OWN).priority is Priority.LOW


def test_third_party_is_selective() -> None:
    policy = Policy(Triage(authorities=["nos"], authority_followers=10_000))
    assert policy.decide(labels(Intent.COMPLIMENT, 0.7), ELSEWHERE).decision is Decision.SKIP
    assert policy.decide(labels(Intent.QUESTION), ELSEWHERE).decision is Decision.CONSIDER
    unrest = policy.decide(labels(Intent.COMPLAINT, -0.7), ELSEWHERE)
    assert unrest.decision is Decision.RESPOND and unrest.reasons[0].code == "unrest"
    press = policy.decide(labels(Intent.OTHER), Facts(venue="third_party", source="x", author_handle="NOS"))
    assert press.decision is Decision.RESPOND and press.needs_approval
    reach = policy.decide(labels(Intent.OTHER), Facts(venue="third_party", source="x", followers=20_000))
    assert reach.decision is Decision.RESPOND
    once = policy.decide(labels(Intent.MISINFORMATION, -0.3), ELSEWHERE)
    again = policy.decide(labels(Intent.MISINFORMATION, -0.3),
                          Facts(venue="third_party", source="forum", repeated_misinformation=True))
    assert once.decision is Decision.CONSIDER and again.decision is Decision.RESPOND


def test_silent_topics_and_no_go_venues_are_skipped() -> None:
    policy = Policy(Triage(silent_topics=["politiek"], no_go_venues=["forum.example.nl"]))
    assert policy.decide(labels(Intent.QUESTION, topics=("politiek",)), OWN).decision is Decision.SKIP
    verdict = policy.decide(labels(Intent.COMPLAINT, -0.9), ELSEWHERE)
    assert verdict.decision is Decision.SKIP and verdict.reasons[0].params["venue"] == "forum.example.nl"


def test_threats_are_urgent_and_need_approval() -> None:
    verdict = Policy(Triage()).decide(labels(Intent.THREAT, -1, threat=True), OWN)
    assert verdict.priority is Priority.URGENT and verdict.decision is Decision.CONSIDER
    assert verdict.needs_approval and {r.code for r in verdict.approval_reasons} == {"approval_threat"}


def test_sensitivity_reasons() -> None:
    policy = Policy(Triage(sensitive_topics=["privacy"], legal_words=["ombudsman"]))
    verdict = policy.decide(labels(Intent.COMPLAINT, -0.5, topics=("privacy",)), OWN,
                            text="Ik stap naar mijn advocaat en de Ombudsman")
    codes = [r.code for r in verdict.approval_reasons]
    assert codes == ["sensitive_topic", "legal"] and verdict.needs_approval
    assert Policy(Triage()).decide(labels(Intent.QUESTION), Facts(venue="own", source="x", crisis=True)
                                   ).approval_reasons[0].code == "crisis"
    assert not Policy(Triage()).decide(labels(Intent.QUESTION), OWN).needs_approval


def test_reasons_read_in_both_languages() -> None:
    verdict = Policy(Triage()).decide(labels(Intent.COMPLAINT, -0.7), ELSEWHERE)
    nl, en = explain(Translator("nl"), verdict.reasons), explain(Translator("en"), verdict.reasons)
    assert nl and en and nl != en and "-0.7" in nl[0]
