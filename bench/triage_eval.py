"""Triage classifier figures on a labelled set: intent, language, threat, sentiment, throughput.

    .venv/bin/python -m bench.triage_eval                 # eval/triage/eval.jsonl (held out), Markdown
    .venv/bin/python -m bench.triage_eval --set dev       # the tuning set
    .venv/bin/python -m bench.triage_eval --set train     # the larger hand-written development set
    .venv/bin/python -m bench.triage_eval --set dev+train # both development sets together
    .venv/bin/python -m bench.triage_eval --set check     # second held-out set (measure only, never tune)
    .venv/bin/python -m bench.triage_eval --json          # one JSON object
    .venv/bin/python -m bench.triage_eval --errors        # also every intent/sentiment error

A line of the set: {"id", "text", "lang": nl|en|other, "intent", "sentiment": -1|0|1, "threat": bool, "note"}.
Throughput classifies the whole set again and again for at least `--seconds` (2) in this one process.
Figures, not assertions: the exit status is 0 whatever the figures are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # allow `python bench/triage_eval.py` as well as `python -m bench.triage_eval`
    sys.path.insert(0, str(ROOT))

from bot.triage.model import Classification, Intent  # noqa: E402
from bot.triage.rules import RuleClassifier  # noqa: E402

INTENTS = [i.value for i in Intent]
NEUTRAL_BAND = 0.15
TARGETS = {
    "threat_recall": 0.95,
    "threat_fpr": 0.05,
    "intent_macro_f1": 0.80,
    "sentiment_sign": 0.80,
    "throughput": 20_000,
}


def load(path: Path) -> list[dict[str, Any]]:
    """Read a JSON Lines set; blank lines are skipped."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}:{n}: {exc}") from None
    return rows


def sign(value: float) -> int:
    """-1, 0 or 1, with |value| < NEUTRAL_BAND as 0."""
    return 0 if abs(value) < NEUTRAL_BAND else (1 if value > 0 else -1)


