"""The tone check on a draft reply: warnings (code + evidence) the agent reads, and may override.

Decisions (DOMAIN.md, "don't say sorry too quickly"):
- An apology is only warned on a complaint: there it admits a fault that is not established. On a
  question or a compliment "sorry" is politeness.
- Empathy that uses an apology word is not an apology: "het spijt me dat u zich zo voelt", "sorry to
  hear that", "sorry om dat te horen" regret the feeling, not a fault (lexicons/tone.yaml, `empathy`).
  "Sorry voor het ongemak" and "sorry dat je zo lang moest wachten" do admit one, and are warned.
- Defensive phrasing and blaming a colleague are warned on every intent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.craft.lexicon import CraftLexicon, load_lexicon
from bot.craft.text import sentences, tokens, without_names
from bot.triage.normalise import fold


class ToneCode(StrEnum):
    APOLOGY = "apology"
    DEFENSIVE = "defensive"
    TOO_LONG = "too_long"
    DUPLICATE = "duplicate"
    NO_ADDRESSEE = "no_addressee"


ALL_CHECKS = frozenset(ToneCode)


@dataclass(frozen=True)
class ToneWarning:
    """One thing the agent should read before sending; `evidence` quotes the draft."""

    code: ToneCode
    evidence: tuple[str, ...] = ()
    length: int | None = None
    limit: int | None = None
    at: datetime | None = None
    """Duplicate: when the same wording went to someone else."""

    def as_json(self) -> dict[str, Any]:
        """The stored form (audit of overridden warnings)."""
        out: dict[str, Any] = {"code": self.code.value, "evidence": list(self.evidence)}
        if self.length is not None:
            out |= {"length": self.length, "limit": self.limit}
        if self.at is not None:
            out["at"] = self.at.isoformat()
        return out


@dataclass(frozen=True)
class ToneContext:
    """What the check knows about the mention being answered (filled in by the service)."""

    complaint: bool = False
    names: tuple[str, ...] = ()
    """The addressee's first name, full name and handle (without @); empty: no addressee check."""
    soft_limit: int | None = None
    duplicate_at: datetime | None = None
    checks: frozenset[str] = field(default_factory=lambda: frozenset(c.value for c in ALL_CHECKS))


def check_tone(draft: str, ctx: ToneContext, lexicon: CraftLexicon | None = None) -> list[ToneWarning]:
    """Warnings for `draft`, in a fixed order (apology, defensive, too long, duplicate, no addressee)."""
    lex = lexicon or load_lexicon()
    apologies: list[str] = []
    defensive: list[str] = []
    for sentence in sentences(draft):
        hits = lex.scan(tokens(sentence))
        empathy = [(h[0], h[1]) for h in hits.get("empathy", ())]
        apologies += [h[2] for h in hits.get("apology", ())
                      if not any(s < h[1] and h[0] < e for s, e in empathy)]
        defensive += [h[2] for h in hits.get("defensive", ())]
    out: list[ToneWarning] = []
    if ctx.complaint and apologies and ToneCode.APOLOGY in ctx.checks:
        out.append(ToneWarning(ToneCode.APOLOGY, _unique(apologies)))
    if defensive and ToneCode.DEFENSIVE in ctx.checks:
        out.append(ToneWarning(ToneCode.DEFENSIVE, _unique(defensive)))
    length = len(draft)
    if ctx.soft_limit is not None and length > ctx.soft_limit and ToneCode.TOO_LONG in ctx.checks:
        out.append(ToneWarning(ToneCode.TOO_LONG, length=length, limit=ctx.soft_limit))
    if ctx.duplicate_at is not None and ToneCode.DUPLICATE in ctx.checks:
        out.append(ToneWarning(ToneCode.DUPLICATE, at=ctx.duplicate_at))
    if ctx.names and ToneCode.NO_ADDRESSEE in ctx.checks and not addressed(draft, ctx.names):
        out.append(ToneWarning(ToneCode.NO_ADDRESSEE, evidence=(ctx.names[0],)))
    return out


def addressed(draft: str, names: tuple[str, ...]) -> bool:
    """Whether `draft` names the addressee (first name, full name or handle, accents ignored)."""
    folded = fold(draft)
    return without_names(folded, [fold(n) for n in names]) != folded


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))[:5]
