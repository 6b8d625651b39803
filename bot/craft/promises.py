"""Promise detection in a reply ("we komen erop terug", "I'll get back to you"), with when it is due.

A reply that makes a promise is stored with it (replies.promise, replies.promise_due_at), so the
coordination work can track it: "belofte maakt schuld". The due time comes from the sentence that
makes the promise: a day ("morgen", "vandaag", "tomorrow", "vrijdag") is due at the end of that local
day, a span ("binnen 2 uur", "within the hour", "over een half uur") at the reply's time plus the span;
without either, `promises.default_due` after the reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.craft.lexicon import CraftLexicon, DueWords, load_lexicon
from bot.craft.text import sentences, tokens

PROMISE_VERSION = 1


@dataclass(frozen=True)
class Promise:
    """A promise made in a reply."""

    phrases: tuple[str, ...]
    language: str
    due_at: datetime
    due_from: Literal["hint", "default"]
    due_hint: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored form (replies.promise)."""
        return {"version": PROMISE_VERSION, "phrases": list(self.phrases), "language": self.language,
                "due_hint": self.due_hint, "due_at": self.due_at.isoformat(), "due_from": self.due_from}


def detect_promise(text: str, *, now: datetime, tz: ZoneInfo, default_due: timedelta,
                   lexicon: CraftLexicon | None = None) -> Promise | None:
    """The promise `text` makes (None if it makes none); `now` is when the reply is sent (aware)."""
    lex = lexicon or load_lexicon()
    phrases: list[str] = []
    language = ""
    due: tuple[datetime, str] | None = None
    for sentence in sentences(text):
        toks = tokens(sentence)
        hits = lex.scan(toks).get("promise", [])
        if not hits:
            continue
        phrases += [h[2] for h in hits]
        language = language or str(hits[0][3])
        found = due_hint(toks, now=now, tz=tz, words=lex.due)
        if found is not None and (due is None or found[0] < due[0]):
            due = found
    if not phrases:
        return None
    unique = tuple(dict.fromkeys(phrases))
    if due is None:
        return Promise(unique, language, now + default_due, "default")
    return Promise(unique, language, due[0], "hint", due[1])


def due_hint(toks: list[str], *, now: datetime, tz: ZoneInfo, words: DueWords) -> tuple[datetime, str] | None:
    """The earliest due time named in one sentence's tokens, with the words that name it."""
    local = now.astimezone(tz)
    found: list[tuple[datetime, str]] = []
    for i, tok in enumerate(toks):
        if tok in words.days:
            found.append((_end_of_day(local, words.days[tok]), tok))
        elif tok in words.weekdays:
            ahead = (words.weekdays[tok] - local.weekday()) % 7 or 7
            found.append((_end_of_day(local, ahead), tok))
        elif tok in words.span_words:
            span = _span(toks, i + 1, words)
            if span is not None:
                delta, end = span
                found.append((now + delta, " ".join(toks[i:end])))
    return min(found, key=lambda f: f[0]) if found else None


def _span(toks: list[str], i: int, words: DueWords) -> tuple[timedelta, int] | None:
    """A number (digits or words, "een half") and a unit from toks[i]: the span and the end index."""
    amount: float | None = None
    j = i
    while j < len(toks) and j < i + 2:
        tok = toks[j]
        if tok.isdigit():
            amount = float(tok)
        elif tok in words.numbers:
            amount = words.numbers[tok] if amount is None or tok == "half" else amount
            if tok == "half":
                amount = 0.5
        else:
            break
        j += 1
    if j < len(toks) and toks[j] in words.units:
        seconds = words.units[toks[j]] * (amount if amount is not None else 1.0)
        if amount is None and j != i:
            return None
        return timedelta(seconds=seconds), j + 1
    return None


def _end_of_day(local: datetime, days: int) -> datetime:
    day = (local + timedelta(days=days)).date()
    return datetime.combine(day, time(23, 59, 59), tzinfo=local.tzinfo)
