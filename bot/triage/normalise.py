"""Text to matching tokens: lowercase, accents stripped, URLs and @handles dropped, emoji kept as tokens.

Odd spellings are repaired per token, and only towards a word the lexicons know: stretched letters
("heeeel" -> "heel", "kiiiill" -> "kill"), leetspeak ("k1ll" -> "kill", "d00d" -> "dood") and listed
typos ("vermoort" -> "vermoord"). Repairs are cached per token, so a busy stream pays for each odd
spelling once. Matching only: evidence quotes these tokens, the original text is never changed.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Mapping

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_HANDLE_RE = re.compile(r"(?<![\w@])@\w+")
_MARK_RE = re.compile(r"[\u0300-\u036f]")
_EMOJI_CLASS = (
    "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u2190-\u21ff\u3297\u3299\u00a9\u00ae"
)
_INVISIBLE_RE = re.compile("[\ufe0e\ufe0f\u200d\u20e3\U0001f3fb-\U0001f3ff]")
_NON_ASCII = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u00b4": "'",
        "ı": "i",
        "ł": "l",
        "ø": "o",
        "æ": "ae",
        "ß": "ss",
        "đ": "d",
        "œ": "oe",
        "ð": "d",
    }
)
TOKEN_RE = re.compile(
    r"[a-z0-9]+(?:[*'@$][a-z0-9]+)*"  # words, incl. don't, m'n, f*ck, sh@t
    r"|'[a-z]\b"  # 't, 'k, 's
    r"|[:;=]-?[()dp/|]|<3"  # emoticons (URLs are gone before this runs)
    r"|[?!.]+|[,;:]"  # sentence and clause punctuation
    rf"|[{_EMOJI_CLASS}]"  # one emoji per token
)
_RUN_RE = re.compile(r"([a-z])\1{2,}")
_SPACED_RE = re.compile(r"(?<!\S)(?:\S {1,2}){3,}\S(?!\S)")
"""Four or more single characters with one or two spaces between them ("i k  s l a  j e  d o o d")."""
_WORD_GAP_RE = re.compile(r" {2,}")
_DOTTED_RE = re.compile(r"(?<![\w.])(?:[a-zA-Z][.\-_*]){2,}[a-zA-Z](?![\w])")
"""Three or more letters joined by dots, dashes or stars ("k.i.l.l", "d-o-o-d")."""
_SEPARATORS_RE = re.compile(r"[.\-_*]")
_INNER_LEET_RE = re.compile(r"(?<=[a-z])[!|](?=[a-z])")
"""'!' and '|' inside a word stand for i and l ("k!ll", "ki|l")."""
FUZZY_MIN = 6
"""Unknown words of at least this length are repaired towards a `fuzzy` word one insertion, deletion or
swap of two neighbouring letters away ("vermoodren", "mederwerker"), never in the first letter; a
changed letter only from
FUZZY_SUBSTITUTE letters on ("vermoprden"), so that short words ("vogel") never become others ("kogel")."""
FUZZY_SUBSTITUTE = 8
_SCARE_RE = re.compile(r"""^['"\u2018\u201c][a-z]+['"\u2019\u201d][.,!?]*$""")
SCARE_QUOTE = "scarequote"
"""The token put before a single word in quotes ('delivered', "service"): the lexicons treat it as a cue."""
_EMOTICONS = {
    ":)": "🙂",
    ":-)": "🙂",
    "=)": "🙂",
    ";)": "😉",
    ";-)": "😉",
    ":d": "😀",
    ":-d": "😀",
    ":(": "🙁",
    ":-(": "🙁",
    "=(": "🙁",
    ":/": "😕",
    ":-/": "😕",
    ":|": "😐",
    ":p": "😛",
    "<3": "❤",
}
_PUNCT = {"?", "!", ".", ",", ";", ":"}

MAX_CACHE = 200_000
"""Entries per cache (spellings, chunks): cleared when full, so memory stays bounded in a long run."""
MAX_CACHED_CHUNK = 64
"""Longer pieces of text (a pasted URL, a line of garbage) are tokenised every time, not cached."""


def _fold(text: str) -> str:
    """Lowercase, strip accents (é -> e, ë -> e), unify apostrophes."""
    text = text.lower()
    if text.isascii():
        return text.replace("`", "'") if "`" in text else text
    return _MARK_RE.sub("", unicodedata.normalize("NFKD", text.translate(_NON_ASCII)))


def fold(text: str) -> str:
    """Fold one lexicon entry the way texts are folded (lowercase, no accents, no invisible marks)."""
    return _INVISIBLE_RE.sub("", _fold(text)).strip()


def _despace(match: re.Match[str]) -> str:
    return " ".join(part.replace(" ", "") for part in _WORD_GAP_RE.split(match.group(0)))


def _undot(match: re.Match[str]) -> str:
    return _SEPARATORS_RE.sub("", match.group(0))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


