"""The reply-craft lexicon (lexicons/tone.yaml, versioned, shipped with the package), compiled once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bot.triage.lexicon import Hit, LexiconError, Matcher, check
from bot.triage.normalise import fold

LEXICON = Path(__file__).resolve().parent / "lexicons" / "tone.yaml"
CATEGORIES = ("apology", "empathy", "defensive", "promise")
LANGUAGES = ("nl", "en")


@dataclass(frozen=True)
class DueWords:
    """Words that say when a promise is due."""

    days: dict[str, int]
    weekdays: dict[str, int]
    span_words: frozenset[str]
    numbers: dict[str, float]
    units: dict[str, int]


@dataclass(frozen=True)
class CraftLexicon:
    """Compiled phrase lists (category -> phrases, each tagged with its language) and due words."""

    version: str
    matcher: Matcher
    due: DueWords

    def scan(self, toks: list[str]) -> dict[str, list[Hit]]:
        """Hits per category in one sentence's tokens; a hit's value is the phrase's language."""
        return self.matcher.scan(toks)


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise LexiconError(f"{LEXICON.name}: `{name}:` must be a mapping")
    return value


@cache
def load_lexicon(path: Path = LEXICON) -> CraftLexicon:
    """Read and compile the lexicon (once per path)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "version" not in data:
        raise LexiconError(f"{path}: a mapping with a `version:` key is required")
    check(data)
    matcher = Matcher()
    for category in CATEGORIES:
        for language, entries in _section(data, category).items():
            if language not in LANGUAGES:
                raise LexiconError(f"{path.name}: {category}.{language}: unknown language")
            for entry in entries:
                matcher.add(category, str(entry), str(language), {})
    due = _section(data, "due")
    words = DueWords(
        days={fold(k): int(v) for k, v in due["days"].items()},
        weekdays={fold(k): int(v) for k, v in due["weekdays"].items()},
        span_words=frozenset(fold(w) for w in due["span_words"]),
        numbers={fold(k): float(v) for k, v in due["numbers"].items()},
        units={fold(k): int(v) for k, v in due["units"].items()},
    )
    return CraftLexicon(version=f"tone/{data['version']}", matcher=matcher, due=words)
