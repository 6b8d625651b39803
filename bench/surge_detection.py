"""Surge detection on synthetic seasonal traffic: false alarms, recall, delay, beside an oracle CUSUM.

    .venv/bin/python -m bench.surge_detection                  # 100 org-months, seed 1, Markdown
    .venv/bin/python -m bench.surge_detection --months 20      # quicker
    .venv/bin/python -m bench.surge_detection --seed 1 2 3 4 5 6   # 600 org-months, pooled
    .venv/bin/python -m bench.surge_detection --json

Each organisation gets `--warmup` days (7) of history and then one measured month (30 days), both from
a cold start. Traffic, per organisation (all seeded):
- a volume of 50..2,000 mentions/day (log-uniform), a week curve (the typical one, each hour and the
  weekend factor perturbed per organisation) and a day-to-day factor (log-normal, σ 0.2);
- single mentions (own thread each, four topics with shares 40/30/20/10 %), 30 % negative;
- the organisation's own posts (2 a weekday, 1 a weekend day, 08-20 h), each drawing comments
  (log-normal count around 2.5 % of the daily volume, σ 0.5, decaying over 1.5-5 h; 30 % by repeat commenters);
- harmless bursts, about one a day: 3-6 authors, 10-60 messages within 5-30 minutes on one thread;
- in the measured month, two storms per organisation on one of its posts (10-120 min after it):
  100..8,000 messages (log-uniform), the rate rising linearly for 5..120 minutes and then decaying
  (time constant 30..180 min); 75 % of the messages from new authors, 85 % negative, 2 % threats.

False alarm: a raised event outside the storms' windows (first storm message to 6 h after the last),
or inside one on a thread other than the storm's. Counted per level reached (an episode going watch →
alert counts once for each), with an exact 95 % Poisson interval of the rate and the scope kind that
raised it: a level's budget is a few events per 100 org-months, so one seed's rate is a noisy figure.
A storm is detected at a level when its thread, topic or the organisation
reaches that level between its first and last message. The oracle is the CUSUM that knows the true
rates of the storm's thread (comment intensity of the post before, plus the storm's after), run on the
thread's real messages with the detector's thread threshold for the level, checked at every message.
Throughput: detector CPU time only (generation excluded), `tick` called every simulated minute.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # allow `python bench/surge_detection.py` as well as `-m bench.surge_detection`
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from bot.surge import Detector, SurgeConfig  # noqa: E402
from bot.surge.stats import MONTH_SECONDS, week_curve  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
DAY = 86400
TOPICS = ("delivery", "store", "product", "campaign")
TOPIC_P = (0.4, 0.3, 0.2, 0.1)
BANDS = (("100-300", 100, 300), ("300-1,500", 300, 1500), ("1,500+", 1500, 10**9))
HEMA_MIN = 5000  # "HEMA-size": about 7,000 messages
LEVELS = ("watch", "alert", "crisis")
KINDS = ("org", "topic", "thread")
TARGETS = {"false_alarms_alert": 0.25, "recall_1500": 0.99, "recall_300": 0.95, "hema_messages": 50}


@dataclass
class Storm:
    start: float
    size: int
    ramp: float  # minutes
    decay: float  # minutes
    thread: str
    topic: str
    times: list[float] = field(default_factory=list)
    post_time: float = 0.0
    post_count: float = 0.0
    post_tau: float = 1.0


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth below 30, normal approximation above)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def generate(rng: random.Random, warm_days: int, days: int) -> tuple[list[tuple[Any, ...]], list[Storm], float]:
    """One organisation: sorted messages (t, thread, topic, author, negative, threat, storm) and its storms."""
    volume = math.exp(rng.uniform(math.log(50), math.log(2000)))
    base = week_curve()
    weekend = rng.uniform(0.5, 0.9)
    curve = [v * math.exp(rng.gauss(0, 0.2)) * (weekend / 0.7 if i >= 120 else 1.0) for i, v in enumerate(base)]
    mean = sum(curve) / 168
    curve = [v / mean for v in curve]
    population = int(30 * volume) + 100
    msgs: list[tuple[Any, ...]] = []
    total_days = warm_days + days
    tid = 0
    posts: list[tuple[float, str, str, float, float]] = []  # (time, thread, topic, count, tau)

    def topic() -> str:
        return rng.choices(TOPICS, TOPIC_P)[0]

    for day in range(total_days):
        factor = math.exp(rng.gauss(0, 0.2))
        for hour in range(24):
            slot = (day % 7) * 24 + hour
            n = poisson(rng, 0.9 * volume / 24 * curve[slot] * factor)
            for _ in range(n):
                tid += 1
                t = day * DAY + hour * 3600 + rng.random() * 3600
                msgs.append((t, f"s{tid}", topic(), f"u{rng.randrange(population)}",
                             rng.random() < 0.3, rng.random() < 0.001, -1))
        for _ in range(2 if day % 7 < 5 else 1):
            tid += 1
            t = day * DAY + rng.uniform(8, 20) * 3600
            count = 0.025 * volume * math.exp(rng.gauss(-0.125, 0.5)) * factor
            tau = rng.uniform(90, 300) * 60
            thread, top = f"p{tid}", topic()
            posts.append((t, thread, top, count, tau))
            authors: list[str] = []
            for _ in range(poisson(rng, count)):
                if authors and rng.random() < 0.3:
                    author = rng.choice(authors)
                else:
                    author = f"u{rng.randrange(population)}"
                    authors.append(author)
                msgs.append((t + rng.expovariate(1 / tau), thread, top, author, rng.random() < 0.3, False, -1))
        for _ in range(poisson(rng, 1.0)):
            tid += 1
            t0 = day * DAY + rng.random() * DAY
            span = rng.uniform(5, 30) * 60
            people = [f"u{rng.randrange(population)}" for _ in range(rng.randint(3, 6))]
            thread, top = f"b{tid}", topic()
            for _ in range(rng.randint(10, 60)):
                msgs.append((t0 + rng.random() * span, thread, top, rng.choice(people),
                             rng.random() < 0.4, False, -1))
    storms: list[Storm] = []
    candidates = [p for p in posts if p[0] > warm_days * DAY + DAY and p[0] < total_days * DAY - DAY]
    rng.shuffle(candidates)
    for post in candidates:
        if len(storms) == 2:
            break
        if any(abs(post[0] - s.post_time) < 3 * DAY for s in storms):
            continue
        size = round(math.exp(rng.uniform(math.log(100), math.log(8000))))
        storm = Storm(start=post[0] + rng.uniform(10, 120) * 60, size=size, ramp=rng.uniform(5, 120),
                      decay=rng.uniform(30, 180), thread=post[1], topic=post[2], post_time=post[0],
                      post_count=post[3], post_tau=post[4])
        ramp_s, decay_s = storm.ramp * 60, storm.decay * 60
        p_ramp = (ramp_s / 2) / (ramp_s / 2 + decay_s)
        index = len(storms)
        authors = []
        for _ in range(size):
            if rng.random() < p_ramp:
                t = storm.start + ramp_s * math.sqrt(rng.random())
            else:
                t = storm.start + ramp_s + rng.expovariate(1 / decay_s)
            if authors and rng.random() < 0.25:
                author = rng.choice(authors)
            else:
                author = f"x{index}-{len(authors)}"
                authors.append(author)
            storm.times.append(t)
            msgs.append((t, storm.thread, storm.topic, author, rng.random() < 0.85, rng.random() < 0.02, index))
        storm.times.sort()
        storms.append(storm)
    msgs.sort(key=lambda m: m[0])
    return msgs, storms, volume


def oracle(storm: Storm, thread_times: list[float], h: float, bucket: float) -> float | None:
    """Time of the first alarm of a CUSUM that knows the thread's true rates (None: never)."""
    ramp_s, decay_s = storm.ramp * 60, storm.decay * 60
    peak = storm.size / (ramp_s / 2 + decay_s)  # per second

    def storm_mass(t: float) -> float:  # expected storm messages before t
        x = t - storm.start
        if x <= 0:
            return 0.0
        if x <= ramp_s:
            return peak * x * x / (2 * ramp_s)
        return peak * ramp_s / 2 + peak * decay_s * (1 - math.exp(-(x - ramp_s) / decay_s))

    def post_mass(t: float) -> float:
        x = max(0.0, t - storm.post_time)
        return storm.post_count * (1 - math.exp(-x / storm.post_tau))

    s, current, count, lr, drift = 0.0, None, 0, 0.0, 0.0
    for t in thread_times:
        b = int(t // bucket)
        if b != current:
            if current is not None:
                s = max(0.0, s + count * lr - drift)
                gap = b - current - 1
                if gap > 0:  # empty buckets: drift of each (rates known per bucket)
                    for e in range(current + 1, min(b, current + 1 + 10_000)):
                        lo, hi = e * bucket, (e + 1) * bucket
                        lam1 = max(1e-9, post_mass(hi) - post_mass(lo)) + storm_mass(hi) - storm_mass(lo)
                        s = max(0.0, s - (lam1 - max(1e-9, post_mass(hi) - post_mass(lo))))
            current, count = b, 0
            lo, hi = b * bucket, (b + 1) * bucket
            lam0 = max(1e-9, post_mass(hi) - post_mass(lo))
            lam1 = lam0 + storm_mass(hi) - storm_mass(lo)
            lr, drift = math.log(lam1 / lam0), lam1 - lam0
        count += 1
        if t >= storm.start and s + count * lr - drift >= h:
            return t
    return None


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`levels.alert.min_authors=20 jump=4` -> a nested dict for SurgeConfig (values as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        path, _, raw = item.partition("=")
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def run_org(args: tuple[int, int, int, int, dict[str, Any]]) -> dict[str, Any]:
    """Generate and replay one organisation-month; return its figures."""
    seed, index, warm_days, days, overrides = args
    rng = random.Random(seed * 100_003 + index)
    msgs, storms, volume = generate(rng, warm_days, days)
    config = SurgeConfig.model_validate(overrides)
    det = Detector(config)
    bucket = config.bucket.total_seconds()
    base_ts = T0.timestamp()
    events: list[tuple[float, str, str, str]] = []  # (t, key, state, level)
    cpu = time.process_time()
    next_tick = 0.0
    for t, thread, top, author, negative, threat, _storm in msgs:
        while next_tick <= t:
            for e in det.tick(datetime.fromtimestamp(base_ts + next_tick, UTC)):
                events.append((next_tick, e.key, e.state, e.level))
            next_tick += bucket
        at = datetime.fromtimestamp(base_ts + t, UTC)
        for e in det.observe(at, ("org", f"topic:{top}", f"thread:{thread}"), author,
                             negative=negative, threat=threat):
            events.append((t, e.key, e.state, e.level))
    cpu = time.process_time() - cpu
    # false alarms per level, per phase (warm-up week / measured month)
    windows = [(s.times[0], s.times[-1] + 6 * 3600, s) for s in storms]
    fa = {"warmup": [0, 0, 0], "month": [0, 0, 0]}
    fa_kind = {kind: [0, 0, 0] for kind in KINDS}  # measured month
    announced: dict[str, int] = {}
    fa_examples = []
    for t, key, state, level in events:
        if state == "resolved":
            announced.pop(key, None)
            continue
        lv = LEVELS.index(level) + 1
        before = announced.get(key, 0)
        announced[key] = lv
        related = any(lo <= t <= hi and key in ("org", f"topic:{s.topic}", f"thread:{s.thread}")
                      for lo, hi, s in windows)
        if related:
            continue
        phase = "warmup" if t < warm_days * DAY else "month"
        for i in range(before, lv):
            fa[phase][i] += 1
            if phase == "month":
                fa_kind[key.split(":")[0]][i] += 1
        if phase == "month" and len(fa_examples) < 5:
            fa_examples.append((round(t / 3600, 2), key, level))
    h_thread = det._h["thread"]
    storm_rows = []
    for s in storms:
        keys = ("org", f"topic:{s.topic}", f"thread:{s.thread}")
        first, last = s.times[0], s.times[-1]
        row: dict[str, Any] = {"size": s.size, "ramp": round(s.ramp, 1), "volume": round(volume)}
        thread_times = [m[0] for m in msgs if m[1] == s.thread]
        for i, level in enumerate(LEVELS):
            hit = next((e for e in events if e[2] == "raised" and first <= e[0] <= last and e[1] in keys
                        and LEVELS.index(e[3]) >= i), None)
            if hit is None:
                row[level] = None
            else:
                row[level] = {"delay_min": (hit[0] - first) / 60, "scope": hit[1].split(":")[0],
                              "messages": sum(1 for x in s.times if x <= hit[0])}
            o = oracle(s, thread_times, h_thread[i], bucket)
            row[f"oracle_{level}"] = None if o is None else {
                "delay_min": (o - first) / 60, "messages": sum(1 for x in s.times if x <= o)}
        storm_rows.append(row)
    return {"volume": volume, "messages": len(msgs), "cpu": cpu, "fa": fa, "fa_kind": fa_kind,
            "storms": storm_rows, "peak_threads": det.peak_threads, "fa_examples": fa_examples,
            "state_bytes": len(det.to_json())}


def poisson_cdf(k: int, lam: float) -> float:
    """P(X ≤ k) for X ~ Poisson(lam)."""
    if lam <= 0:
        return 1.0
    return sum(math.exp(i * math.log(lam) - lam - math.lgamma(i + 1)) for i in range(k + 1))


def poisson_interval(k: int, conf: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of a Poisson mean from one count `k`."""
    tail = (1 - conf) / 2

    def solve(too_high: Any) -> float:
        lo, hi = 0.0, 10.0 * k + 20.0
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if too_high(mid) else (mid, hi)
        return (lo + hi) / 2

    lower = 0.0 if k == 0 else solve(lambda lam: 1 - poisson_cdf(k - 1, lam) >= tail)
    return lower, solve(lambda lam: poisson_cdf(k, lam) <= tail)


def summarise(results: list[dict[str, Any]], warm_days: int, budgets: list[float], days: int) -> dict[str, Any]:
    """Aggregate figures over all organisation-months (an org-month: the measured `days`)."""
    months = len(results)
    exposure = months * days * DAY / MONTH_SECONDS  # in the budget's months (30.44 days)
    out: dict[str, Any] = {"org_months": months, "warmup_days": warm_days}
    out["false_alarms_per_org_month"] = {lv: sum(r["fa"]["month"][i] for r in results) / months
                                         for i, lv in enumerate(LEVELS)}
    levels = {}
    for i, lv in enumerate(LEVELS):
        k = sum(r["fa"]["month"][i] for r in results)
        lo, hi = poisson_interval(k)
        levels[lv] = {"events": k, "rate": k / months, "ci95": [lo / months, hi / months], "budget": budgets[i],
                      # one-sided: how likely this many or more, were the rate exactly the budget
                      "p_at_budget": 1 - poisson_cdf(k - 1, budgets[i] * exposure) if k else 1.0,
                      "by_kind": {kind: sum(r["fa_kind"][kind][i] for r in results) for kind in KINDS}}
    out["false_alarm_levels"] = levels
    out["false_alarms_warmup_week"] = {lv: sum(r["fa"]["warmup"][i] for r in results) / months
                                       for i, lv in enumerate(LEVELS)}
    storms = [s for r in results for s in r["storms"]]
    bands = []
    for name, lo, hi in (*BANDS, ("HEMA-size 5,000+", HEMA_MIN, 10**9)):
        group = [s for s in storms if lo <= s["size"] < hi]
        row: dict[str, Any] = {"band": name, "storms": len(group)}
        for level in LEVELS:
            hits = [s[level] for s in group if s[level] is not None]
            oracle_hits = [s[f"oracle_{level}"] for s in group if s[f"oracle_{level}"] is not None]
            row[level] = {
                "recall": len(hits) / len(group) if group else float("nan"),
                "median_delay_min": statistics.median([h["delay_min"] for h in hits]) if hits else None,
                "median_messages": statistics.median([h["messages"] for h in hits]) if hits else None,
                "max_messages": max([h["messages"] for h in hits]) if hits else None,
                "oracle_median_delay_min": statistics.median([h["delay_min"] for h in oracle_hits])
                if oracle_hits else None,
                "oracle_median_messages": statistics.median([h["messages"] for h in oracle_hits])
                if oracle_hits else None,
                "by_scope": {k: sum(1 for h in hits if h["scope"] == k) for k in ("thread", "topic", "org")},
            }
        bands.append(row)
    out["bands"] = bands
    out["missed_alert"] = [{k: s[k] for k in ("size", "ramp", "volume")} for s in storms if s["alert"] is None]
    total_msgs = sum(r["messages"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    out["messages"] = total_msgs
    out["throughput_per_s"] = total_msgs / cpu if cpu else float("nan")
    out["peak_live_threads"] = max(r["peak_threads"] for r in results)
    out["max_state_kib"] = max(r["state_bytes"] for r in results) / 1024
    out["fa_examples"] = [e for r in results for e in r["fa_examples"]][:10]
    return out


def fmt(v: Any, digits: int = 1) -> str:
    """A table cell."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(s: dict[str, Any], seconds: float) -> str:
    """The figures as Markdown tables."""
    seeds = ", ".join(map(str, s["seeds"]))
    lines = [f"{s['org_months']} org-months (seed {seeds}; after a {s['warmup_days']}-day warm-up each), "
             f"{s['messages']:,} mentions, wall {seconds:.0f} s.", "",
             "| false alarms per org-month | watch | alert | crisis |", "|---|---|---|---|"]
    fa, fw, fl = s["false_alarms_per_org_month"], s["false_alarms_warmup_week"], s["false_alarm_levels"]
    lines.append("| measured month | " + " | ".join(f"{fa[lv]:.3f}" for lv in LEVELS) + " |")
    lines.append("| 95 % interval (exact Poisson) | "
                 + " | ".join(f"{fl[lv]['ci95'][0]:.3f}-{fl[lv]['ci95'][1]:.3f}" for lv in LEVELS) + " |")
    lines.append("| budget | " + " | ".join(f"{fl[lv]['budget']:g}" for lv in LEVELS) + " |")
    lines.append("| P(this many or more \\| rate = budget) | "
                 + " | ".join(f"{fl[lv]['p_at_budget']:.2f}" for lv in LEVELS) + " |")
    lines.append("| events: org / topic / thread | " + " | ".join(
        f"{fl[lv]['events']}: " + " / ".join(str(fl[lv]['by_kind'][k]) for k in KINDS) for lv in LEVELS) + " |")
    lines.append("| warm-up week (cold start) | " + " | ".join(f"{fw[lv]:.2f}" for lv in LEVELS) + " |")
    lines += ["", "| storm size | storms | level | recall | median delay min | median msgs before alarm "
              "| max msgs | oracle median delay min | oracle median msgs | alarm scope thread/topic/org |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for row in s["bands"]:
        for level in LEVELS:
            c = row[level]
            scopes = "/".join(str(c["by_scope"][k]) for k in ("thread", "topic", "org"))
            cells = [row["band"], row["storms"], level, fmt(c["recall"], 3), fmt(c["median_delay_min"]),
                     fmt(c["median_messages"]), fmt(c["max_messages"]), fmt(c["oracle_median_delay_min"]),
                     fmt(c["oracle_median_messages"]), scopes]
            lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    lines += ["", f"Throughput: {s['throughput_per_s']:,.0f} mentions/s (detector CPU, 3 scopes per mention, "
              f"tick every simulated minute). Peak live thread detectors: {s['peak_live_threads']:,}; "
              f"largest JSON state: {s['max_state_kib']:,.0f} KiB."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=100, help="organisation-months (one org each)")
    parser.add_argument("--seed", type=int, nargs="+", default=[1],
                        help="one or more seeds; several are pooled (--months organisations each)")
    parser.add_argument("--warmup", type=int, default=7, help="days of history before the measured month")
    parser.add_argument("--days", type=int, default=30, help="days in a measured month")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="surge config overrides, e.g. jump=4 levels.alert.min_authors=20")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    overrides = parse_overrides(args.set)
    jobs = [(seed, i, args.warmup, args.days, overrides) for seed in args.seed for i in range(args.months)]
    if args.jobs > 1:
        with multiprocessing.Pool(args.jobs) as pool:
            results = pool.map(run_org, jobs, chunksize=1)
    else:
        results = [run_org(j) for j in jobs]
    budgets = [lv.false_alarms_per_month for lv in SurgeConfig.model_validate(overrides).levels.ordered()]
    summary = summarise(results, args.warmup, budgets, args.days)
    summary["seeds"] = args.seed
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**summary, "seconds": seconds, "targets": TARGETS}, indent=2))
    else:
        print(markdown(summary, seconds))


if __name__ == "__main__":
    main()