def prf(gold: Sequence[str], pred: Sequence[str]) -> tuple[dict[str, dict[str, float]], float]:
    """Per-class precision/recall/F1/support and the macro-F1 over the classes present in `gold`."""
    table = {}
    for cls in INTENTS:
        tp = sum(g == cls and p == cls for g, p in zip(gold, pred, strict=True))
        fp = sum(g != cls and p == cls for g, p in zip(gold, pred, strict=True))
        fn = sum(g == cls and p != cls for g, p in zip(gold, pred, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[cls] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    present = [c for c in INTENTS if table[c]["support"]]
    macro = sum(table[c]["f1"] for c in present) / len(present) if present else 0.0
    return table, macro


def group_figures(rows: list[dict[str, Any]], preds: list[Classification]) -> dict[str, Any]:
    """Every figure for one group of rows."""
    gold = [r["intent"] for r in rows]
    pred = [p.intent.value for p in preds]
    table, macro = prf(gold, pred)
    confusion = Counter(zip(gold, pred, strict=True))
    threats = [(r, p) for r, p in zip(rows, preds, strict=True) if r["threat"]]
    safe = [(r, p) for r, p in zip(rows, preds, strict=True) if not r["threat"]]
    return {
        "n": len(rows),
        "intent_macro_f1": macro,
        "intent_accuracy": sum(g == p for g, p in zip(gold, pred, strict=True)) / len(rows) if rows else 0.0,
        "per_class": table,
        "confusion": {f"{g}->{p}": n for (g, p), n in sorted(confusion.items())},
        "language_accuracy": sum(r["lang"] == p.language for r, p in zip(rows, preds, strict=True)) / len(rows)
        if rows
        else 0.0,
        "threats": len(threats),
        "threat_recall": sum(p.threat for _, p in threats) / len(threats) if threats else None,
        "threat_fpr": sum(p.threat for _, p in safe) / len(safe) if safe else None,
        "sentiment_sign": sum(
            sign(p.sentiment) == int(r["sentiment"]) for r, p in zip(rows, preds, strict=True)
        )
        / len(rows)
        if rows
        else 0.0,
    }


def throughput(clf: RuleClassifier, texts: list[str], seconds: float) -> dict[str, float]:
    """Classify `texts` again and again for at least `seconds` in this process (one core).

    Reports the overall rate (the figure), and the median and best rate of the single passes over the
    set: on a shared machine the spread between them shows how much other work slowed the run.
    """
    cold_start = time.perf_counter()
    for text in texts:
        clf.classify(text)
    cold = len(texts) / (time.perf_counter() - cold_start)
    passes: list[float] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        start = time.perf_counter()
        for text in texts:
            clf.classify(text)
        passes.append(time.perf_counter() - start)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    done = len(texts) * len(passes)
    rates = sorted(len(texts) / p for p in passes)
    return {
        "mentions": done,
        "seconds": wall,
        "per_second": done / wall,
        "per_cpu_second": done / cpu,
        "median_pass_per_second": rates[len(rates) // 2],
        "best_pass_per_second": rates[-1],
        "cold_per_second": cold,
        "us_per_mention": 1e6 * wall / done,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _mark(value: float | None, target: float, lower_is_better: bool = False) -> str:
    if value is None:
        return "–"
    ok = value <= target if lower_is_better else value >= target
    return "met" if ok else "**not met**"


def markdown(
    report: dict[str, Any], rows: list[dict[str, Any]], preds: list[Classification], errors: bool
) -> str:
    """The report as Markdown."""
    out = [
        f"# Triage classifier on `{report['set']}` ({report['n']} mentions)",
        "",
        f"Classifier version `{report['version']}`.",
        "",
    ]
    a, tp = report["groups"]["all"], report["throughput"]
    out += [
        "## Targets",
        "",
        "| figure | value | target | |",
        "|---|---|---|---|",
        f"| threat recall | {_pct(a['threat_recall'])} ({a['threats']} threats) | ≥ 95 % | "
        f"{_mark(a['threat_recall'], TARGETS['threat_recall'])} |",
        f"| threat false-positive rate | {_pct(a['threat_fpr'])} | ≤ 5 % | "
        f"{_mark(a['threat_fpr'], TARGETS['threat_fpr'], True)} |",
        f"| intent macro-F1 | {a['intent_macro_f1']:.3f} | ≥ 0.80 | "
        f"{_mark(a['intent_macro_f1'], TARGETS['intent_macro_f1'])} |",
        f"| sentiment sign agreement | {_pct(a['sentiment_sign'])} | ≥ 80 % | "
        f"{_mark(a['sentiment_sign'], TARGETS['sentiment_sign'])} |",
        f"| throughput (one core) | {tp['per_second']:,.0f} mentions/s | ≥ 20,000/s | "
        f"{_mark(tp['per_second'], TARGETS['throughput'])} |",
        "",
    ]
    out += [
        "## Per language",
        "",
        "| group | n | intent macro-F1 | intent accuracy | language accuracy | threat recall | threat FPR "
        "| sentiment sign |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, g in report["groups"].items():
        out.append(
            f"| {name} | {g['n']} | {g['intent_macro_f1']:.3f} | {_pct(g['intent_accuracy'])} | "
            f"{_pct(g['language_accuracy'])} | {_pct(g['threat_recall'])} ({g['threats']}) | "
            f"{_pct(g['threat_fpr'])} | {_pct(g['sentiment_sign'])} |"
        )
    out.append("")
    for name, g in report["groups"].items():
        out += [
            f"## Intent, {name}",
            "",
            "| intent | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for cls in INTENTS:
            c = g["per_class"][cls]
            out.append(f"| {cls} | {c['precision']:.2f} | {c['recall']:.2f} | {c['f1']:.2f} | {c['support']} |")
        out += [
            "",
            "Confusion (rows: label, columns: predicted):",
            "",
            "| label \\ predicted | " + " | ".join(INTENTS) + " |",
            "|---" * (len(INTENTS) + 1) + "|",
        ]
        for gold in INTENTS:
            cells = [str(g["confusion"].get(f"{gold}->{p}", "")) for p in INTENTS]
            out.append(f"| {gold} | " + " | ".join(cells) + " |")
        out.append("")
    out += [
        "## Throughput",
        "",
        f"{tp['mentions']:,} classifications in {tp['seconds']:.2f} s in one process: "
        f"**{tp['per_second']:,.0f} mentions/s** ({tp['us_per_mention']:.1f} µs each; "
        f"{tp['per_cpu_second']:,.0f} per CPU-second). Single passes over the set: median "
        f"{tp['median_pass_per_second']:,.0f}/s, best {tp['best_pass_per_second']:,.0f}/s; the first pass "
        f"(cold caches): {tp['cold_per_second']:,.0f}/s.",
        "",
    ]
    missed = [(r, p) for r, p in zip(rows, preds, strict=True) if r["threat"] and not p.threat]
    false = [(r, p) for r, p in zip(rows, preds, strict=True) if not r["threat"] and p.threat]
    out += (
        ["## Threats missed", ""]
        + [f"- `{r['id']}` {r['text']!r}" for r, _ in missed]
        + (["- none"] if not missed else [])
    )
    out += ["", "## Non-threats flagged", ""]
    out += [f"- `{r['id']}` {r['text']!r} — {'; '.join(p.threat_evidence)}" for r, p in false] or ["- none"]
    if errors:
        out += ["", "## Intent errors", ""]
        for r, p in zip(rows, preds, strict=True):
            if r["intent"] != p.intent.value:
                out.append(
                    f"- `{r['id']}` {r['intent']} → **{p.intent.value}** {r['text']!r} — "
                    f"{'; '.join(p.intent_evidence)} [s={p.sentiment}]"
                )
        out += ["", "## Sentiment errors", ""]
        for r, p in zip(rows, preds, strict=True):
            if sign(p.sentiment) != int(r["sentiment"]):
                out.append(
                    f"- `{r['id']}` {r['sentiment']} → **{p.sentiment}** {r['text']!r} — "
                    f"{'; '.join(p.sentiment_evidence)}"
                )
        out += ["", "## Language errors", ""]
        for r, p in zip(rows, preds, strict=True):
            if r["lang"] != p.language:
                out.append(
                    f"- `{r['id']}` {r['lang']} → **{p.language}** {r['text']!r} — "
                    f"{'; '.join(p.language_evidence)}"
                )
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set",
        choices=["eval", "dev", "train", "dev+train", "check"],
        default="eval",
        help="which labelled set (default eval; dev+train is the union of the two development sets; check is "
        "the second held-out set, for measuring only)",
    )
    parser.add_argument("--path", type=Path, help="another JSON Lines file in the same format")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of Markdown")
    parser.add_argument(
        "--errors", action="store_true", help="also list every intent, sentiment and language error"
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the throughput run (default 2)")
    args = parser.parse_args(argv)

    names = [args.path] if args.path else [ROOT / "eval" / "triage" / f"{n}.jsonl" for n in args.set.split("+")]
    missing = [p for p in names if not p.exists()]
    if missing:
        print(f"{missing[0]} does not exist (yet): no figures.")
        return 0
    rows = [row for p in names for row in load(p)]
    clf = RuleClassifier()
    preds = [clf.classify(r["text"]) for r in rows]
    groups = {"all": (rows, preds)}
    for lang in ("nl", "en", "other"):
        sel = [(r, p) for r, p in zip(rows, preds, strict=True) if r.get("lang") == lang]
        if sel:
            groups[lang] = ([r for r, _ in sel], [p for _, p in sel])
    report: dict[str, Any] = {
        "set": " + ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in names),
        "n": len(rows),
        "version": clf.version,
        "groups": {name: group_figures(r, p) for name, (r, p) in groups.items()},
        "throughput": throughput(clf, [r["text"] for r in rows], args.seconds),
    }
    report["targets"] = TARGETS
    report["missed_threats"] = [
        r["id"] for r, p in zip(rows, preds, strict=True) if r["threat"] and not p.threat
    ]
    report["false_threats"] = [
        r["id"] for r, p in zip(rows, preds, strict=True) if not r["threat"] and p.threat
    ]
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(markdown(report, rows, preds, args.errors), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
