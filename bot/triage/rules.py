"""RuleClassifier: the shipped Classifier, from versioned lexicons, with the evidence for every label.

    clf = RuleClassifier(topics={"levering": ["pakket*", "bezorg*"]},
                         extra={"threat": {"targets": ["conducteur"]}})
    clf.classify("Ik neem een knuppel mee voor die conducteur").threat_evidence
    # ('violence near target: knuppel + conducteur',)

Everything is compiled once in the constructor; `classify` is pure CPU (one pass over the tokens
plus a few small rules). An organisation's `topics` and `extra` words (same shape as the data files:
{"threat": {"targets": [...]}, "sentiment": {"words": {"vertraging": -0.5}}}) are merged over the
shipped lexicons and change `version`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from bot.triage import bayes as bayes_model
from bot.triage import intent as intent_rules
from bot.triage import sentiment as sentiment_rules
from bot.triage import threat as threat_rules
from bot.triage.language import LanguageScorer
from bot.triage.lexicon import Class, LexiconError, Matcher, check, compile_classes, digest, load, merge
from bot.triage.model import Classification, Intent
from bot.triage.normalise import Normaliser, fold

CODE_VERSION = "4"
"""The version of the rules in code; each data file carries its own."""

_THREAT, _MISINFORMATION, _COMPLAINT = Intent.THREAT, Intent.MISINFORMATION, Intent.COMPLAINT
_QUESTION, _OTHER = Intent.QUESTION, Intent.OTHER
_SENTENCE_END = frozenset({".", "?", "!"})
_SILENT = ("rule: other (no cue)", "rule: complaint (addressed to us", "rule: complaint (about an order")
"""The intent rules' fallbacks without any cue: there the naive Bayes tie-breaker decides."""
_TIE_CLASSES = tuple(i.value for i in Intent if i is not Intent.THREAT)
"""The tie-breaker never calls anything a threat or abuse: that takes a rule."""
_FIELDS = frozenset(f.name for f in fields(Classification))
_BUILT = frozenset(
    {
        "language",
        "intent",
        "sentiment",
        "threat",
        "topics",
        "language_evidence",
        "intent_evidence",
        "sentiment_evidence",
        "threat_evidence",
        "topic_evidence",
    }
)
_PLAIN = (
    _FIELDS == _BUILT
    and not hasattr(Classification, "__slots__")
    and not hasattr(Classification, "__post_init__")
)
"""Whether a Classification is a plain frozen dataclass with the fields we fill (else its __init__ runs)."""


def _classification(**values: Any) -> Classification:
    """Classification(**values) without the frozen dataclass's ten object.__setattr__ calls (a tenth of
    a classification's time): the same object, filled the way its own __init__ fills it."""
    if not _PLAIN:
        return Classification(**values)
    obj = object.__new__(Classification)
    obj.__dict__.update(values)
    return obj


def _listed(data: Mapping[str, Any], *keys: str) -> list[str]:
    """A list in the lexicon data; a missing or other value is an error naming the key."""
    node: Any = data
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    if node is None:
        raise LexiconError(f"triage lexicon: {'.'.join(keys)} is missing")
    if not isinstance(node, list):
        raise LexiconError(f"triage lexicon: {'.'.join(keys)} must be a list")
    return [str(v) for v in node]


_THREAT_SECTIONS = (
    ("strong", "t.strong"),
    ("weak", "t.weak"),
    ("weapons", "t.weapon"),
    ("fire", "t.fire"),
    ("veiled", "t.veiled"),
    ("someone_should", "t.someone"),
    ("harm", "t.harm"),
    ("abuse", "t.abuse"),
    ("not_threats", "t.not"),
    ("games", "t.game"),
)
_CONTEXT_SECTIONS = (
    ("targets", "t.target"),
    ("places", "t.place"),
    ("conditional", "t.cond"),
    ("visit", "t.visit"),
)
_COMPOSE_MAIN = (("acts", "c.act"), ("approach", "c.appr"), ("insults", "a.noun"), ("curses", "a.curse"))
"""Compositional parts matched in every text: without one of them the cues are never looked for."""
_COMPOSE_CONTEXT = (
    ("intent", "c.intent"),
    ("incite", "c.incite"),
    ("hypothetical", "c.hyp"),
    ("time", "c.time"),
    ("where", "c.where"),
    ("warn", "c.warn"),
    ("group", "c.group"),
    ("menace", "c.menace"),
    ("not", "c.not"),
)
_INTENT_SECTIONS = (
    (("question", "rhetorical"), "q.rhet"),
    (("question", "phrases"), "q.phrase"),
    (("misinformation", "hearsay"), "m.hearsay"),
    (("misinformation", "claims"), "m.claim"),
    (("misinformation", "changes"), "m.change"),
    (("misinformation", "verify"), "m.verify"),
    (("misinformation", "compose"), "m.compose"),
    (("misinformation", "pass_on"), "m.pass"),
    (("complaint",), "complaint"),
    (("suggestion",), "suggestion"),
    (("spam",), "x.spam"),
    (("chitchat",), "x.chitchat"),
)
_FUZZY_CLASSES = ("person", "weapon", "bodypart", "breakable", "place", "insult", "hit")
_ENDINGS = ("", "en", "t", "e", "de", "d", "er", "ers", "s")
"""Forms tried for a stem ("vermoord*") in the typo repair's word list."""
_QUESTION_WORDS = (
    "openers",
    "verbs",
    "verb_subjects",
    "subjects",
    "nonverbs",
    "not",
    "prepositions",
    "greetings",
)


