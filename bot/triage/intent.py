"""Intent from the cues of intent.yaml, the threat verdict and the sentiment; first rule that fits wins.

threat/abuse > misinformation > spam/chit-chat > suggestion > complaint vs question > compliment > other.
The evidence starts with the rule that decided ("rule: complaint") followed by the cues it used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.triage.lexicon import Hit
from bot.triage.model import Intent

CLAUSE_START = frozenset({".", "?", "!", ",", ";", ":"})
NEGATIVE = -0.15
POSITIVE = 0.15


def _texts(hits: Sequence[Hit], limit: int = 4) -> list[str]:
    return list(dict.fromkeys(h[2] for h in hits))[:limit]


@dataclass(frozen=True, slots=True)
class QuestionWords:
    """Single words of intent.yaml's `question` section, looked up only at the starts of clauses."""

    openers: frozenset[str]
    verbs: frozenset[str]
    verb_subjects: frozenset[str]
    subjects: frozenset[str]
    nonverbs: frozenset[str]


def _clause_openers(toks: Sequence[str], hits: Mapping[str, list[Hit]], words: QuestionWords) -> list[str]:
    """Question words, or verbs with a subject after them, that open a clause ("Hoe", "Kan ik", "Do you"),
    not inside an exclamation ("Wat een ...")."""
    blocked = hits.get("q.not") or ()
    out = []
    n = len(toks)
    for i in range(n):
        if i and toks[i - 1] not in CLAUSE_START:
            continue
        tok = toks[i]
        if tok in words.openers or (tok in words.verbs and i + 1 < n and toks[i + 1] in words.verb_subjects):
            if not any(b[0] <= i < b[1] for b in blocked):
                out.append(tok if tok in words.openers else f"{tok} {toks[i + 1]}")
    return out


def _inversion(toks: Sequence[str], hits: Mapping[str, list[Hit]], words: QuestionWords) -> str | None:
    """Dutch verb-first questions: "Bezorgen jullie ...", "ontvang ik ..." (a clause opens with a word
    that is no conjunction, greeting or sentiment word, and a subject follows it)."""
    sentiment_words = {h[0] for h in hits.get("s.word") or ()}
    for i in range(1, len(toks)):
        if toks[i] not in words.subjects:
            continue
        verb = i - 1
        if verb and toks[verb - 1] not in CLAUSE_START:
            continue
        word = toks[verb]
        if word.isalpha() and len(word) >= 3 and word not in words.nonverbs and verb not in sentiment_words:
            return f"{word} {toks[i]}"
    return None


def decide(
    toks: Sequence[str],
    hits: Mapping[str, list[Hit]],
    words: QuestionWords,
    sentiment: float,
    mixed: bool,
    threat: Sequence[str],
    abuse: Sequence[str],
    shouting: bool,
    emphatic: bool,
) -> tuple[Intent, list[str]]:
    """Return the intent and its evidence."""
    if threat or abuse:
        return Intent.THREAT, ["rule: threat" if threat else "rule: abuse", *threat[:3], *abuse[:3]]

    get = hits.get
    if "m.verify" not in hits and ("m.claim" in hits or "m.hearsay" in hits):
        claims, hearsay = get("m.claim") or [], get("m.hearsay") or []
        changes = get("m.change") or []
        if claims or (hearsay and (changes or sentiment <= NEGATIVE)):
            return Intent.MISINFORMATION, ["rule: misinformation", *_texts([*hearsay, *claims, *changes])]

    spam = get("x.spam")
    if spam:
        return Intent.OTHER, ["rule: spam", *_texts(spam)]
    complaint = get("complaint") or ()
    rhetorical = get("q.rhet") or ()
    strength = len(complaint) + shouting + emphatic + bool(rhetorical)
    negative = sentiment <= NEGATIVE
    chitchat = get("x.chitchat")
    if chitchat and not (negative and strength >= 2):
        return Intent.OTHER, ["rule: chit-chat or news", *_texts(chitchat)]
    suggestion = get("suggestion")
    if suggestion and not (negative and strength >= 3):
        return Intent.SUGGESTION, ["rule: suggestion", *_texts(suggestion)]

    question = _question(toks, hits, words)
    if strength and (negative or mixed):
        if question and strength == 1 and not rhetorical and sentiment > -0.45:
            return Intent.QUESTION, ["rule: question (a problem, asked calmly)", *question]
        return Intent.COMPLAINT, ["rule: complaint", *_complaint_cues(complaint, rhetorical, shouting, emphatic)]
    if question:
        return Intent.QUESTION, ["rule: question", *question]
    if sentiment >= POSITIVE:
        return Intent.COMPLIMENT, ["rule: compliment (positive)", *_texts(get("compliment") or ())]
    if negative:
        return Intent.COMPLAINT, ["rule: complaint (negative)", *_complaint_cues(complaint, rhetorical, shouting, emphatic)]
    return Intent.OTHER, ["rule: other (no cue)"]


def _question(toks: Sequence[str], hits: Mapping[str, list[Hit]], words: QuestionWords) -> list[str]:
    """The question cues: a question mark, question phrases, clause openers, a Dutch verb-first clause."""
    found = ["?"] if "?" in toks else []
    phrases = _texts(hits.get("q.phrase") or (), 3)
    openers = _clause_openers(toks, hits, words)
    if phrases or openers:
        found += list(dict.fromkeys([*phrases, *openers]))[:3]
    elif not found:
        inversion = _inversion(toks, hits, words)
        if inversion:
            found.append(inversion)
    return found


def _complaint_cues(complaint: Sequence[Hit], rhetorical: Sequence[Hit], shouting: bool, emphatic: bool) -> list[str]:
    return [*_texts(complaint), *(["CAPS"] if shouting else []), *(["?!"] if emphatic else []), *_texts(rhetorical, 2)]
