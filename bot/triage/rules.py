"""RuleClassifier: the shipped Classifier, from versioned lexicons, with the evidence for every label.

    clf = RuleClassifier(topics={"levering": ["pakket*", "bezorg*"]},
                         extra={"threat": {"targets": ["conducteur"]}})
    clf.classify("Ik weet waar die conducteur woont").threat   # True

Everything is compiled once in the constructor; `classify` is pure CPU (one pass over the tokens
plus a few small rules) and safe to call from many threads. An organisation's `topics` and `extra`
words are merged over the shipped lexicons and change `version`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from itertools import repeat
from pathlib import Path
from typing import Any

from bot.triage import intent as intent_rules
from bot.triage import sentiment as sentiment_rules
from bot.triage import threat as threat_rules
from bot.triage.lexicon import LexiconError, Matcher, compile_classes, digest, load, merge
from bot.triage.model import Classification, Intent
from bot.triage.normalise import Normaliser, fold

CODE_VERSION = "1"
_THREAT, _MISINFORMATION, _OTHER = Intent.THREAT, Intent.MISINFORMATION, Intent.OTHER
LANGUAGES = ("nl", "en")
_SENTENCE_END = frozenset({".", "?", "!"})


_FIELDS = tuple(f.name for f in fields(Classification))
_PLAIN = not hasattr(Classification, "__slots__") and not hasattr(Classification, "__post_init__")


def _classification(*values: Any) -> Classification:
    """Classification(*values), without the frozen dataclass's ten object.__setattr__ calls (a tenth of
    a classification's time): the same object, built the way its own __init__ would build it."""
    if not _PLAIN:
        return Classification(**dict(zip(_FIELDS, values, strict=True)))
    obj = object.__new__(Classification)
    obj.__dict__.update(zip(_FIELDS, values))
    return obj


def _listed(data: Mapping[str, Any], *keys: str) -> list[str]:
    """A list entry of the lexicon data (empty when absent); anything else is an error with its name."""
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    if node is None:
        return []
    if not isinstance(node, list):
        raise LexiconError(f"triage lexicon: {'.'.join(keys)} must be a list")
    return [str(v) for v in node]


