"""The answer library: approved wordings per topic, suggested for a mention, rotated between people.

"Vary the wording: prepared answers per topic, but never the same sentence to everyone" (DOMAIN.md).
A wording (variant) sent to one person is suggested last to anyone else within `answers.rotation`;
a variant's key is a fingerprint of its topic and wording, so editing a wording makes a new variant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.craft.lexicon import CraftLexicon, load_lexicon
from bot.craft.text import normalised, similarity
from bot.settings import Answers, AnswerSet, AppConfig

MATCH_THRESHOLD = 0.8
"""A reply counts as a use of a variant when it shares this much of its wording (agents personalise)."""
_PLACEHOLDER_RE = re.compile(r"\s*\{name\}")


@dataclass(frozen=True)
class Variant:
    """One approved wording."""

    key: str
    topic: str
    owner: str
    language: str | None
    text: str
    """As written in app.yaml, possibly with `{name}`."""


@dataclass(frozen=True)
class Suggestion:
    """A variant as the Reply modal offers it to one agent for one mention."""

    key: str
    topic: str
    owner: str
    text: str
    """With the addressee filled in."""
    recent_at: datetime | None = None
    """When this wording last went to someone else within the rotation period (None: fresh)."""


def variant_key(topic: str, text: str) -> str:
    """A stable key for a wording of a topic."""
    return hashlib.sha256(f"{topic}\n{normalised(text)}".encode()).hexdigest()[:16]


def fill(template: str, name: str | None) -> str:
    """The wording with the addressee's name in place of `{name}` (or without it)."""
    if name:
        return template.replace("{name}", name)
    out = _PLACEHOLDER_RE.sub("", template)
    return re.sub(r"^[\s,]+", "", re.sub(r"\s+([,.!?])", r"\1", out))


class Library:
    """Every approved variant, by key and by topic."""

    def __init__(self, sets: Sequence[AnswerSet]) -> None:
        self._by_key: dict[str, Variant] = {}
        self._by_topic: dict[str, list[Variant]] = {}
        for s in sets:
            for text in s.variants:
                v = Variant(variant_key(s.topic, text), s.topic, s.owner, s.language, text)
                self._by_key.setdefault(v.key, v)
                self._by_topic.setdefault(s.topic, []).append(v)

    @property
    def topics(self) -> frozenset[str]:
        """Topics with answers."""
        return frozenset(self._by_topic)

    def get(self, key: str) -> Variant | None:
        """The variant with `key` (None if app.yaml no longer has it)."""
        return self._by_key.get(key)

    def candidates(self, topics: Iterable[str], language: str | None) -> list[Variant]:
        """Variants for the mention's topics (in their order) that fit its language."""
        out: list[Variant] = []
        for topic in dict.fromkeys(topics):
            for v in self._by_topic.get(topic, ()):
                if language in ("nl", "en") and v.language not in (None, language):
                    continue
                out.append(v)
        return out

    def match(self, text: str, topics: Iterable[str], names: Iterable[str]) -> Variant | None:
        """The variant a reply is based on, if it kept most of its wording (else None)."""
        names = list(names)
        draft = normalised(text, names)
        best: tuple[float, Variant] | None = None
        for v in self.candidates(topics, None):
            score = similarity(draft, normalised(v.text))
            if score >= MATCH_THRESHOLD and (best is None or score > best[0]):
                best = (score, v)
        return best[1] if best else None


def rank(candidates: Sequence[Variant], recent: Mapping[str, datetime], *, name: str | None,
         limit: int) -> list[Suggestion]:
    """Fresh variants first (in app.yaml's order), then those recently sent to others, oldest use first."""
    fresh = [v for v in candidates if v.key not in recent]
    used = sorted((v for v in candidates if v.key in recent), key=lambda v: recent[v.key])
    return [Suggestion(v.key, v.topic, v.owner, fill(v.text, name), recent.get(v.key))
            for v in (fresh + used)[:limit]]


@dataclass(frozen=True)
class Craft:
    """Everything reply craft needs at run time: settings, the library and the compiled lexicon."""

    config: Answers
    library: Library
    lexicon: CraftLexicon
    tz: ZoneInfo
    default_due: timedelta
    """`promises.default_due`: when a promise without a due time is due."""

    def soft_limit(self, source: str) -> int | None:
        """The length above which a reply to `source` gets a warning."""
        return self.config.length.get(source, self.config.length.get("default"))


def build_craft(config: AppConfig) -> Craft:
    """Compile the answer library and the lexicon from the validated app.yaml."""
    return Craft(config.answers, Library(config.answers.library), load_lexicon(), config.tz,
                 config.promises.default_due)
