"""Language by function words (language.yaml): nl (Flemish included), en, or other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.triage.normalise import fold

LANGUAGES = ("nl", "en")
_BITS = 24
_MASK = (1 << _BITS) - 1


def _half(weight: float) -> int:
    return round(weight * 2)


class LanguageScorer:
    """Adds up the weights of the function words of each language; the highest score wins."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        weights: dict[str, dict[str, float]] = {}  # word -> language -> weight
        self.flemish: frozenset[str] = frozenset(
            fold(str(w)) for words in (data.get("flemish") or {}).values() for w in words
        )
        for code, key in (("nl", "nl"), ("nl", "flemish"), ("en", "en")):
            for weight, words in (data.get(key) or {}).items():
                for word in (fold(str(w)) for w in words):
                    per = weights.setdefault(word, {})
                    per[code] = max(per.get(code, 0.0), float(weight))
        other_words: dict[str, frozenset[str]] = {}
        for code, words in (data.get("other") or {}).items():
            other_words[str(code)] = frozenset(fold(str(w)) for w in words)
            for word in other_words[str(code)]:
                weights.setdefault(word, {})[str(code)] = 1.0
        self.vocabulary = frozenset(weights)
        self._nl = {w: per["nl"] for w, per in weights.items() if per.get("nl")}
        self._en = {w: per["en"] for w, per in weights.items() if per.get("en")}
        self._other_words = other_words
        self._other_by_word = {
            w: tuple((c, x) for c, x in per.items() if c not in LANGUAGES)
            for w, per in weights.items()
            if any(c not in LANGUAGES for c in per)
        }
        # A word's nl weight, en weight and best other-language weight, in half points, packed into one
        # int (24 bits each), so one C-level sum over a text gives all three. The other-language sum
        # bounds any single other language from above; which one it is is worked out only when it wins.
        self._packed = {
            w: _half(self._nl.get(w, 0.0))
            | _half(self._en.get(w, 0.0)) << _BITS
            | _half(max((x for _, x in self._other_by_word.get(w, ())), default=0.0)) << 2 * _BITS
            for w in weights
        }

    def detect(self, toks: Sequence[str], hint: str | None) -> tuple[str, list[str]]:
        """Return ("nl" | "en" | "other", evidence); `hint` breaks a tie and decides when nothing scores."""
        packed = self._packed
        words = list(filter(packed.__contains__, toks))
        hint_code = hint.strip().lower()[:2] if hint else ""
        if not words:
            if hint_code in LANGUAGES:
                return hint_code, [f"hint: {hint_code}"]
            return "other", ["no nl or en words"]
        total = sum(map(packed.__getitem__, words))
        nl, en, other = (total & _MASK) / 2, (total >> _BITS & _MASK) / 2, (total >> 2 * _BITS) / 2
        best = max(nl, en, other)
        vocabulary: Mapping[str, float] | frozenset[str]
        if nl == best and (en < best or hint_code != "en"):
            code, vocabulary = "nl", self._nl
        elif en == best:
            code, vocabulary = "en", self._en
        else:
            per: dict[str, float] = {}
            for tok in words:
                for lang_code, weight in self._other_by_word.get(tok, ()):
                    per[lang_code] = per.get(lang_code, 0.0) + weight
            code = max(per, key=per.__getitem__)
            best, vocabulary = per[code], self._other_words[code]
        shown = ", ".join(dict.fromkeys(filter(vocabulary.__contains__, words)))
        evidence = [f"{code} {best:g}: {shown}"]
        if code == "nl" and not self.flemish.isdisjoint(words):
            evidence.append("flemish: " + ", ".join(dict.fromkeys(filter(self.flemish.__contains__, words))))
        return (code if code in LANGUAGES else "other"), evidence