class RuleClassifier:
    """Classifies mentions with the lexicons in bot/triage/lexicons (see each file's header)."""

    version: str

    def __init__(
        self,
        topics: Mapping[str, Sequence[str]] | None = None,
        *,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
        lexicon_dir: Path | None = None,
    ) -> None:
        data = load(lexicon_dir)
        if topics:
            data = merge(data, {"topics": {"topics": {str(k): list(v) for k, v in topics.items()}}})
        if extra:
            data = merge(data, extra)
        parts = [f"rules/{CODE_VERSION}"] + [f"{name}/{content['version']}" for name, content in data.items()]
        if topics or extra:
            parts.append(f"org/{digest({'topics': topics or {}, 'extra': extra or {}})}")
        self.version = ";".join(parts)
        self._compile(data)

    # --- compilation ---------------------------------------------------------------------------

    def _compile(self, data: Mapping[str, Mapping[str, Any]]) -> None:
        m = Matcher()
        sent, threat, intent = data["sentiment"], data["threat"], data["intent"]
        classes = compile_classes(threat.get("classes"))

        def add_all(category: str, entries: Sequence[str], cls: Mapping[str, Any] | None = None) -> None:
            for entry in entries:
                m.add(category, entry, None, cls or {})

        for entry, weight in (sent.get("words") or {}).items():
            m.add("s.word", str(entry), float(weight), {})
        for entry, factor in (sent.get("intensifiers") or {}).items():
            m.add("s.int", str(entry), float(factor), {})
        add_all("s.neg", _listed(sent, "negators"))
        add_all("s.contrast", _listed(sent, "contrast"))
        add_all("s.rep", _listed(sent, "sarcasm", "repetition"))
        add_all("s.irony", _listed(sent, "sarcasm", "irony"))
        add_all("s.mixed", _listed(sent, "mixed"))

        for section, category in (("strong", "t.strong"), ("weak", "t.weak"), ("weapons", "t.weapon"),
                                  ("fire", "t.fire"), ("veiled", "t.veiled"), ("someone_should", "t.someone"),
                                  ("harm", "t.harm"), ("abuse", "t.abuse"), ("not_threats", "t.not")):
            add_all(category, _listed(threat, section), cls=classes)
        # Targets, places and conditions only matter next to a violent word: matched only then.
        context = Matcher()
        for section, category in (("targets", "t.target"), ("places", "t.place"), ("conditional", "t.cond")):
            for entry in _listed(threat, section):
                context.add(category, entry, None, classes)
        self._threat_context = context
        self._threat_window = int(threat.get("window", 6))

        for section, category in (("rhetorical", "q.rhet"), ("phrases", "q.phrase"), ("not", "q.not")):
            add_all(category, _listed(intent, "question", section))
        self._question_words = intent_rules.QuestionWords(
            *(frozenset(map(fold, _listed(intent, "question", section)))
              for section in ("openers", "verbs", "verb_subjects", "subjects", "nonverbs"))
        )
        for section, category in (("hearsay", "m.hearsay"), ("claims", "m.claim"), ("changes", "m.change"),
                                  ("verify", "m.verify"), ("pass_on", "m.pass")):
            add_all(category, _listed(intent, "misinformation", section))
        for section, category in (("complaint", "complaint"), ("suggestion", "suggestion"),
                                  ("compliment", "compliment"), ("spam", "x.spam"), ("chitchat", "x.chitchat")):
            add_all(category, _listed(intent, section))

        topic_map = data["topics"].get("topics") or {}
        self._topic_categories: dict[str, str] = {}
        for name, entries in topic_map.items():
            category = f"topic:{name}"
            self._topic_categories[category] = str(name)
            add_all(category, [str(e) for e in entries])

        weights: dict[str, dict[str, float]] = {}  # word -> language -> weight
        self._flemish: set[str] = set()
        lang = data["language"]
        for code, key in (("nl", "nl"), ("nl", "flemish"), ("en", "en")):
            for weight, words in (lang.get(key) or {}).items():
                for word in map(fold, map(str, words)):
                    per = weights.setdefault(word, {})
                    per[code] = max(per.get(code, 0.0), float(weight))
                    if key == "flemish":
                        self._flemish.add(word)
        for code, words in (lang.get("other") or {}).items():
            for word in map(fold, map(str, words)):
                weights.setdefault(word, {})[str(code)] = 1.0
        self._topic_set = frozenset(self._topic_categories)
        self._nl = {word: per["nl"] for word, per in weights.items() if per.get("nl")}
        self._en = {word: per["en"] for word, per in weights.items() if per.get("en")}
        self._other_by_lang = {
            word: tuple((c, w) for c, w in per.items() if c not in LANGUAGES)
            for word, per in weights.items()
            if any(c not in LANGUAGES for c in per)
        }
        self._other_words: dict[str, frozenset[str]] = {
            str(code): frozenset(map(fold, map(str, words))) for code, words in (lang.get("other") or {}).items()
        }
        # per word: nl weight, en weight, the best other language's weight (so a text's sum of the third
        # is an upper bound of any one other language; which one is worked out only when it wins)
        self._lang = {
            word: (self._nl.get(word, 0.0), self._en.get(word, 0.0), max((w for _, w in ws), default=0.0))
            for word in weights
            for ws in [self._other_by_lang.get(word, ())]
        }

        norm = data["normalise"]
        q = self._question_words
        known_words = m.words | context.words | set(weights) | q.openers | q.verbs | q.verb_subjects | q.subjects
        self._matcher = m
        self._norm = Normaliser(
            lambda tok: tok in known_words or m.known(tok) or context.known(tok),
            norm.get("leet") or {},
            norm.get("typos") or {},
        )
        self._sentiment = sentiment_rules.SentimentRules.from_data(sent)

    # --- classification ------------------------------------------------------------------------

    def classify(self, text: str, *, lang_hint: str | None = None) -> Classification:
        """Label one text; every label carries the words that caused it."""
        text = text or ""
        toks, shouted = self._norm.tokens(text)
        if toks and toks[-1] not in _SENTENCE_END:
            toks.append(".")  # so "... or else" at the very end still ends a sentence
        hits = self._matcher.scan(toks)
        language, language_ev = self._language(toks, lang_hint)

        sentiment, sentiment_ev, mixed = sentiment_rules.score(toks, hits, self._sentiment, text.count("!"))
        threat_ev, abuse_ev = threat_rules.detect(
            toks, hits, self._threat_context, self._threat_window, praise=sentiment > 0.3
        )
        emphatic = "??" in text or "?!" in text or "!?" in text or "!!" in text
        intent, intent_ev = intent_rules.decide(
            toks, hits, self._question_words, sentiment, mixed, threat_ev, abuse_ev, shouted >= 2, emphatic
        )

        if intent is _THREAT and sentiment > -0.6:
            sentiment, sentiment_ev = -0.6, ["threat or abuse", *sentiment_ev]
        elif intent is _MISINFORMATION and sentiment > -0.3 and "m.pass" not in hits:
            sentiment, sentiment_ev = -0.3, ["a false claim about us", *sentiment_ev]
        elif intent is _OTHER and "x.spam" in hits:
            sentiment, sentiment_ev = 0.0, ["spam"]

        topics: dict[str, tuple[str, ...]] = {}
        found = self._topic_set.intersection(hits)
        for category in sorted(found) if len(found) > 1 else found:
            topics[self._topic_categories[category]] = tuple(dict.fromkeys(h[2] for h in hits[category]))[:5]

        return _classification(
            language, intent, round(sentiment, 3), bool(threat_ev), tuple(topics), tuple(language_ev),
            tuple(intent_ev), tuple(sentiment_ev), tuple(threat_ev), topics,
        )

    def _language(self, toks: Sequence[str], hint: str | None) -> tuple[str, list[str]]:
        """nl, en or other by function-word scores; the hint breaks ties (and decides when nothing scores)."""
        lang = self._lang
        words = list(filter(lang.__contains__, toks))
        hint_code = hint.strip().lower()[:2] if hint else ""
        if not words:
            if hint_code in LANGUAGES:
                return hint_code, [f"hint: {hint_code}"]
            return "other", ["no nl or en words"]
        nl, en, other = map(sum, zip(*map(lang.__getitem__, words)))
        best = max(nl, en, other)
        if nl == best and (en < best or hint_code != "en"):
            code, vocabulary = "nl", self._nl
        elif en == best:
            code, vocabulary = "en", self._en
        else:  # which of the other languages, only now
            per: dict[str, float] = {}
            for tok in words:
                for lang_code, weight in self._other_by_lang.get(tok, ()):
                    per[lang_code] = per.get(lang_code, 0.0) + weight
            code = max(per, key=per.__getitem__)
            best, vocabulary = per[code], self._other_words[code]
        shown = ", ".join(dict.fromkeys(filter(vocabulary.__contains__, words)))
        evidence = [f"{code} {best:g}: {shown}"]
        if code == "nl" and not self._flemish.isdisjoint(words):
            evidence.append("flemish: " + ", ".join(dict.fromkeys(filter(self._flemish.__contains__, words))))
        return (code if code in LANGUAGES else "other"), evidence
