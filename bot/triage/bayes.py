"""A tiny multinomial naive Bayes over words and word pairs: the tie-breaker when the rules are silent.

Trained on the development sets (eval/triage/dev.jsonl and train.jsonl, never eval or check) and shipped
as counts in bayes.json next to this file; loaded once, no downloads. It is asked only when the intent
rules fell through to a "no cue" fallback, never for threats, and its evidence is the words that
pushed most towards its answer.

    .venv/bin/python -m bot.triage.bayes      # retrain from the development sets, rewrite bayes.json
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

MODEL_PATH = Path(__file__).with_name("bayes.json")
_SKIP = frozenset({".", ",", ";", ":", "!", "?"})
MIN_COUNT = 2
"""Features seen fewer times than this in all training texts are dropped (they are mostly names)."""
ALPHA = 1.0


def features(toks: Sequence[str]) -> set[str]:
    """The words of a text and its pairs of neighbouring words (punctuation left out)."""
    words = [t for t in toks if t not in _SKIP]
    return {*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))}


class NaiveBayes:
    """Log-probabilities per class, from the counts in the model file."""

    def __init__(self, data: dict[str, object]) -> None:
        counts: dict[str, dict[str, int]] = data["counts"]  # type: ignore[assignment]
        priors: dict[str, int] = data["priors"]  # type: ignore[assignment]
        self.version = str(data.get("version", "0"))
        vocab = set().union(*counts.values()) if counts else set()
        total = sum(priors.values()) or 1
        self.classes = tuple(sorted(priors))
        self._prior = {k: math.log(priors[k] / total) for k in self.classes}
        self._weights: dict[str, dict[str, float]] = {}
        self._unseen: dict[str, float] = {}
        for k in self.classes:
            denominator = sum(counts[k].values()) + ALPHA * len(vocab)
            self._unseen[k] = math.log(ALPHA / denominator)
            self._weights[k] = {f: math.log((n + ALPHA) / denominator) for f, n in counts[k].items()}
        self.vocabulary = frozenset(vocab)
        # per feature, its weight in every class (in `classes` order), unseen ones filled in
        self._vectors = {
            f: tuple(self._weights[k].get(f, self._unseen[k]) for k in self.classes) for f in vocab
        }
        self._index = {k: i for i, k in enumerate(self.classes)}

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> NaiveBayes | None:
        """The shipped model, or None when there is no model file."""
        if not path.exists():
            return None
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def predict(self, toks: Sequence[str], allowed: Sequence[str]) -> tuple[str, list[str]]:
        """The most likely of the `allowed` classes and the (at most three) words that favoured it most."""
        vectors = self._vectors
        found = [(f, vectors[f]) for f in features(toks) if f in vectors]
        columns = [self._index[k] for k in allowed]
        scores = {i: self._prior[self.classes[i]] for i in columns}
        for _, vec in found:
            for i in columns:
                scores[i] += vec[i]
        best = max(columns, key=scores.__getitem__)
        others = [i for i in columns if i != best]
        lifts = [(vec[best] - max(vec[i] for i in others), f) for f, vec in found] if others else []
        top = [f for lift, f in sorted(lifts, reverse=True)[:3] if lift > 0]
        return self.classes[best], top


def train(rows: Iterable[dict[str, object]], tokens: Callable[[str], list[str]]) -> dict[str, object]:
    """Counts per intent of the features of the labelled rows (features seen at least MIN_COUNT times)."""
    rows = list(rows)
    per: dict[str, Counter[str]] = {}
    priors: Counter[str] = Counter()
    for row in rows:
        label = str(row["intent"])
        priors[label] += 1
        per.setdefault(label, Counter()).update(features(tokens(str(row["text"]))))
    overall: Counter[str] = Counter()
    for c in per.values():
        overall.update(c)
    keep = {f for f, n in overall.items() if n >= MIN_COUNT}
    counts = {k: {f: n for f, n in sorted(c.items()) if f in keep} for k, c in sorted(per.items())}
    return {
        "version": "1",
        "features": sum(len(c) for c in counts.values()),
        "trained_on": "eval/triage/dev.jsonl + eval/triage/train.jsonl",
        "priors": dict(sorted(priors.items())),
        "counts": counts,
    }


def main() -> None:
    """Retrain from the development sets and rewrite bayes.json."""
    from bot.triage.rules import RuleClassifier

    root = Path(__file__).resolve().parents[2] / "eval" / "triage"
    rows = [
        json.loads(line)
        for name in ("dev", "train")
        for line in (root / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    clf = RuleClassifier(bayes=False)
    data = train(rows, clf.tokens)
    MODEL_PATH.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{MODEL_PATH}: {len(rows)} texts, {data['features']} counts")


if __name__ == "__main__":
    main()
