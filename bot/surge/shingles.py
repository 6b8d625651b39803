"""Text to shingles for near-duplicate clustering of social posts (Dutch and English).

`normalise` lowercases, strips accents, drops URLs, @handles, emoji and punctuation, squeezes
stretched letters ("neeeee" -> "nee", "boooos" -> "boos") and writes every number as ``0`` (order
numbers and years differ between copies of one message). `shingles` gives word 3-shingles, plus
character 4-grams for texts of social-post length (under 40 words): one typo or one added word changes
most of a ten-word post's word 3-shingles but few of its 4-grams (bench/cluster.py: with word
3-shingles alone a 20-template storm split into ~1,100 clusters, with 4-grams added into ~130).
"""

from __future__ import annotations

import re
import unicodedata

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_HANDLE_RE = re.compile(r"(?<![\w@])@\w+")
_MARK_RE = re.compile(r"[\u0300-\u036f]")
_STRETCH_RE = re.compile(r"(\D)\1{2,}")
_DIGITS_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"[^\W_]+")
_LETTERS = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "æ": "ae", "ß": "ss", "œ": "oe", "\u2019": "'"})

_STOPWORDS_TEXT = """
de het een en van in op te dat die is niet je jij jullie u uw ik we wij ze zij hij mijn me met voor
aan er maar om als bij ook nog wel al dan zo naar heb hebt heeft had was zijn wordt worden door dit
deze over uit of wat hoe wie waar nu toch echt gewoon even geen meer veel maak the a an and or of to
in on at is are was were be been it this that you your i me my we our they them he she his her for
with not no so do does did have has had just but from as by all
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())


def normalise(text: str) -> list[str]:
    """The words of a post as compared for near-duplicates (empty for emoji- or link-only posts)."""
    text = _HANDLE_RE.sub(" ", _URL_RE.sub(" ", text))
    text = _STRETCH_RE.sub(r"\1\1", unicodedata.normalize("NFC", text.lower()))  # before "ideeën" -> "ideeen"
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    text = _DIGITS_RE.sub("0", _MARK_RE.sub("", text).replace("'", ""))
    return _WORD_RE.findall(text)


def shingles(words: list[str], *, short: int = 40, chars: int = 4) -> set[str]:
    """Word 3-shingles; texts under `short` words add character `chars`-grams of their words."""
    if not words:
        return set()
    out = {" ".join(words[i:i + 3]) for i in range(max(len(words) - 2, 1))}
    if len(words) < short:
        joined = f" {' '.join(words)} "
        if len(joined) <= chars:
            out.add("#" + joined)
        else:
            out.update("#" + joined[i:i + chars] for i in range(len(joined) - chars + 1))
    return out


def content_words(words: list[str]) -> list[str]:
    """The words worth showing on a cluster card: no stopwords, no numbers, at least 3 letters."""
    return [w for w in words if len(w) >= 3 and w not in STOPWORDS and not w.isdigit()]


__all__ = ["STOPWORDS", "content_words", "normalise", "shingles"]