def topic_names(topics: Mapping[str, Sequence[str]] | None = None, lexicon_dir: Path | None = None) -> set[str]:
    """The topics triage can recognise: the shipped lexicon's and app.yaml's `triage.topics`."""
    shipped = load(lexicon_dir)["topics"].get("topics") or {}
    return {str(name).lower() for name in (*shipped, *(topics or {}))}


class RuleClassifier:
    """Classifies mentions with the lexicons in bot/triage/lexicons (each file's header says how)."""

    version: str

    def __init__(
        self,
        topics: Mapping[str, Sequence[str]] | None = None,
        *,
        extra: Mapping[str, Mapping[str, Any]] | None = None,
        lexicon_dir: Path | None = None,
        bayes: bool = True,
    ) -> None:
        data = load(lexicon_dir)
        if topics:
            data = merge(data, {"topics": {"topics": {str(k): list(v) for k, v in topics.items()}}})
        if extra:
            data = merge(data, extra)
        check(data)
        parts = [f"rules/{CODE_VERSION}"] + [f"{name}/{content['version']}" for name, content in data.items()]
        if topics or extra:
            parts.append(f"org/{digest({'topics': topics or {}, 'extra': extra or {}})}")
        self._bayes = bayes_model.NaiveBayes.load() if bayes else None
        if self._bayes is not None:
            parts.append(f"bayes/{self._bayes.version}")
        self.version = ";".join(parts)

        sentiment, threat, intent = data["sentiment"], data["threat"], data["intent"]
        self._matcher = matcher = Matcher(overlapping=frozenset({"t.not"}))
        self._add_sentiment(sentiment)
        classes = compile_classes(threat.get("classes"))
        self._add(_THREAT_SECTIONS, threat, classes)
        # Targets, places and conditions only matter next to a violent word: they are matched only then.
        self._threat_context = context = Matcher()
        for section, category in _CONTEXT_SECTIONS:
            for entry in _listed(threat, section):
                context.add(category, entry, None, classes)
        compose = threat.get("compose") or {}
        for section, category in _COMPOSE_MAIN:
            for entry in _listed(compose, section) if section in compose else ():
                self._matcher.add(category, entry, None, classes)
        for section, category in _COMPOSE_CONTEXT:
            for entry in _listed(compose, section) if section in compose else ():
                context.add(category, entry, None, classes)
        self._threat_window = int(threat.get("window", 6))
        intent_classes = compile_classes(intent.get("classes"))
        for keys, category in _INTENT_SECTIONS:
            for entry in _listed(intent, *keys):
                matcher.add(category, entry, None, intent_classes)
        self._question_words = self._question(intent)
        self._topic_names: dict[str, str] = {}
        for name, entries in (data["topics"].get("topics") or {}).items():
            self._topic_names[f"topic:{name}"] = str(name)
            for entry in entries:
                matcher.add(f"topic:{name}", str(entry), None, {})
        self._topic_categories = frozenset(self._topic_names)

        self._language = LanguageScorer(data["language"])
        q = self._question_words
        known = (
            matcher.words
            | context.words
            | self._language.vocabulary
            | q.openers
            | q.verbs
            | q.verb_subjects
            | q.subjects
        )
        norm = data["normalise"]
        # violent words, targets and insults (and the words of their classes) are worth a typo repair
        words = [
            w
            for section, _ in (*_THREAT_SECTIONS[:8], *_CONTEXT_SECTIONS[:1])
            for entry in _listed(threat, section)
            for w in entry.split()
        ]
        for name in _FUZZY_CLASSES:
            words += [str(w) for w in (threat.get("classes") or {}).get(name) or ()]
        fuzzy = frozenset(
            w[:-1] + ending if w.endswith("*") else w
            for w in (fold(w) for w in words)
            for ending in (_ENDINGS if w.endswith("*") else ("",))
        )
        self._norm = Normaliser(
            lambda tok: tok in known or matcher.known(tok) or context.known(tok),
            norm.get("leet") or {},
            norm.get("typos") or {},
            fuzzy,
        )
        self._sentiment = sentiment_rules.SentimentRules.from_data(sentiment)

    def _add(
        self, sections: Sequence[tuple[str, str]], data: Mapping[str, Any], classes: Mapping[str, Class]
    ) -> None:
        for section, category in sections:
            for entry in _listed(data, section):
                self._matcher.add(category, entry, None, classes)

    def _add_sentiment(self, data: Mapping[str, Any]) -> None:
        for key, category in (
            ("words", "s.word"),
            ("words_en", "s.en"),
            ("words_nl", "s.nl"),
            ("intensifiers", "s.int"),
        ):
            for entry, value in (data.get(key) or {}).items():
                self._matcher.add(category, str(entry), float(value), {})
        for keys, category in (
            (("negators",), "s.neg"),
            (("contrast",), "s.contrast"),
            (("sarcasm", "anywhere"), "s.rep"),
            (("sarcasm", "adjacent"), "s.irony"),
            (("mixed",), "s.mixed"),
        ):
            for entry in _listed(data, *keys):
                self._matcher.add(category, entry, None, {})

    @staticmethod
    def _question(intent: Mapping[str, Any]) -> intent_rules.QuestionWords:
        words = {s: frozenset(fold(w) for w in _listed(intent, "question", s)) for s in _QUESTION_WORDS}
        return intent_rules.QuestionWords(
            **{("exclamations" if s == "not" else s): w for s, w in words.items()},
            crowd=frozenset(fold(w) for w in _listed(intent, "crowd")),
            problem_topics=frozenset(f"topic:{w}" for w in _listed(intent, "problem_topics")),
            praise_us=frozenset(fold(w) for w in _listed(intent, "praise_us") if " " not in w.strip()),
            address=frozenset(fold(w) for w in _listed(intent, "address")),
            first_person=frozenset(fold(w) for w in _listed(intent, "first_person")),
        )

    # --- classification ------------------------------------------------------------------------

    def tokens(self, text: str) -> list[str]:
        """The matching tokens of a text (what the lexicons and the tie-breaker see)."""
        return self._norm.tokens(text or "")

    def classify(self, text: str, *, lang_hint: str | None = None) -> Classification:
        """Label one text; every label carries the words that caused it."""
        text = text or ""
        toks = self._norm.tokens(text)
        if toks and toks[-1] not in _SENTENCE_END:
            toks.append(".")  # so "... or else" at the very end still ends a sentence
        hits = self._matcher.scan(toks)
        language, language_ev = self._language.detect(toks, lang_hint)

        sentiment, sentiment_ev, mixed = sentiment_rules.score(
            toks, hits, self._sentiment, text.count("!"), language
        )
        # praise in words ("the bomb", "lekker"), not the emoji themselves, makes 🔥 and 💣 compliments
        praise = sentiment > 0.15 and any(h[3] >= 0.3 and h[2].isascii() for h in hits.get("s.word") or ())
        threat_ev, abuse_ev = threat_rules.detect(
            toks,
            hits,
            self._threat_context,
            self._threat_window,
            praise,
            english=language == "en",
            text=text,
            sentiment=sentiment,
        )
        intent, intent_ev = intent_rules.decide(
            toks, hits, self._question_words, sentiment, mixed, threat_ev, abuse_ev, text
        )
        if self._bayes is not None and intent_ev and intent_ev[0].startswith(_SILENT):
            # the rules found no cue: the word statistics of the development sets break the tie
            label, words = self._bayes.predict(toks, _TIE_CLASSES)
            intent = Intent(label)
            intent_ev = [f"tie-breaker: {label} (word statistics)", *words, f"(rules: {intent_ev[0][6:]})"]

        if intent is _THREAT and sentiment > -0.6:
            sentiment, sentiment_ev = -0.6, ["threat or abuse", *sentiment_ev]
        elif intent is _MISINFORMATION and sentiment > -0.3 and "m.pass" not in hits:
            sentiment, sentiment_ev = -0.3, ["a false claim about us", *sentiment_ev]
        elif intent is _OTHER and "x.spam" in hits:
            sentiment, sentiment_ev = 0.0, ["spam"]
        elif intent is _COMPLAINT and not mixed and sentiment > -0.15:
            sentiment, sentiment_ev = -0.3, ["a complaint", *sentiment_ev]
        elif intent is _QUESTION and (
            -0.35 < sentiment < 0 or (sentiment < 0 and not any(h[3] < 0 for h in hits.get("s.word") or ()))
        ):  # problem words in a question asked calmly carry no feeling ("hoe krijg ik mijn geld terug?")
            sentiment, sentiment_ev = 0.0, ["a question, asked calmly", *sentiment_ev]

        topics: dict[str, tuple[str, ...]] = {}
        found = self._topic_categories.intersection(hits)
        for category in sorted(found) if len(found) > 1 else found:
            topics[self._topic_names[category]] = tuple(dict.fromkeys(h[2] for h in hits[category]))[:5]

        return _classification(
            language=language,
            intent=intent,
            sentiment=round(sentiment, 3),
            threat=bool(threat_ev),
            topics=tuple(topics),
            language_evidence=tuple(language_ev),
            intent_evidence=tuple(intent_ev),
            sentiment_evidence=tuple(sentiment_ev),
            threat_evidence=tuple(threat_ev),
            topic_evidence=topics,
        )
