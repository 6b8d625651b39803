"""The arithmetic of detection: CUSUM thresholds from false-alarm budgets, the Poisson tail, the prior curve.

Threshold of a Poisson CUSUM. The statistic is the log-likelihood-ratio CUSUM
`S = max(0, S + x·ln(λ1/λ0) − (λ1 − λ0))` for a count `x` per bucket. Lorden (1971) bounds its
in-control average run length by ARL0 ≥ e^h for *any* in-control rates, constant or (as here, with a
seasonal λ0) changing bucket by bucket, because e^S is dominated by a sum of likelihood-ratio
martingales. So `h = ln(ARL0)` keeps the false-alarm rate at or below its budget under the Poisson
model without a table per (λ0, λ1) pair. It is conservative: Siegmund's approximation puts the true
ARL0 a factor of a few above e^h for the jumps used here, i.e. h could be ~1 lower. On seasonal
Poisson traffic a bare CUSUM alarms at about a fifth of its share and the whole detector (learned
baseline, busy-day ratio, episodes) at a tenth to a fifth (tests/test_surge_calibration.py).

What the budget does not control. Real traffic is overdispersed (busy days, popular posts,
conversations). Its false alarms are long excursions, e.g. a popular post on a small topic, that pass
every level's h by several units, while the levels' thresholds are only ln 8 and ln 5 apart. On the
benchmark's traffic one unit more on h removes a fifth to two fifths of the false alarms (on Poisson
traffic about 60 %), and a false crisis is held back by `min_authors` rather than by h.
So on such traffic a level's false-alarm rate is measured (bench/surge_detection.py), not guaranteed,
and a smaller budget lowers it much less than in proportion (docs/BENCHMARKS.md, "Surge detection").

Budget per scope kind. A level's `false_alarms_per_month` is for the whole organisation. It is split
over the scope kinds in equal thirds and, within a kind, over a nominal number of concurrently
watched scopes (`SCOPES_PER_KIND`: 1 organisation, 10 topics, 100 threads), Bonferroni-style. The
logarithm makes this cheap: 100 threads cost ln(100) ≈ 4.6 on h. A share `fast_share` of the budget
goes to the one-bucket fast path (a Shewhart rule on the Poisson tail), the rest to the CUSUM.
The nominal counts are not live counts: a busy organisation has over 1,000 thread detectors alive,
and 14 topics ship. Lorden's bound alone does not cover that; the margin above does, because a quiet
scope's real chance of an alarm is far below e^-h (a thread at its floor needs five messages in one
minute to pass its watch threshold).
"""

from __future__ import annotations

import math

MONTH_SECONDS = 30.44 * 86400
SCOPE_KINDS = ("org", "topic", "thread")
SCOPES_PER_KIND = {"org": 1.0, "topic": 10.0, "thread": 100.0}
KIND_SHARE = 1.0 / len(SCOPE_KINDS)

# A typical webcare week (local time), mean 1: quiet nights, busy afternoons, weekends lower.
_WEEKDAY = (0.15, 0.10, 0.07, 0.06, 0.08, 0.15, 0.35, 0.70, 1.00, 1.20, 1.30, 1.35,
            1.35, 1.45, 1.55, 1.60, 1.55, 1.40, 1.20, 1.15, 1.10, 0.95, 0.65, 0.35)
_WEEKEND = (0.20, 0.14, 0.09, 0.06, 0.06, 0.08, 0.15, 0.30, 0.50, 0.70, 0.85, 0.95,
            1.00, 1.00, 1.00, 1.00, 0.95, 0.90, 0.85, 0.85, 0.80, 0.70, 0.50, 0.30)


def week_curve() -> list[float]:
    """Relative traffic per hour of the week (Monday 00:00 = slot 0), mean 1."""
    raw = [*(_WEEKDAY * 5), *(_WEEKEND * 2)]
    mean = sum(raw) / len(raw)
    return [v / mean for v in raw]


def cusum_threshold(false_alarms_per_month: float, bucket_seconds: float, kind: str,
                    share: float = 1.0) -> float:
    """h for one scope of `kind` so that the organisation's alarms stay within `share` of the budget."""
    buckets_per_month = MONTH_SECONDS / bucket_seconds
    per_scope = false_alarms_per_month * share * KIND_SHARE / SCOPES_PER_KIND[kind]
    return math.log(buckets_per_month / per_scope)


def fast_tail_probability(false_alarms_per_month: float, bucket_seconds: float, kind: str,
                          share: float) -> float:
    """Per-bucket probability allowed to the fast path of one scope of `kind`."""
    buckets_per_month = MONTH_SECONDS / bucket_seconds
    per_scope = false_alarms_per_month * share * KIND_SHARE / SCOPES_PER_KIND[kind]
    return per_scope / buckets_per_month


def poisson_tail_bound(lam: float, x: int) -> float:
    """An upper bound on P(X ≥ x) for X ~ Poisson(lam), tight for x well above lam (1 for x ≤ lam)."""
    if x <= lam + 1:
        return 1.0
    log_pmf = x * math.log(lam) - lam - math.lgamma(x + 1)
    return math.exp(log_pmf) * (x + 1) / (x + 1 - lam)


_TAIL_MEMO: dict[tuple[int, float], int] = {}
_TAIL_STEPS = 40  # λ quantised up to 2.5 % steps: never more sensitive than asked


def poisson_tail_count(lam: float, p: float) -> int:
    """The smallest count x ≥ 1 with P(X ≥ x) ≤ p for X ~ Poisson(lam) (λ rounded up, memoised)."""
    if p <= 0:
        return 1 << 40
    step = math.ceil(math.log(max(lam, 1e-9)) * _TAIL_STEPS)
    memo_key = (step, p)
    found = _TAIL_MEMO.get(memo_key)
    if found is not None:
        return found
    q = math.exp(step / _TAIL_STEPS)
    x = max(1, int(q) + 1)
    while poisson_tail_bound(q, x) > p:
        x += 1 if x < q + 10 else max(1, int(math.sqrt(q)) // 4)
    if len(_TAIL_MEMO) > 50_000:
        _TAIL_MEMO.clear()
    _TAIL_MEMO[memo_key] = x
    return x
