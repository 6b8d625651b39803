"""Intent from the cues of intent.yaml, the threat verdict and the sentiment; first rule that fits wins.

threat/abuse > misinformation > spam > suggestion > chit-chat > complaint vs question > compliment > other.
The evidence starts with the rule that decided ("rule: complaint") followed by the cues it used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress

from bot.triage.lexicon import Hit
from bot.triage.model import Intent

_CAPS = re.compile(r"\b[A-Z]{3,}\b")
_OWN_CASE = frozenset(["ik", "'k", "i", "i'm", "im", "i've", "ive", "me", "mij", "we", "wij", "we've", "ikke"])
"""The writer as the one it happened to: a claim with one of these is their own case, not a rumour."""
_MONEY_BACK = frozenset(["terug", "back", "refund", "refunds", "terugbetalen", "teruggave"])
_LAUGH = frozenset(
    ["haha", "hahaha", "hahah", "lol", "lmao", "lmaooo", "lmaoo", "😂", "🤣", "😭", "😜", "joh", "bro", "mate"]
)
_US = frozenset(["jullie", "webcare", "klantenservice", "klantendienst", "support", "helpdesk", "gij", "ge"])
CLAUSE_START = frozenset({".", "?", "!", ",", ";", ":"})
_SHORT = 4
"""Praise in a message of at most this many words is a compliment whatever it names ("top 👍")."""
NEGATIVE = -0.15
POSITIVE = 0.15


def _texts(hits: Sequence[Hit], limit: int = 4) -> list[str]:
    return list(dict.fromkeys(h[2] for h in hits))[:limit]


@dataclass(frozen=True, slots=True)
class QuestionWords:
    """intent.yaml's single question words, looked up at the start of each clause."""

    openers: frozenset[str]
    verbs: frozenset[str]
    verb_subjects: frozenset[str]
    subjects: frozenset[str]
    nonverbs: frozenset[str]
    exclamations: frozenset[str]
    """Two-word openings that exclaim rather than ask ("wat een", "what a")."""
    prepositions: frozenset[str]
    crowd: frozenset[str]
    """Words that ask the crowd rather than us ("iemand", "anyone")."""
    address: frozenset[str]
    """Words that address us ("jullie", "you", "webcare")."""
    first_person: frozenset[str]
    """Words of a customer's own case ("mijn", "ik", "my")."""
    problem_topics: frozenset[str] = frozenset()
    """Topic categories ("topic:levering") where a statement without other cues reports a problem."""
    praise_us: frozenset[str] = frozenset()
    """Praise that is aimed at someone by itself ("bedankt", "chapeau", "👏")."""
    greetings: frozenset[str] = frozenset()
    """Words before the real start of a clause ("hi how long ...", "Allee, weet iemand ...")."""


def _clause_starts(toks: Sequence[str], greetings: frozenset[str] = frozenset()) -> list[int]:
    """Where the clauses of a text begin: at the start and after punctuation; a greeting or interjection
    that opens a clause moves its start one word on ("hi how long does ...")."""
    if not toks:
        return []
    starts = [0, *(i + 1 for i in compress(range(len(toks) - 1), map(CLAUSE_START.__contains__, toks)))]
    if greetings:
        n = len(toks)
        starts += [i + 1 for i in starts if i + 1 < n and toks[i] in greetings]
    return starts


def _clause_openers(toks: Sequence[str], starts: Sequence[int], words: QuestionWords) -> list[str]:
    """Question words, or verbs with a subject after them, that open a clause ("Hoe", "Kan ik", "Do you"),
    not an exclamation ("Wat een ...")."""
    out = []
    n = len(toks)
    for i in starts:
        first = toks[i]
        if first in words.prepositions and i + 1 < n and toks[i + 1] in words.openers:
            i, first = i + 1, toks[i + 1]  # "Vanaf welke", "Tot wanneer"
        second = toks[i + 1] if i + 1 < n else ""
        if first in words.openers:
            if f"{first} {second}" not in words.exclamations:
                out.append(first)
        elif first in words.verbs and second in words.verb_subjects:
            out.append(f"{first} {second}")
    return out


def _inversion(
    toks: Sequence[str], starts: Sequence[int], hits: Mapping[str, list[Hit]], words: QuestionWords
) -> str | None:
    """Dutch verb-first questions: "Bezorgen jullie ...", "ontvang ik ..." (a clause opens with a word
    that is no conjunction, greeting or sentiment word, and a subject follows it)."""
    for i in starts:
        if i + 1 >= len(toks):
            continue
        first, second = toks[i], toks[i + 1]
        if (
            second in words.subjects
            and len(first) >= 3
            and first.isalpha()
            and first not in words.nonverbs
            and not any(h[2] == first for h in hits.get("s.word") or ())
        ):
            return f"{first} {second}"
    return None


