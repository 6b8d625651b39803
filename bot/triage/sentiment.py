"""Sentiment from weighted words: negation, intensifiers, contrast, sarcasm and exclamation marks.

Each matched word or phrase adds its weight (sentiment.yaml); a complaint cue that is not a
sentiment word adds `complaint_weight`. The sum is squashed into -1..1 by s / sqrt(s*s + 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.triage.lexicon import Hit

_BREAKS = frozenset({".", "?", "!", ",", ";", ":"})
_OWN = {"en": "s.en", "nl": "s.nl"}
_NONE: dict[int, float] = {}
_OPENER = 6
"""Praise before a comma or full stop within this many words, followed only by problems, is ironic."""


@dataclass(frozen=True, slots=True)
class SentimentRules:
    """The scalar settings of sentiment.yaml."""

    negation_window: int
    negation_factor: float
    before_contrast: float
    after_contrast: float
    exclamation: float
    sarcasm_window: int
    complaint_weight: float

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> SentimentRules:
        """Read the settings, with the shipped defaults for any that are missing."""
        return cls(
            negation_window=int(data.get("negation_window", 3)),
            negation_factor=float(data.get("negation_factor", -0.7)),
            before_contrast=float(data.get("before_contrast", 0.5)),
            after_contrast=float(data.get("after_contrast", 1.5)),
            exclamation=float(data.get("exclamation", 0.12)),
            sarcasm_window=int((data.get("sarcasm") or {}).get("window", 2)),
            complaint_weight=float(data.get("complaint_weight", -0.3)),
        )


def score(
    toks: Sequence[str], hits: Mapping[str, list[Hit]], rules: SentimentRules, exclamations: int, language: str
) -> tuple[float, list[str], bool]:
    """Return (score in -1..1, evidence, mixed): evidence lists each word with its signed weight.

    Words of one language only (`words_en`: "kind"; `words_nl`) count when the text is in it (or other).
    """
    mixed = hits.get("s.mixed")
    if mixed:
        return 0.0, [f"mixed: {mixed[0][2]}"], True
    words: Sequence[Hit] = hits.get("s.word") or ()
    if language == "other":
        own: Sequence[Hit] = [*(hits.get("s.en") or ()), *(hits.get("s.nl") or ())]
    else:
        own = hits.get(_OWN[language]) or ()
    if own:
        words = sorted([*words, *own])
    complaints = hits.get("complaint") or ()
    if not words and not complaints:
        return 0.0, [], False
    raw_intens = hits.get("s.int") or ()
    intens = {h[1]: h[3] for h in raw_intens} if raw_intens else _NONE  # end of the intensifier -> factor
    negs = hits.get("s.neg")
    if negs and raw_intens:  # "nog nooit zo goed" intensifies; its "nooit" negates nothing
        negs = [n for n in negs if not any(i[0] <= n[0] < i[1] for i in raw_intens)]
    contrast = hits.get("s.contrast")
    pivot = contrast[-1][0] if contrast else -1

    items: list[list[Any]] = []  # [start, weight, label], in text order
    for start, end, text, weight in words:
        w = weight
        if not w:
            continue  # a neutral phrase: it only keeps the words inside it from counting
        if start in intens:  # "erg goed"; "heel erg goed" counts both
            w *= min(intens[start] * intens.get(start - 1, 1.0), 2.0)
        label = text
        if negs:
            for _, nend, ntext, _ in negs:
                if start - rules.negation_window <= nend <= start and not _BREAKS.intersection(
                    toks[nend:start]
                ):
                    if not _is_emoji(text):
                        w *= rules.negation_factor
                        label = f"{ntext} {text}"
                    break
        if pivot >= 0:
            if end <= pivot:
                w *= rules.before_contrast
            elif start > pivot:
                w *= rules.after_contrast
        items.append([start, w, label])
    if complaints:
        covered = {i for start, end, _, _ in words for i in range(start, end)}
        for start, end, text, _ in complaints:
            if covered.isdisjoint(range(start, end)):
                items.append([start, rules.complaint_weight, text])

    positive = [it for it in items if it[1] > 0]
    if positive and len(positive) < len(items):  # negative context: look for sarcasm
        irony = [h[0] for h in hits.get("s.irony") or ()]
        repeated = "s.rep" in hits
        opener = 0
        if pivot < 0:  # "Wow, amazing service, 45 mins on hold ..." (not "..., maar ...": that is mixed)
            cut = max((i for i, t in enumerate(toks[:_OPENER]) if t in _BREAKS), default=-1)
            # praise in a short exclaimed opening, and after it only problems (an emoji aside): irony
            if cut > 0 and not any(it[1] > 0 and it[2].isascii() for it in items if it[0] > cut):
                opener = cut
        for it in positive:
            if repeated or any(0 < abs(p - it[0]) <= rules.sarcasm_window for p in irony) or it[0] < opener:
                it[1] = -it[1]
                it[2] = f"sarcasm: {it[2]}"

    raw = sum(it[1] for it in items)
    if exclamations and raw:
        raw *= 1.0 + rules.exclamation * min(exclamations, 3)
    value = raw / math.sqrt(raw * raw + 1.0)
    evidence = [f"{label} {w:+.1f}" for _, w, label in items[:6]]
    return max(-1.0, min(1.0, value)), evidence, False


def _is_emoji(text: str) -> bool:
    """Whether a matched word is an emoji (negation does not reach emoji: "zonder bon 👏")."""
    return not text[0].isascii()