class Normaliser:
    """Turns a text into tokens; `known` says which repaired spellings are worth keeping."""

    def __init__(
        self,
        known: Callable[[str], bool],
        leet: Mapping[str, str],
        typos: Mapping[str, str],
        fuzzy: frozenset[str] = frozenset(),
    ) -> None:
        self._known = known
        # for one-edit repairs: each fuzzy word, and each of its forms with one letter deleted
        self._fuzzy = frozenset(w for w in fuzzy if len(w) >= FUZZY_MIN - 1 and w.isalpha())
        self._fuzzy_deleted: dict[str, str] = {}
        for word in sorted(self._fuzzy):
            for form in _deletions(word):
                self._fuzzy_deleted.setdefault(form, word)
        self._leet = {k: tuple(v) if isinstance(v, list | tuple) else (v,) for k, v in leet.items()}
        self._leet_re = re.compile("[" + re.escape("".join(self._leet)) + "]") if self._leet else None
        self._typos = {k: " ".join(str(v).split()) for k, v in typos.items()}
        self._words: dict[str, str] = {}
        self._chunks: dict[str, str] = {}

    def tokens(self, text: str) -> list[str]:
        """Return the matching tokens of `text` (punctuation runs become "?", "!" or "." tokens).

        Letters spelled out with spaces are joined first: one space joins, two or more separate words
        ("k i l l  t h e  m a n a g e r" -> "kill the manager")."""
        text = _SPACED_RE.sub(_despace, text)
        if "." in text or "-" in text or "_" in text or "*" in text:
            text = _DOTTED_RE.sub(_undot, text)
        chunks = text.split()
        known = list(map(self._chunks.get, chunks))
        parts: list[str] = (
            [
                part if part is not None else self._chunk(chunk)
                for chunk, part in zip(chunks, known, strict=True)
            ]
            if None in known
            else known  # type: ignore[assignment]  # no None in it
        )
        return " ".join(parts).split()

    def _chunk(self, chunk: str) -> str:
        """Tokens of one whitespace-separated piece of text, joined by spaces (cached, except links and
        long pieces)."""
        if chunk.startswith(("http://", "https://", "www.")) and "@" not in chunk:
            return "httpurl"  # a link on its own: nearly always a new one, not worth a cache entry
        piece = _fold(chunk)
        if "!" in piece or "|" in piece:
            piece = _INNER_LEET_RE.sub(lambda m: "i" if m.group(0) == "!" else "l", piece)
        if not piece.isascii():
            piece = _INVISIBLE_RE.sub("", piece)
        volatile = False
        if "http" in piece or "www." in piece:
            piece, n = _URL_RE.subn(" httpurl ", piece)
            volatile = n > 0
        if "@" in piece:
            piece = _HANDLE_RE.sub(" ", piece)  # handles: "@webcare" comes back often, so it is cached
        out: list[str] = [SCARE_QUOTE] if _SCARE_RE.match(piece) else []
        for raw in TOKEN_RE.findall(piece):
            word = self._words.get(raw)
            if word is None:
                word = self._repair(raw)
                if len(raw) <= MAX_CACHED_CHUNK:
                    if len(self._words) >= MAX_CACHE:
                        self._words.clear()
                    self._words[raw] = word
            out.append(word)
        tokens = " ".join(out)
        if not volatile and len(chunk) <= MAX_CACHED_CHUNK:
            if len(self._chunks) >= MAX_CACHE:
                self._chunks.clear()
            self._chunks[chunk] = tokens
        return tokens

    def _repair(self, tok: str) -> str:
        first = tok[0]
        if first in "?!.":
            return "?" if "?" in tok else ("!" if "!" in tok else ".")
        if tok in _PUNCT:
            return tok
        if tok in _EMOTICONS:
            return _EMOTICONS[tok]
        if tok in self._typos:
            return self._typos[tok]
        if self._known(tok):
            return tok
        for cand in self._candidates(tok):
            if cand in self._typos:
                return self._typos[cand]
            if self._known(cand):
                return cand
        if len(tok) >= FUZZY_MIN and self._fuzzy and tok.isalpha():
            fixed = self._one_edit(tok)
            if fixed is not None:
                return fixed
        if _RUN_RE.search(tok):  # unknown word: still shorten stretched letters, for a stable form
            return _RUN_RE.sub(r"\1\1", tok)
        return tok

    def _one_edit(self, tok: str) -> str | None:
        """The fuzzy word one edit away from `tok` and with the same first letter, if there is one
        (typos rarely touch the first letter: "vervallen" stays, it does not become "overvallen")."""
        word = self._one_edit_any(tok)
        return word if word is not None and word[0] == tok[0] else None

    def _one_edit_any(self, tok: str) -> str | None:
        word = self._fuzzy_deleted.get(tok)  # a letter too few: "vermoorde" ... "medewrker"
        if word is not None:
            return word
        forms = _deletions(tok)
        for form in sorted(forms):  # a letter too many: "mederwerker"
            if form in self._fuzzy:
                return form
        for i in range(len(tok) - 1):  # two letters swapped: "vermoodren"
            swapped = tok[:i] + tok[i + 1] + tok[i] + tok[i + 2 :]
            if swapped in self._fuzzy:
                return swapped
        if len(tok) >= FUZZY_SUBSTITUTE:  # one letter changed: both lose the same letter
            for form in sorted(forms):
                word = self._fuzzy_deleted.get(form)
                if word is not None and len(word) == len(tok):
                    return word
        return None

    def _candidates(self, tok: str) -> list[str]:
        """Spellings `tok` may stand for: leetspeak decoded, stretched letters shortened, '*' guessed."""
        forms = [tok]
        if self._leet_re is not None and self._leet_re.search(tok) and not tok.isdigit():
            options = [self._leet.get(ch, (ch,)) for ch in tok]
            if sum(len(o) > 1 for o in options) <= 4:
                forms = ["".join(p) for p in itertools.product(*options)]
        out: list[str] = []
        for form in forms:
            runs = list(_RUN_RE.finditer(form))
            if runs and len(runs) <= 3:
                for lengths in itertools.product((2, 1), repeat=len(runs)):
                    pieces, pos = [], 0
                    for run, n in zip(runs, lengths, strict=True):
                        pieces.append(form[pos : run.start()] + run.group(1) * n)
                        pos = run.end()
                    out.append("".join(pieces) + form[pos:])
            elif form != tok:
                out.append(form)
        return out
