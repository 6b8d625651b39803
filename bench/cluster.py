"""Near-duplicate clustering on a synthetic storm: texts/s and cluster quality (no database, one core).

The storm: `--templates` angry messages (Dutch and English, as on HEMA's post), each repeated with
variations (typos, stretched letters, emoji, casing, an @handle or link, an extra or dropped word),
mixed with `--noise` share of one-off messages. Printed as Markdown:

- texts/s: `Clusterer.assign` over the whole storm, after one warm-up run (`--repeat` runs, best).
- clusters: live clusters at the end; `storm clusters` those holding storm texts.
- purity: share of storm texts that are in a cluster whose majority template is their own.
- split: storm texts outside their template's biggest cluster (fragmentation).
- noise joined: one-off texts that landed in a cluster holding other texts.

    .venv/bin/python -m bench.cluster                      # 7,000 texts, thresholds 0.4 0.5 0.6
    .venv/bin/python -m bench.cluster --texts 50000 --threshold 0.5
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.surge.cluster import ClusterConfig, Clusterer  # noqa: E402

TEMPLATES = [
    "Schaam je HEMA, racisme hoort niet in deze tijd",
    "Ik kom nooit meer bij de HEMA, boycot",
    "Blijf met je handen van onze tradities af",
    "Zwarte Piet is een kinderfeest en geen racisme",
    "Waarom geeft HEMA nog steeds geen reactie op al die berichten",
    "Dit is het domste wat jullie ooit gepost hebben, verwijder dit",
    "Mijn kinderen zijn verdrietig door jullie keuze, bedankt HEMA",
    "Jullie marketingafdeling moet ontslagen worden",
    "Ik zeg mijn klantenkaart op na vandaag",
    "Goed zo HEMA, eindelijk een winkel die durft te kiezen",
    "Shame on you HEMA, this is not okay",
    "Never shopping at HEMA again after this post",
    "Wie heeft dit bedacht bij jullie op kantoor",
    "Eerst de rookworst duurder en nu dit weer",
    "Sinterklaas is van iedereen, laat het feest met rust",
    "Jullie luisteren niet naar je klanten, alleen naar een kleine groep",
    "Ik heb net al mijn bestellingen geannuleerd",
    "Typisch dat jullie de comments niet eens lezen",
    "Neem dit bericht meteen offline",
    "Respect voor deze stap, ga zo door",
]
EXTRA = ["echt", "gewoon", "!!!", "serieus", "bah", "toch", "hoor", "zeg", "pfff", "onbegrijpelijk",
         "nou", "wtf", "jammer", "schandalig"]
EMOJI = ["😡", "🤬", "👎", "🙄", "😤", "💩", "👍", "❤️", "🇳🇱", "😢"]
_NOISE = ("waar blijft mijn pakket bestelling retour kassabon filiaal openingstijden rookworst tompouce "
               "korting actie levering bezorgd gisteren vandaag morgen klantenservice bellen mail vraag "
               "antwoord factuur betaling ideal app inloggen wachtwoord account adres winkel medewerker "
               "vriendelijk snel traag duur goedkoop kwaliteit handdoek ondergoed sokken taart verjaardag "
               "cadeau bon garantie kapot omruilen maat kleur")
NOISE_WORDS = _NOISE.split()


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1:]  # dropped letter
    if kind == 1:
        return word[:i] + word[i] * rng.randint(3, 6) + word[i + 1:]  # stretched
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]  # swapped
    return word[:i] + rng.choice("aeiounrst") + word[i + 1:]  # replaced


def variant(template: str, rng: random.Random) -> str:
    words = template.split()
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        i = rng.randrange(len(words))
        words[i] = typo(words[i], rng)
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRA))
    if rng.random() < 0.1 and len(words) > 6:
        del words[rng.randrange(len(words))]
    text = " ".join(words)
    text = rng.choice([text, text.lower(), text.upper(), text])
    if rng.random() < 0.5:
        text += " " + "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.2:
        text = f"@{rng.choice(['HEMA', 'hemanl', 'jan'])} {text}"
    if rng.random() < 0.1:
        text += f" https://t.co/{rng.getrandbits(40):x}"
    if rng.random() < 0.3:
        text += rng.choice(["!", "!!!", "?!", ".", "..."])
    return text


def storm(n: int, templates: int, noise: float, seed: int) -> list[tuple[str, int]]:
    """(text, template index or -1 for a one-off message)."""
    rng = random.Random(seed)
    weights = [1 / (k + 1) for k in range(templates)]  # a few templates dominate, as in real storms
    out: list[tuple[str, int]] = []
    for _ in range(n):
        if rng.random() < noise:
            out.append((" ".join(rng.choice(NOISE_WORDS) for _ in range(rng.randint(3, 14))), -1))
        else:
            k = rng.choices(range(templates), weights)[0]
            out.append((variant(TEMPLATES[k % len(TEMPLATES)], rng), k))
    return out


def run(texts: list[tuple[str, int]], cfg: ClusterConfig) -> tuple[float, dict[str, float]]:
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    clusterer = Clusterer(cfg)
    t0 = time.perf_counter()
    ids = [clusterer.assign(text, at=start + timedelta(milliseconds=80 * i), scope="post").cluster_id
           for i, (text, _) in enumerate(texts)]
    elapsed = time.perf_counter() - t0
    members: dict[str, list[int]] = defaultdict(list)
    for cid, (_, label) in zip(ids, texts, strict=True):
        members[cid].append(label)
    storm_texts = sum(1 for _, label in texts if label >= 0)
    pure = noise_joined = 0
    biggest: dict[int, int] = Counter()
    for labels in members.values():
        counts = Counter(x for x in labels if x >= 0)
        if counts:
            top, n = counts.most_common(1)[0]
            pure += n
            biggest[top] = max(biggest[top], n)
        if len(labels) > 1:
            noise_joined += labels.count(-1)
    noise_total = len(texts) - storm_texts
    return len(texts) / elapsed, {
        "clusters": clusterer.size(),
        "storm_clusters": sum(1 for labels in members.values() if any(x >= 0 for x in labels)),
        "purity": pure / storm_texts if storm_texts else 1.0,
        "split": 1 - sum(biggest.values()) / storm_texts if storm_texts else 0.0,
        "noise_joined": noise_joined / noise_total if noise_total else 0.0,
        "evictions": clusterer.evictions,
    }


def memory(texts: list[tuple[str, int]], cfg: ClusterConfig) -> tuple[int, int]:
    """Bytes held by a clusterer after the storm, and its live clusters."""
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    clusterer = Clusterer(cfg)  # outside the traced window: numpy/scipy imports and LSH parameters
    tracemalloc.start()
    for text, _ in texts:
        clusterer.assign(text, at=start, scope="post")
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return size, clusterer.size()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=7000)
    parser.add_argument("--templates", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.2, help="share of one-off messages (default 0.2)")
    parser.add_argument("--threshold", type=float, nargs="+", default=[0.4, 0.5, 0.6])
    parser.add_argument("--num-perm", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    texts = storm(args.texts, args.templates, args.noise, args.seed)
    print(f"{args.texts} texts, {args.templates} templates, {args.noise:.0%} one-offs, "
          f"num_perm {args.num_perm}\n")
    print("| threshold | texts/s | clusters | storm clusters | purity | split | noise joined | evictions |")
    print("|---|---|---|---|---|---|---|---|")
    for threshold in args.threshold:
        cfg = ClusterConfig(threshold=threshold, num_perm=args.num_perm)
        run(texts[:500], cfg)  # warm-up
        best = 0.0
        for _ in range(args.repeat):
            rate, q = run(texts, cfg)
            best = max(best, rate)
        print(f"| {threshold} | {best:,.0f} | {q['clusters']:,} | {q['storm_clusters']:,} | "
              f"{q['purity']:.3f} | {q['split']:.3f} | {q['noise_joined']:.3f} | {q['evictions']:,} |")
    size, live = memory(texts, ClusterConfig(num_perm=args.num_perm))
    print(f"\nmemory after the storm (threshold 0.5): {size / 1e6:.1f} MB for {live:,} live clusters "
          f"({size / max(live, 1) / 1e3:.1f} kB per cluster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