def decide(
    toks: Sequence[str],
    hits: Mapping[str, list[Hit]],
    words: QuestionWords,
    sentiment: float,
    mixed: bool,
    threat: Sequence[str],
    abuse: Sequence[str],
    text: str,
) -> tuple[Intent, list[str]]:
    """Return the intent and its evidence."""
    if threat or abuse:
        return Intent.THREAT, ["rule: threat" if threat else "rule: abuse", *threat[:3], *abuse[:3]]

    get = hits.get
    composed = get("m.compose")
    if (
        composed
        and "m.verify" not in hits
        and "?" not in toks
        and _OWN_CASE.isdisjoint(toks)
        and _MONEY_BACK.isdisjoint(toks)
    ):
        return Intent.MISINFORMATION, ["rule: misinformation (a claim about us as fact)", *_texts(composed, 2)]
    if "m.verify" not in hits and ("m.claim" in hits or "m.hearsay" in hits):
        claims, hearsay = get("m.claim") or [], get("m.hearsay") or []
        changes = get("m.change") or []
        about_us = not words.address.isdisjoint(toks)
        if claims or (hearsay and (changes or sentiment <= NEGATIVE or (about_us and "?" not in toks))):
            return Intent.MISINFORMATION, ["rule: misinformation", *_texts([*hearsay, *claims, *changes])]

    spam = get("x.spam")
    if spam:
        return Intent.OTHER, ["rule: spam", *_texts(spam)]
    complaint = get("complaint") or ()
    rhetorical = get("q.rhet") or ()
    negative = sentiment <= NEGATIVE
    # how strongly it complains (only matters for a negative text): cues, CAPS, "??" or "?!", "waarom"
    shouting = emphatic = False
    if negative:
        shouting = len(_CAPS.findall(text)) >= 2
        emphatic = "??" in text or "?!" in text or "!?" in text or "!!" in text
    elif rhetorical:
        emphatic = "??" in text or "?!" in text or "!?" in text
    strength = len(complaint) + shouting + emphatic + bool(rhetorical)
    suggestion = get("suggestion")
    if suggestion and not (strength and sentiment <= -0.45):  # an angry "you should" is a complaint
        return Intent.SUGGESTION, ["rule: suggestion", *_texts(suggestion)]
    chitchat = get("x.chitchat")
    if chitchat and not (negative and strength >= 2):
        return Intent.OTHER, ["rule: chit-chat or news", *_texts(chitchat)]

    if (
        text.lstrip().startswith("@")
        and not text.lstrip().lower().startswith(("@webcare", "@klantenservice"))
        and sentiment > -0.3
        and not complaint
        and _US.isdisjoint(toks)
        and (not _LAUGH.isdisjoint(toks) or not any(cat.startswith("topic:") for cat in hits))
    ):  # a reply to another user, not to us ("@sanne haha ja ...")
        return Intent.OTHER, ["rule: a reply between users", *[t for t in toks if t in _LAUGH][:2]]
    question, inverted = _question(toks, hits, words)
    if question and "?" not in toks and sentiment <= -0.45:  # "Moet je zien hoe ... 😡": exclaimed, not asked
        question = []
    if strength and (negative or mixed or (rhetorical and strength >= 2)):
        # a verb-first clause alone ("betaal ik voor express en ...") tells a story more often than it asks
        if question and strength == 1 and not rhetorical and sentiment > -0.45 and not inverted:
            return Intent.QUESTION, ["rule: question (a problem, asked calmly)", *question]
        return Intent.COMPLAINT, [
            "rule: complaint",
            *_complaint_cues(complaint, rhetorical, shouting, emphatic),
        ]
    if question:
        if (
            not words.crowd.isdisjoint(toks)
            and words.address.isdisjoint(toks)
            and not any(cat.startswith("topic:") for cat in hits)
        ):
            return Intent.OTHER, ["rule: a question to the crowd, not about us", *question]
        return Intent.QUESTION, ["rule: question", *question]
    if sentiment >= POSITIVE:
        praise = [h for h in get("s.word") or () if h[3] > 0]
        if (
            sum(t not in CLAUSE_START for t in toks) > _SHORT
            and words.praise_us.isdisjoint(toks)
            and words.address.isdisjoint(toks)
            and not any(cat.startswith("topic:") for cat in hits)
        ):  # "Heerlijk weekend gehad met de kids": happy, but not about us
            return Intent.OTHER, ["rule: other (positive, not about us)", *_texts(praise)]
        return Intent.COMPLIMENT, ["rule: compliment (positive)", *_texts(praise)]
    if negative:
        return Intent.COMPLAINT, [
            "rule: complaint (negative)",
            *_complaint_cues(complaint, rhetorical, shouting, emphatic),
        ]
    topics = [cat[6:] for cat in words.problem_topics.intersection(hits)]
    if topics and "x.chitchat" not in hits:
        # a customer telling us about their order, delivery or a store without a question: a problem
        return Intent.COMPLAINT, [
            "rule: complaint (about an order, a store or a service; no other cue)",
            *topics[:3],
        ]
    addressed = [t for t in toks if t in words.address]
    if addressed and "x.chitchat" not in hits and len(toks) >= 5:
        # a statement to us without praise, question or proposal is mostly a problem being reported
        return Intent.COMPLAINT, [
            "rule: complaint (addressed to us, no other cue)",
            *dict.fromkeys(addressed[:2]),
        ]
    return Intent.OTHER, ["rule: other (no cue)"]


def _question(
    toks: Sequence[str], hits: Mapping[str, list[Hit]], words: QuestionWords
) -> tuple[list[str], bool]:
    """The question cues: a question mark (enough by itself), question phrases, question words or verbs
    opening a clause, a Dutch verb-first clause; and whether the last (the weakest) is all there is."""
    phrases = _texts(hits.get("q.phrase") or (), 3)
    if "?" in toks:
        return ["?", *phrases], False
    starts = _clause_starts(toks, words.greetings)
    openers = _clause_openers(toks, starts, words)
    if phrases or openers:
        return list(dict.fromkeys([*phrases, *openers]))[:3], False
    inversion = _inversion(toks, starts, hits, words)
    return ([inversion], True) if inversion else ([], False)


def _complaint_cues(
    complaint: Sequence[Hit], rhetorical: Sequence[Hit], shouting: bool, emphatic: bool
) -> list[str]:
    return [
        *_texts(complaint),
        *(["CAPS"] if shouting else []),
        *(["?!"] if emphatic else []),
        *_texts(rhetorical, 2),
    ]
