"""How reply texts are compared: folded words without punctuation and without the addressee's name."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from difflib import SequenceMatcher

from bot.triage.normalise import TOKEN_RE, fold

_URL_RE = re.compile(r"https?://\S+")
_SENTENCE_RE = re.compile(r"(?<=[.!?\n])\s+|\n+")
_PLACEHOLDER = "{name}"


def words(text: str) -> list[str]:
    """The folded words of `text` (punctuation and emoticons dropped, URLs kept whole)."""
    urls = _URL_RE.findall(text)
    toks = [t for t in TOKEN_RE.findall(fold(_URL_RE.sub(" ", text))) if t[0].isalnum() or t[0] == "'"]
    return toks + urls


def tokens(text: str) -> list[str]:
    """The folded tokens of `text` as the phrase matcher wants them (punctuation kept)."""
    return TOKEN_RE.findall(fold(_URL_RE.sub(" ", text)))


def sentences(text: str) -> list[str]:
    """`text` cut into sentences (a promise and its due time belong to one sentence)."""
    return [s for s in _SENTENCE_RE.split(text) if s.strip()]


def without_names(text: str, names: Iterable[str]) -> str:
    """`text` without the addressee's name, handle and the `{name}` placeholder."""
    out = text.replace(_PLACEHOLDER, " ")
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        out = re.sub(rf"(?<!\w)@?{re.escape(name)}(?!\w)", " ", out, flags=re.IGNORECASE)
    return out


def normalised(text: str, names: Iterable[str] = ()) -> str:
    """The comparable form of a reply: folded words, no punctuation, no addressee."""
    return " ".join(words(without_names(text, names)))


def text_hash(text: str, names: Iterable[str] = ()) -> str:
    """A fingerprint of a reply's wording, equal for "Hoi Jan, ..." and "Hoi Piet, ..."."""
    return hashlib.sha256(normalised(text, names).encode()).hexdigest()


def similarity(a: str, b: str) -> float:
    """0..1: how much of the wording two normalised texts share (word by word)."""
    x, y = a.split(), b.split()
    if not x or not y:
        return 0.0
    return SequenceMatcher(None, x, y, autojunk=False).ratio()
