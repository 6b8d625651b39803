"""The classifier's interface and result: labels with the words or facts that caused them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Intent(StrEnum):
    QUESTION = "question"
    COMPLAINT = "complaint"
    COMPLIMENT = "compliment"
    SUGGESTION = "suggestion"
    MISINFORMATION = "misinformation"
    """Incorrect information about us."""
    THREAT = "threat"
    """Threats and abuse."""
    OTHER = "other"


@dataclass(frozen=True)
class Classification:
    """One mention's labels; each `*_evidence` lists the words or facts that decided the label."""

    language: str
    """"nl", "en", or "other" (Flemish is "nl")."""
    intent: Intent
    sentiment: float
    """-1 (very negative) .. 1 (very positive)."""
    threat: bool
    topics: tuple[str, ...] = ()
    language_evidence: tuple[str, ...] = ()
    intent_evidence: tuple[str, ...] = ()
    sentiment_evidence: tuple[str, ...] = ()
    threat_evidence: tuple[str, ...] = ()
    topic_evidence: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Classifier(Protocol):
    """Anything that labels a text: the shipped rules, or an organisation's own model later.

    Pure and fast: no network, no database, nothing downloaded at run time.
    """

    version: str

    def classify(self, text: str, *, lang_hint: str | None = None) -> Classification:
        """Label one text."""
        ...
