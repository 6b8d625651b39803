"""Threats and abuse from the matches of threat.yaml (how its sections combine is described there)."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping, Sequence

from bot.triage.lexicon import Hit, Matcher

SENTENCE_END = frozenset({".", "?", "!"})
_ANY = frozenset(
    {"t.strong", "t.veiled", "t.weak", "t.weapon", "t.fire", "t.harm", "t.abuse"}
    | {"c.act", "c.appr", "a.noun", "a.curse"}
)
"""Without a match in one of these, there is nothing to detect."""
_SUBJECTS = frozenset({"you", "u", "ya", "they", "he", "she", "we", "i"})
_PRONOUNS = frozenset(
    [
        "je",
        "jij",
        "jou",
        "u",
        "you",
        "ya",
        "your",
        "jouw",
        "uw",
        "hem",
        "haar",
        "hen",
        "him",
        "her",
        "them",
        "iedereen",
        "everyone",
        "everybody",
        "allemaal",
        "ze",
        "zij",
        "they",
        "ge",
        "gij",
        "jullie",
        "mensen",
        "people",
    ]
)
"""Targets that are only a pronoun: in sport or gaming talk they are the other team, not our staff."""
_SCORE_RE = re.compile(r"(?<![\d-])\d{1,2} ?- ?\d{1,2}(?![\d-])")
"""A match score ("4-0", "2 - 1"): sport talk."""
_BLADES = frozenset({"🔪", "🔫", "🪓", "🗡"})
_SHORT = 4
"""A reply of at most this many words (emoji included) is short: a weapon in it needs no target word."""
EVIDENCE = 6
"""At most this many entries of each kind of evidence (a long text can repeat a threat many times)."""
REACH = 12
"""How far (in words) a condition or a wish reaches forward for a harm word."""
COMPOSE_TARGET = 10
"""How far (in words, either side, across sentences) a composed act looks for its target."""
COMPOSE_CUE = 20
"""How far (in words, either side) a composed act or approach looks for its cues."""
_CUES = (
    ("c.intent", "intent"),
    ("c.incite", "incitement"),
    ("t.someone", "incitement"),
    ("c.hyp", "hypothetical"),
    ("t.cond", "conditional"),
    ("c.time", "time"),
    ("c.where", "place"),
    ("c.warn", "warning"),
    ("c.group", "group"),
)
"""The kinds of cue that turn an act into a threat; an approach needs menace or two different kinds."""
_MENACE = ("c.menace", "c.group", "c.warn")
_NOT_PEOPLE = frozenset(
    ["your", "jouw", "uw", "ur", "je", "u", "ya", "huis", "house", "home", "thuis", "tent", "tentje", "zaak",
     "zaakje", "place", "store", "stores", "shop", "shops", "winkel", "winkels", "winkeltje", "filiaal",
     "filialen", "office", "offices", "kantoor", "gebouw", "pand", "building", "warehouse", "magazijn", "depot"]
)
"""Targets that are no addressee of an insult: possessives ("your app is ...") and places."""
_GROUPS = frozenset(["stelletje", "bende", "bunch", "lot", "stel", "troep", "clubje", "bande", "banda"])
"""Collective words that aim an insult at people ("stelletje ...", "bunch of ...")."""
_NEGATORS = frozenset(["geen", "niet", "not", "no", "nie", "ni", "never", "nooit"])
INSULT_REACH = 6
"""How far (in words, either side) an insult noun looks for the people it is aimed at."""


def _live(hits: Sequence[Hit], masks: Sequence[Hit]) -> list[Hit]:
    """The hits that touch no not-a-threat idiom."""
    if not masks:
        return list(hits)
    return [h for h in hits if not any(h[0] < m[1] and m[0] < h[1] for m in masks)]


def _near(hit: Hit, others: Sequence[Hit], starts: Sequence[int], window: int, english: bool) -> Hit | None:
    """The first of `others` (sorted by start) within `window` words of `hit`, on either side. In
    English a subject pronoun before the word is no target ("You've killed the recipe")."""
    i = bisect_left(starts, hit[0] - window - 8)
    for other in others[i:]:
        if other[0] > hit[1] - 1 + window:
            break
        if other[1] - 1 < hit[0] - window or (other[0] >= hit[0] and other[1] <= hit[1]):
            continue
        if english and other[0] < hit[0] and other[2] in _SUBJECTS:
            continue
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
    toks: list[str],
    hits: Mapping[str, list[Hit]],
    context: Matcher,
    window: int,
    praise: bool,
    english: bool,
    text: str = "",
    sentiment: float = 0.0,
) -> tuple[list[str], list[str]]:
    """Return (threat evidence, abuse evidence); each entry names the rule and the words.

    `context` matches targets, places and conditions; it runs only when a violent word was found that
    no idiom explains ("dood van het lachen" stops here).
    """
    if _ANY.isdisjoint(hits):
        return [], []
    masks = hits.get("t.not", ())
    strong = _live(hits.get("t.strong", ()), masks)
    veiled = _live(hits.get("t.veiled", ()), masks)
    weak = _live(hits.get("t.weak", ()), masks)
    weapons = _live(hits.get("t.weapon", ()), masks) if not praise else []  # "the bomb 💣" is praise
    fire = hits.get("t.fire", ()) if not praise else ()
    harm = _live(hits.get("t.harm", ()), masks)
    abuse = list(
        dict.fromkeys(
            f"abuse: {h[2]}"
            for h in _live(hits.get("t.abuse", ()), masks)
            if h[1] - h[0] > 1 or not _self_or_denied(toks, h[0])
        )
    )[:EVIDENCE]
    evidence = [f"threat: {h[2]}" for h in strong] + [f"veiled threat: {h[2]}" for h in veiled]
    found: Mapping[str, list[Hit]] | None = None
    acts = _live(hits.get("c.act", ()), masks)
    approaches = hits.get("c.appr", ()) if sentiment <= 0 else ()
    if weak or weapons or fire or harm or "t.someone" in hits or acts or approaches:
        found = context.scan(toks)
        both = {**hits, **found}
        if (acts or approaches) and not praise:
            evidence += _composed(toks, both, acts, approaches, weapons, english)
        evidence += _in_context(
            toks,
            both,
            window,
            english,
            weak,
            weapons,
            fire,
            sorted(weak + harm + strong),
        )
    if not abuse and ("a.noun" in hits or "a.curse" in hits):
        if found is None and "a.curse" not in hits:
            found = context.scan(toks)
        abuse = _aimed_abuse(toks, hits, found or {})
    if evidence and ("t.game" in hits or _SCORE_RE.search(text)):
        # sport or gaming talk ("afgeslacht op FIFA", "4-0"): only a staff member or a place makes it a threat
        if found is None:
            found = context.scan(toks)
        if all(t[2] in _PRONOUNS for t in found.get("t.target", ())):
            evidence = []
    return list(dict.fromkeys(evidence))[:EVIDENCE], abuse


def _in_context(
    toks: list[str],
    hits: Mapping[str, list[Hit]],
    window: int,
    english: bool,
    weak: Sequence[Hit],
    weapons: Sequence[Hit],
    fire: Sequence[Hit],
    harmful: Sequence[Hit],
) -> list[str]:
    """Evidence that needs the context: violence near a target, weapons or fire near a target or a
    place, harm after a condition or a wish ("als ... dan", "iemand zou ... moeten")."""
    evidence: list[str] = []
    targets = hits.get("t.target", ())
    target_starts = [t[0] for t in targets]
    for hit in weak:
        target = _near(hit, targets, target_starts, window, english)
        if target is not None:
            evidence.append(f"violence near target: {hit[2]} + {target[2]}")
    if len(weapons) >= 2:
        evidence.append("weapons: " + " ".join(w[2] for w in weapons[:4]))
    elif weapons:
        target = _near(weapons[0], targets, target_starts, window, english)
        if target is not None:
            evidence.append(f"weapon near target: {weapons[0][2]} + {target[2]}")
        elif (
            weapons[0][2] in _BLADES
            and "t.not" not in hits
            and sum(t not in SENTENCE_END for t in toks) <= _SHORT
        ):
            # a knife or a gun and hardly anything else, in a reply to us: aimed at whoever it answers
            evidence.append(f"weapon in a short reply: {weapons[0][2]}")
    places = hits.get("t.place", ())
    place_starts = [p[0] for p in places]
    for hit in fire:
        place = _near(hit, places, place_starts, window, english)
        if place is not None:
            evidence.append(f"fire near place: {hit[2]} + {place[2]}")
            break
    if harmful:
        for cat, name in (("t.cond", "conditional"), ("t.someone", "incitement"), ("t.visit", "menace")):
            for cue in hits.get(cat, ()):
                found = _after(cue, harmful, toks)
                if found is not None:
                    evidence.append(f"{name}: {cue[2]} … {found[2]}")
                    break
    return evidence


def _composed(
    toks: list[str],
    hits: Mapping[str, Sequence[Hit]],
    acts: Sequence[Hit],
    approaches: Sequence[Hit],
    weapons: Sequence[Hit],
    english: bool,
) -> list[str]:
    """Threats built from parts: (a cue) + (a harm act, or an approach with menace) + (a target).

    The act must have a target within COMPOSE_TARGET words; the cues are looked for within COMPOSE_CUE
    words of the act. An approach ("ik kom langs", "waiting outside") is only a threat with menace (a
    group, a warning, a menace phrase, a weapon) or with two different kinds of cue, and never next to
    a harmless reason for the visit ("ophalen", "opening", "demonstreren")."""
    targets = sorted(hits.get("t.target", ()))
    if not targets:
        return []
    starts = [t[0] for t in targets]
    evidence: list[str] = []

    def cues(hit: Hit) -> dict[str, Hit]:
        kinds: dict[str, Hit] = {}
        for cat, kind in _CUES:
            for cue in hits.get(cat, ()):
                near = abs(cue[0] - hit[0]) <= COMPOSE_CUE and not hit[0] <= cue[0] < hit[1]
                if near and kind not in kinds:
                    kinds[kind] = cue
        return kinds

    for act in acts:
        target = _near(act, targets, starts, COMPOSE_TARGET, english)
        if target is None:
            continue
        kinds = cues(act)
        if kinds:
            kind, cue = next(iter(kinds.items()))
            evidence.append(f"composed: {kind} {cue[2]} + act {act[2]} + target {target[2]}")
            break
    if evidence or not approaches or "c.not" in hits:
        return evidence
    for appr in approaches:
        target = _near(appr, targets, starts, COMPOSE_TARGET, english)
        if target is None:
            continue
        kinds = cues(appr)
        menace = next((h for cat in _MENACE for h in hits.get(cat, ())), None) or (
            weapons[0] if weapons else None
        )
        if menace is not None and kinds:
            evidence.append(f"composed: approach {appr[2]} + menace {menace[2]} + target {target[2]}")
            break
        if len(kinds) >= 2:
            shown = " + ".join(f"{k} {c[2]}" for k, c in list(kinds.items())[:3])
            evidence.append(f"composed: approach {appr[2]} + {shown} + target {target[2]}")
            break
    return evidence


def _aimed_abuse(toks: list[str], hits: Mapping[str, list[Hit]], found: Mapping[str, list[Hit]]) -> list[str]:
    """Abuse from parts: a directed curse ("rot op", "fuck you"), or an insult noun within INSULT_REACH
    words of the people it is aimed at (a target that is no possessive or place, or "stelletje",
    "bunch of"), and no negation right before the noun ("ik ben geen idioot")."""
    curses = hits.get("a.curse")
    if curses:
        return [f"abuse (directed curse): {curses[0][2]}"]
    targets = [t for t in found.get("t.target", ()) if t[2] not in _NOT_PEOPLE]
    for noun in hits.get("a.noun", ()):
        if _self_or_denied(toks, noun[0]):
            continue
        i = noun[0]
        lo, hi = max(0, i - INSULT_REACH), noun[1] + INSULT_REACH
        group = next((t for t in toks[lo:i] if t in _GROUPS), None)
        person = next((t[2] for t in targets if lo <= t[0] < hi and not i <= t[0] < noun[1]), group)
        if person is not None:
            return [f"abuse (insult aimed at people): {noun[2]} + {person}"]
    return []


_SELF = frozenset(["ik", "i", "i'm", "im", "'k", "me", "mij", "myself", "mezelf"])


def _self_or_denied(toks: Sequence[str], i: int) -> bool:
    """Whether the insult word at `i` is denied ("geen idioot", "not an idiot") or said of oneself ("ik
    ben een sukkel", "voel me een idioot", "I feel like an idiot"): three words back at most."""
    before = toks[max(0, i - 3) : i]
    if before and before[-1] in _NEGATORS:
        return True
    if len(before) >= 2 and before[-2] in _NEGATORS and before[-1] in ("een", "a", "an", "zo'n", "such"):
        return True
    return not _SELF.isdisjoint(before)
