"""The response policy and sensitivity: should we answer, how urgently, and who must approve.

The default is the Oxfam Novib checklist (DOMAIN.md): in our own house always respond to questions,
complaints, compliments and suggestions; elsewhere respond to unrest, to authorities and to
(repeated) incorrect information about us, and skip the rest; never join on topics we do not speak
on or in venues where joining never helps. Every decision lists its reasons as codes with
parameters, so the card, the CLI and later reports can say why in the reader's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlparse

from bot.settings import Triage as TriageConfig
from bot.triage.model import Classification, Intent

DEFAULT_LEGAL = ("advocaat", "rechtszaak", "rechter", "aangifte", "juridisch", "dagvaarding",
                 "ingebrekestelling", "letselschade", "consumentenbond", "geschillencommissie",
                 "acm", "lawyer", "lawsuit", "sue ", "legal action", "attorney", "court")
UNREST_SENTIMENT = -0.4


class Decision(StrEnum):
    RESPOND = "respond"
    CONSIDER = "consider"
    SKIP = "skip"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


@dataclass(frozen=True)
class Reason:
    """Why: a catalog code (`reason.<code>`) and its parameters."""

    code: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """What the policy knows besides the text."""

    venue: str
    source: str
    url: str | None = None
    author_handle: str | None = None
    followers: int | None = None
    verified: bool = False
    repeated_misinformation: bool = False
    crisis: bool = False


@dataclass(frozen=True)
class Verdict:
    """The policy's outcome for one mention."""

    decision: Decision
    priority: Priority
    needs_approval: bool
    reasons: tuple[Reason, ...]
    approval_reasons: tuple[Reason, ...] = ()


class Policy:
    """Decide respond / consider / skip, a priority, and whether a reply needs approval."""

    def __init__(self, config: TriageConfig) -> None:
        self.cfg = config
        self._silent = {t.lower() for t in config.silent_topics}
        self._sensitive = {t.lower() for t in config.sensitive_topics}
        self._authorities = {a.lower().lstrip("@") for a in config.authorities}
        self._no_go = {v.lower() for v in config.no_go_venues}
        legal = [w.lower() for w in (*DEFAULT_LEGAL, *config.legal_words)]
        self._legal = re.compile("|".join(re.escape(w) for w in legal)) if legal else None

    def authority(self, facts: Facts) -> Reason | None:
        """Whether the author carries weight in the discussion (press, VIP, reach)."""
        handle = (facts.author_handle or "").lower().lstrip("@")
        if handle and handle in self._authorities:
            return Reason("authority_listed", {"author": handle})
        if facts.followers is not None and facts.followers >= self.cfg.authority_followers:
            return Reason("authority_reach", {"followers": str(facts.followers)})
        if facts.verified:
            return Reason("authority_verified")
        return None

    def decide(self, c: Classification, facts: Facts, *, text: str = "") -> Verdict:
        """The verdict for one classified mention."""
        reasons: list[Reason] = []
        authority = self.authority(facts)
        own = facts.venue == "own"
        silent = sorted(set(c.topics) & self._silent)
        venue = self._venue(facts)

        if c.threat:
            decision = Decision.CONSIDER
            reasons.append(Reason("threat", {"words": ", ".join(c.threat_evidence[:3])}))
        elif silent:
            decision = Decision.SKIP
            reasons.append(Reason("silent_topic", {"topic": silent[0]}))
        elif venue:
            decision = Decision.SKIP
            reasons.append(Reason("no_go_venue", {"venue": venue}))
        elif own:
            if c.intent in (Intent.QUESTION, Intent.COMPLAINT, Intent.COMPLIMENT, Intent.SUGGESTION,
                            Intent.MISINFORMATION):
                decision = Decision.RESPOND
                reasons.append(Reason("own_house", {"intent": c.intent.value}))
            elif c.intent is Intent.THREAT:
                decision = Decision.CONSIDER
                reasons.append(Reason("abuse"))
            else:
                decision = Decision.CONSIDER
                reasons.append(Reason("own_other"))
        else:
            decision, why = self._third_party(c, facts, authority)
            reasons.extend(why)
        if authority is not None and authority not in reasons:
            reasons.append(authority)

        priority = self._priority(c, decision, authority)
        approval = self._approval(c, facts, authority, text)
        return Verdict(decision=decision, priority=priority, needs_approval=bool(approval),
                       reasons=tuple(reasons), approval_reasons=tuple(approval))

    def _venue(self, facts: Facts) -> str | None:
        if not self._no_go:
            return None
        host = urlparse(facts.url).hostname if facts.url else None
        for candidate in (facts.source.lower(), (host or "").lower()):
            if candidate and any(candidate == v or candidate.endswith("." + v) for v in self._no_go):
                return candidate
        return None

    def _third_party(self, c: Classification, facts: Facts,
                     authority: Reason | None) -> tuple[Decision, list[Reason]]:
        if c.intent is Intent.MISINFORMATION:
            if facts.repeated_misinformation:
                return Decision.RESPOND, [Reason("misinformation_repeated")]
            return Decision.CONSIDER, [Reason("misinformation")]
        if authority is not None:
            return Decision.RESPOND, [Reason("third_party_authority")]
        if c.intent is Intent.COMPLAINT and c.sentiment <= UNREST_SENTIMENT:
            return Decision.RESPOND, [Reason("unrest", {"sentiment": f"{c.sentiment:+.1f}"})]
        if c.intent is Intent.QUESTION:
            return Decision.CONSIDER, [Reason("third_party_question")]
        return Decision.SKIP, [Reason("third_party_quiet", {"intent": c.intent.value})]

    @staticmethod
    def _priority(c: Classification, decision: Decision, authority: Reason | None) -> Priority:
        if c.threat:
            return Priority.URGENT
        if decision is Decision.SKIP:
            return Priority.LOW
        if authority is not None or (c.intent is Intent.COMPLAINT and c.sentiment <= -0.5):
            return Priority.HIGH
        if c.intent in (Intent.QUESTION, Intent.COMPLAINT, Intent.MISINFORMATION):
            return Priority.NORMAL
        return Priority.LOW

    def _approval(self, c: Classification, facts: Facts, authority: Reason | None,
                  text: str) -> list[Reason]:
        why: list[Reason] = []
        sensitive = sorted(set(c.topics) & self._sensitive)
        if sensitive:
            why.append(Reason("sensitive_topic", {"topic": sensitive[0]}))
        if authority is not None:
            why.append(Reason("approval_authority"))
        if c.threat or c.intent is Intent.THREAT:
            why.append(Reason("approval_threat"))
        if self._legal is not None and text:
            found = self._legal.search(text.lower())
            if found:
                why.append(Reason("legal", {"word": found.group(0).strip()}))
        if facts.crisis:
            why.append(Reason("crisis"))
        return why
