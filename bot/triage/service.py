"""Triage of one mention: classify it, then apply the policy; and how reasons read for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.i18n import Translator
from bot.schemas import MentionIn
from bot.settings import AppConfig
from bot.triage.model import Classification, Classifier
from bot.triage.policy import Facts, Policy, Reason, Verdict


@dataclass(frozen=True)
class Assessment:
    """A mention's classification and the policy's verdict on it."""

    classification: Classification
    verdict: Verdict
    version: str


class Triage:
    """Classifier plus policy; pure CPU, safe to call inside the ingest transaction."""

    def __init__(self, classifier: Classifier, policy: Policy) -> None:
        self.classifier = classifier
        self.policy = policy

    def assess(self, m: MentionIn, *, crisis: bool = False,
               repeated_misinformation: bool = False) -> Assessment:
        """Classify and judge one mention."""
        c = self.classifier.classify(m.text, lang_hint=m.lang)
        facts = Facts(venue=m.resolved_venue, source=m.source, url=m.url,
                      author_handle=m.author.handle, followers=m.author.followers,
                      verified=m.author.verified, crisis=crisis,
                      repeated_misinformation=repeated_misinformation)
        return Assessment(c, self.policy.decide(c, facts, text=m.text), self.classifier.version)


def build_triage(config: AppConfig) -> Triage:
    """The shipped rule classifier (with the organisation's topic lexicons) and the policy."""
    from bot.triage.rules import RuleClassifier

    return Triage(RuleClassifier(topics=config.triage.topics), Policy(config.triage))


def explain(t: Translator, reasons: tuple[Reason, ...] | list[Reason]) -> list[str]:
    """Reasons as sentences in the reader's language."""
    return [t(f"reason.{r.code}", **r.params) if t.has(f"reason.{r.code}") else r.code for r in reasons]


def reasons_json(reasons: tuple[Reason, ...]) -> list[dict[str, object]]:
    """Reasons as stored (code + parameters), so they can be rendered in any language later."""
    return [{"code": r.code, "params": dict(r.params)} for r in reasons]


def reasons_from_json(data: list[dict[str, Any]] | None) -> list[Reason]:
    """Stored reasons back to Reason objects."""
    return [Reason(str(d["code"]), {str(k): str(v) for k, v in (d.get("params") or {}).items()})
            for d in data or []]
