"""The versioned lexicons (bot/triage/lexicons/*.yaml), an organisation's additions, and the phrase matcher.

An entry is a word or a phrase, written as it is spoken. Inside an entry:
- `word*` matches any word that starts with `word` ("vermoord*": vermoord, vermoorden, vermoordt);
- `...` matches a gap of up to 4 words (`...8`: up to 8) inside one sentence ("weet waar ... woont");
- `@name` matches any entry of the class `name` from the same file's `classes:` ("vermoord* die @food").
Entries are folded like texts (lowercase, accents stripped), so "één" and "een" are the same entry.
Everything is compiled once; matching a text is one pass over its tokens (see Matcher).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bot.triage.normalise import TOKEN_RE, fold

LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: 10x faster
FILES = ("normalise", "language", "sentiment", "threat", "intent", "topics")
DEFAULT_GAP = 4
_GAP_RE = re.compile(r"^(?:\.\.\.|…)(\d*)$")
_SENTENCE_END = frozenset({".", "?", "!"})

LIT, PRE, CLS, GAP = 0, 1, 2, 3
Element = tuple[int, Any]


class LexiconError(ValueError):
    """A lexicon file or an organisation's addition is malformed; the message names the place."""


# --- loading -------------------------------------------------------------------------------------


def load(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Read every lexicon file; each must be a mapping with a `version`."""
    base = directory or LEXICON_DIR
    data: dict[str, dict[str, Any]] = {}
    for name in FILES:
        path = base / f"{name}.yaml"
        content = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        if not isinstance(content, dict) or "version" not in content:
            raise LexiconError(f"{path}: a mapping with a `version:` key is required")
        data[name] = content
    return data


def merge(base: dict[str, dict[str, Any]], extra: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Return `base` with `extra` merged over it: lists are extended, mappings updated (recursively),
    an entry's value (a word's weight) replaced.

    `extra` has the shape of the data files ({"threat": {"targets": [...]}, ...}); a key the shipped
    files do not have, or a value of another kind, is refused with its dotted name.
    """
    out = copy.deepcopy(base)
    for key, value in extra.items():
        name = f"{where}.{key}" if where else str(key)
        if key == "version":
            continue
        if key not in out:
            if "." not in where:  # files and their sections are fixed; entries inside them are open
                raise LexiconError(f"triage lexicon: unknown section {name!r}")
            out[key] = copy.deepcopy(value)
            continue
        current = out[key]
        if isinstance(current, dict) and isinstance(value, Mapping):
            out[key] = merge(current, value, name)
        elif isinstance(current, list) and isinstance(value, list | tuple):
            out[key] = current + [v for v in value if v not in current]
        elif "." in where and not isinstance(current, dict | list) and not isinstance(value, Mapping | list):
            out[key] = value  # an entry's value (a word's weight): the organisation's counts
        else:
            raise LexiconError(f"triage lexicon: {name!r} must be a {type(current).__name__}")
    return out


def check(data: Any, where: str = "") -> None:
    """Refuse what YAML turned into something else: `yes`, `no`, `on` and `off` unquoted become
    booleans, so "no" would silently go missing from a word list."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = f"{where}.{key}" if where else str(key)
            if isinstance(key, bool):
                raise LexiconError(f"triage lexicon: {where}: a word read as {key}; quote yes/no/on/off")
            check(value, name)
    elif isinstance(data, list):
        for value in data:
            if isinstance(value, bool) or value is None:
                raise LexiconError(f"triage lexicon: {where}: {value!r} in a word list; quote yes/no/on/off")
            check(value, where)


def digest(obj: Any) -> str:
    """A short stable fingerprint of organisation-supplied lexicon data (part of the version)."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


# --- phrases -------------------------------------------------------------------------------------


Class = tuple[frozenset[str], tuple[str, ...], "re.Pattern[str] | None"]
"""A class: its literal words, its prefixes, and the prefixes as one compiled pattern."""


@dataclass(frozen=True, slots=True)
class Phrase:
    """One compiled entry: where it belongs (`category`), what it carries (`value`), how it matches."""

    category: str
    entry: str
    value: Any
    elements: tuple[Element, ...]
    has_gap: bool
    needs: str | None
    """A word after the first two that a text must contain for this phrase to match (a cheap test)."""


def split_entry(entry: str, classes: Mapping[str, Class]) -> tuple[Element, ...]:
    """Compile one entry's text into match elements."""
    elements: list[Element] = []
    for piece in str(entry).split():
        gap = _GAP_RE.match(piece)
        if gap:
            elements.append((GAP, int(gap.group(1) or DEFAULT_GAP)))
        elif piece.startswith("@") and len(piece) > 1:
            name = piece[1:]
            if name not in classes:
                raise LexiconError(f"entry {entry!r}: unknown class @{name}")
            elements.append((CLS, classes[name]))
        elif piece.endswith("*") and len(piece) > 1:
            elements.append((PRE, fold(piece[:-1])))
        else:
            for tok in TOKEN_RE.findall(fold(piece)):
                if tok[0] in "?!." and len(tok) > 1:
                    tok = "?" if "?" in tok else ("!" if "!" in tok else ".")
                elements.append((LIT, tok))
    if not elements or elements[0][0] == GAP or elements[-1][0] == GAP:
        raise LexiconError(f"entry {entry!r}: empty, or starts or ends with a gap")
    return tuple(elements)


def compile_classes(raw: Mapping[str, Iterable[str]] | None) -> dict[str, Class]:
    """Compile a file's `classes:` into (literal words, prefixes, prefix pattern) per class name."""
    out: dict[str, Class] = {}
    for name, words in (raw or {}).items():
        lits, pres = set(), []
        for w in words:
            w = str(w)
            if w.endswith("*"):
                pres.append(fold(w[:-1]))
            else:
                lits.add(fold(w))
        pattern = re.compile("|".join(map(re.escape, sorted(set(pres))))) if pres else None
        out[str(name)] = (frozenset(lits), tuple(pres), pattern)
    return out


def _match_from(elements: tuple[Element, ...], k: int, toks: list[str], i: int) -> int:
    """End index (exclusive) of the shortest match of elements[k:] at toks[i:], or -1."""
    n = len(toks)
    while k < len(elements):
        kind, val = elements[k]
        if kind == GAP:
            j = i
            while j <= n and j - i <= val:
                end = _match_from(elements, k + 1, toks, j)
                if end >= 0:
                    return end
                if j < n and toks[j] in _SENTENCE_END:
                    break
                j += 1
            return -1
        if i >= n:
            return -1
        tok = toks[i]
        if kind == LIT:
            if tok != val:
                return -1
        elif kind == PRE:
            if not tok.startswith(val):
                return -1
        elif tok not in val[0] and (val[2] is None or val[2].match(tok) is None):
            return -1
        i += 1
        k += 1
    return i


Hit = tuple[int, int, str, Any]
"""(start, end, matched words, value)."""

_Entry = tuple[tuple[tuple[str, Any], ...], tuple[Phrase, ...]]
"""Per token: (category, value) of the one-word phrases it matches, and the longer phrases it may open
that are not in the bigram index."""
_EMPTY: tuple[()] = ()  # falsy, so a scan can skip such tokens in C
_NOTHING: _Entry = ((), ())


def _first_words(el: Element) -> tuple[list[str], list[str]]:
    """(literal words, prefixes) an element can match."""
    kind, val = el
    if kind == LIT:
        return [val], []
    if kind == PRE:
        return [], [val]
    return list(val[0]), list(val[1])


@dataclass
class Matcher:
    """All phrases of all categories, indexed so that a text is matched in one pass.

    One-word phrases are looked up per token; phrases whose first two elements are words (or words of
    a class) are found through a (word, next word) index, so a phrase is only tried where its first
    two words already stand; the rest (a prefix first, a gap or a prefix second) are tried where their
    first element matches, after a cheap test of the second and of a later word (`Phrase.needs`).
    What a token matches is cached per token.
    """

    _single: dict[str, list[Phrase]] = field(default_factory=dict)
    _single_prefix: dict[str, list[Phrase]] = field(default_factory=dict)
    _bigram: dict[tuple[str, str], list[Phrase]] = field(default_factory=dict)
    _other: dict[str, list[Phrase]] = field(default_factory=dict)
    _other_prefix: dict[str, list[Phrase]] = field(default_factory=dict)
    _prefix_lengths: tuple[int, ...] = ()
    _cache: dict[str, _Entry | tuple[()]] = field(default_factory=dict)
    _added: set[tuple[str, tuple[Element, ...]]] = field(default_factory=set)
    overlapping: frozenset[str] = frozenset()
    """Categories whose matches may overlap (idioms that mask: "slaat in als" and "als een bom")."""
    words: set[str] = field(default_factory=set)
    """Every literal word of every entry (the normaliser repairs spellings towards these)."""
    stems: set[str] = field(default_factory=set)

    def add(self, category: str, entry: str, value: Any, classes: Mapping[str, Any]) -> None:
        """Compile `entry` into `category` with `value`."""
        elements = split_entry(entry, classes)
        if (category, elements) in self._added:
            return  # listed twice (or merged in twice): the first one counts
        self._added.add((category, elements))
        needs = next((v for kind, v in reversed(elements[2:]) if kind == LIT), None)
        phrase = Phrase(category, entry, value, elements, any(e[0] == GAP for e in elements), needs)
        for el in elements:
            if el[0] != GAP:
                lits, pres = _first_words(el)
                self.words.update(lits)
                self.stems.update(pres)
        lits, pres = _first_words(elements[0])
        if len(elements) == 1:
            for lit in lits:
                self._single.setdefault(lit, []).append(phrase)
            for pre in pres:
                self._single_prefix.setdefault(pre, []).append(phrase)
        elif elements[0][0] != PRE and elements[1][0] in (LIT, CLS) and not pres:
            seconds, second_pres = _first_words(elements[1])
            for lit in lits:
                for second in seconds:
                    self._bigram.setdefault((lit, second), []).append(phrase)
            if second_pres:  # the class's prefixes are tried the slow way, its words through the index
                kind, (_, prefixes, pattern) = elements[1]
                rest = replace(
                    phrase, elements=(elements[0], (kind, (frozenset(), prefixes, pattern)), *elements[2:])
                )
                for lit in lits:
                    self._other.setdefault(lit, []).append(rest)
        else:
            for lit in lits:
                self._other.setdefault(lit, []).append(phrase)
            for pre in pres:
                self._other_prefix.setdefault(pre, []).append(phrase)
        self._prefix_lengths = ()
        self._cache.clear()

    def known(self, tok: str) -> bool:
        """Whether `tok` is a word some entry names (literally or by a stem of 3 letters or more)."""
        return tok in self.words or any(tok.startswith(s) for s in self.stems if len(s) >= 3)

    def _entry(self, tok: str) -> _Entry | tuple[()]:
        if not self._prefix_lengths:
            self._prefix_lengths = tuple(sorted({len(p) for p in (*self._single_prefix, *self._other_prefix)}))
        single = list(self._single.get(tok, ()))
        other = list(self._other.get(tok, ()))
        for length in self._prefix_lengths:
            if length > len(tok):
                break
            single.extend(self._single_prefix.get(tok[:length], ()))
            other.extend(self._other_prefix.get(tok[:length], ()))
        firsts: dict[str, Any] = {}
        for ph in single:  # one word matches a category once; the first entry's value counts
            firsts.setdefault(ph.category, ph.value)
        entry: _Entry | tuple[()] = (tuple(firsts.items()), tuple(other)) if firsts or other else _EMPTY
        if len(tok) <= 64:  # a long run of letters is no word worth remembering
            if len(self._cache) >= 200_000:
                self._cache.clear()
            self._cache[tok] = entry
        return entry

    def scan(self, toks: list[str]) -> dict[str, list[Hit]]:
        """All hits per category: at each position the longest match; matches of a category do not overlap
        (a phrase hides the words inside it), except in the `overlapping` categories."""
        hits: defaultdict[str, list[Hit]] = defaultdict(list)
        free: dict[str, int] = {}  # category -> end of its last phrase of two or more words
        present: set[str] | None = None  # the text's words, for Phrase.needs (made when first needed)
        n = len(toks)
        entries = list(map(self._cache.get, toks))
        if None in entries:
            entries = [e if e is not None else self._entry(t) for t, e in zip(toks, entries, strict=True)]
        # the phrases whose first two words stand at each position
        groups = list(map(self._bigram.get, zip(toks, toks[1:], strict=False)))
        groups.append(None)
        for i, entry, group in zip(range(n), entries, groups, strict=False):  # groups: one extra None
            if not entry and group is None:
                continue  # most words: nothing starts here (both lookups above ran in C)
            single, other = entry or _NOTHING
            if group or other:
                taken: dict[str, tuple[int, Phrase]] = {}
                for ph in group or ():  # the first two words already match
                    cat = ph.category
                    if free.get(cat, 0) <= i:
                        if len(ph.elements) == 2:
                            end = i + 2
                        else:
                            if present is None:
                                present = set(toks)
                            if ph.needs is not None and ph.needs not in present:
                                continue
                            end = _match_from(ph.elements, 2, toks, i + 2)
                        if end >= 0 and (cat not in taken or end > taken[cat][0]):
                            taken[cat] = (end, ph)
                nxt = toks[i + 1] if i + 1 < n else ""
                for ph in other:
                    cat = ph.category
                    if free.get(cat, 0) > i:
                        continue
                    kind, val = ph.elements[1]  # check the second element here: most tries end there
                    if kind == LIT:
                        if nxt != val:
                            continue
                    elif kind == PRE:
                        if not nxt.startswith(val):
                            continue
                    elif kind == CLS and nxt not in val[0] and (val[2] is None or val[2].match(nxt) is None):
                        continue
                    if ph.needs is not None:
                        if present is None:
                            present = set(toks)
                        if ph.needs not in present:
                            continue
                    end = _match_from(ph.elements, 1, toks, i + 1)
                    if end >= 0 and (cat not in taken or end > taken[cat][0]):
                        taken[cat] = (end, ph)
                for cat, (end, ph) in taken.items():
                    hits[cat].append((i, end, _quote(ph, toks, i, end), ph.value))
                    if cat not in self.overlapping:
                        free[cat] = end
            if free:
                for cat, value in single:
                    if free.get(cat, 0) <= i:
                        hits[cat].append((i, i + 1, toks[i], value))
            else:
                for cat, value in single:
                    hits[cat].append((i, i + 1, toks[i], value))
        return hits


def _quote(ph: Phrase, toks: list[str], i: int, end: int) -> str:
    """The matched words; a long gap is shown as "…" so evidence stays short."""
    words = toks[i:end]
    if not ph.has_gap or len(words) <= 6:
        return " ".join(words)
    return " ".join(words[:3]) + " … " + " ".join(words[-3:])
