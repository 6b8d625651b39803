"""Threats and abuse from the matches of threat.yaml (how its sections combine is described there)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence

from bot.triage.lexicon import Hit, Matcher

SENTENCE_END = frozenset({".", "?", "!"})
_ANY = frozenset({"t.strong", "t.veiled", "t.weak", "t.weapon", "t.fire", "t.harm", "t.abuse"})
"""Without a match in one of these, there is nothing to detect."""
REACH = 12
"""How far (in words) a condition or a wish reaches forward for a harm word."""


def _live(hits: Sequence[Hit], masks: Sequence[Hit]) -> list[Hit]:
    """The hits that touch no not-a-threat idiom."""
    if not masks:
        return list(hits)
    return [h for h in hits if not any(h[0] < m[1] and m[0] < h[1] for m in masks)]


def _near(hit: Hit, others: Sequence[Hit], starts: Sequence[int], window: int) -> Hit | None:
    """The first of `others` (sorted by start) within `window` words of `hit`, on either side."""
    i = bisect_left(starts, hit[0] - window - 8)
    for other in others[i:]:
        if other[0] > hit[1] - 1 + window:
            break
        if other[1] - 1 >= hit[0] - window and not (other[0] >= hit[0] and other[1] <= hit[1]):
            return other
    return None


def _after(cue: Hit, candidates: Sequence[Hit], toks: Sequence[str]) -> Hit | None:
    """The first candidate starting after `cue` in the same sentence, at most REACH words on."""
    for cand in candidates:
        if cand[0] < cue[1]:
            continue
        if cand[0] - cue[1] > REACH or SENTENCE_END.intersection(toks[cue[1] : cand[0]]):
            return None
        return cand
    return None


def detect(
    toks: list[str], hits: Mapping[str, list[Hit]], context: Matcher, window: int, praise: bool
) -> tuple[list[str], list[str]]:
    """Return (threat evidence, abuse evidence); each entry names the rule and the words.

    `context` matches targets, places and conditions; it runs only when a violent word was found.
    """
    if _ANY.isdisjoint(hits):
        return [], []
    hits = {**hits, **context.scan(toks)}
    masks = hits.get("t.not", ())
    evidence: list[str] = []
    for _, _, text, _ in _live(hits.get("t.strong", ()), masks):
        evidence.append(f"threat: {text}")
    for _, _, text, _ in _live(hits.get("t.veiled", ()), masks):
        evidence.append(f"veiled threat: {text}")

    targets = hits.get("t.target", ())
    target_starts = [t[0] for t in targets]
    weak = _live(hits.get("t.weak", ()), masks)
    for hit in weak:
        target = _near(hit, targets, target_starts, window)
        if target is not None:
            evidence.append(f"violence near target: {hit[2]} + {target[2]}")

    weapons = _live(hits.get("t.weapon", ()), masks)
    if len(weapons) >= 2:
        evidence.append("weapons: " + " ".join(w[2] for w in weapons[:4]))
    elif weapons:
        target = _near(weapons[0], targets, target_starts, window)
        if target is not None:
            evidence.append(f"weapon near target: {weapons[0][2]} + {target[2]}")
    if not praise:
        places = hits.get("t.place", ())
        place_starts = [p[0] for p in places]
        for hit in hits.get("t.fire", ()):
            place = _near(hit, places, place_starts, window)
            if place is not None:
                evidence.append(f"fire near place: {hit[2]} + {place[2]}")
                break

    harmful = sorted(weak + _live(hits.get("t.harm", ()), masks) + _live(hits.get("t.strong", ()), masks))
    if harmful:
        for cat, name in (("t.cond", "conditional"), ("t.someone", "incitement")):
            for cue in hits.get(cat, ()):
                found = _after(cue, harmful, toks)
                if found is not None:
                    evidence.append(f"{name}: {cue[2]} … {found[2]}")
                    break

    abuse = [f"abuse: {h[2]}" for h in _live(hits.get("t.abuse", ()), masks)]
    return list(dict.fromkeys(evidence)), list(dict.fromkeys(abuse))
