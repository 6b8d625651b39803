"""Seasonal baseline of one scope: expected messages and new authors per bucket, by hour of week.

Three estimates are blended per hour-of-week slot:

- the slot's own history: an exponentially weighted mean of the counts seen in that slot (a running
  mean while the slot has few observations, then a fixed weight from `half_life`),
- the same for its hour of the day, pooled over all days (learns the daily curve in a day or two),
- the prior: the cold-start rate times the typical week curve, scaled by the scope's overall level,
  which is learned fast (`level_half_life`) from every bucket, so a wrong `prior_per_day` is forgotten
  within hours.

The slot's weight is n / (n + PRIOR_WEIGHT), n its number of observed buckets (a bucket learned
slowly counts as 0.1): after one week a slot counts half, after four weeks 80 %; the rest goes to
the hour of day, weighted the same way against the prior (half after one day). The blend is then
multiplied by a busy-day ratio: recent traffic against what the blend expected for it, over
`recent_half_life` (3 h), within 0.5..2, so a day that runs 40 % above normal (weather, a campaign)
is not a surge. Learning is robust to storms: the caller slows it down while a surge is on or
suspected (it learns ten times slower then, so a lasting change of level is
still learned, in days), and a count is capped at expected + 4·√expected + 2 before it is learned.
"""

from __future__ import annotations

import math
from typing import Any

SLOTS = 168
PRIOR_WEIGHT = 60.0  # buckets: a slot's own mean counts half after one week of 1-minute buckets
LEVEL_PRIOR_WEIGHT = 60.0  # buckets: the prior level counts like one hour of history
AUTHOR_RATIO = 0.85  # cold start: new authors per message
MIN_RATE = 1e-4  # per bucket: never expect exactly nothing
RATIO_MAX = 2.0  # the busy-day ratio stays within 1/2..2


class SeasonalBaseline:
    """Expected counts per bucket of one scope, for messages (m) and new authors (a)."""

    __slots__ = ("est_m", "est_a", "n", "hod_m", "hod_a", "hod_n", "lvl_m", "lvl_a", "lvl_p", "lvl_n",
                 "recent_x", "recent_e", "seen")

    def __init__(self, prior_mean: float) -> None:
        self.est_m = [0.0] * SLOTS
        self.est_a = [0.0] * SLOTS
        self.n = [0.0] * SLOTS
        self.hod_m = [0.0] * 24
        self.hod_a = [0.0] * 24
        self.hod_n = [0.0] * 24
        self.lvl_m = prior_mean
        self.lvl_a = prior_mean * AUTHOR_RATIO
        self.lvl_p = prior_mean
        self.lvl_n = 0.0
        self.recent_x = 0.0  # messages per bucket over the last hours ...
        self.recent_e = 0.0  # ... and what the seasonal estimate expected for them
        self.seen = 0

    def ratio(self, pseudo: float) -> float:
        """How busy the last hours were against the seasonal estimate (a busy day), within 0.5..2.

        `pseudo` (messages per bucket) is added to both sides, so a scope with little traffic stays
        near 1.
        """
        return min(RATIO_MAX, max(1 / RATIO_MAX, (self.recent_x + pseudo) / (self.recent_e + pseudo)))

    def expected(self, slot: int, prior: float) -> tuple[float, float]:
        """Expected (messages, new authors) in one bucket of `slot`, whose prior rate is `prior`."""
        n, hod = self.n[slot], slot % 24
        nh = self.hod_n[hod]
        w, wh = n / (n + PRIOR_WEIGHT), nh / (nh + PRIOR_WEIGHT)
        scale = prior / self.lvl_p
        m = wh * self.hod_m[hod] + (1 - wh) * self.lvl_m * scale
        a = wh * self.hod_a[hod] + (1 - wh) * self.lvl_a * scale
        m = w * self.est_m[slot] + (1 - w) * m
        a = w * self.est_a[slot] + (1 - w) * a
        return max(m, MIN_RATE), max(a, MIN_RATE)

    def learn(self, slot: int, prior: float, m: int, a: int, expected: tuple[float, float],
              alpha: float, beta: float, gamma: float, weight: float = 1.0) -> None:
        """Learn one bucket's counts (capped near `expected`, so one burst moves little).

        `alpha`, `beta`, `gamma`: learning rates of the slot, the level and the busy-day ratio;
        `weight` < 1 slows all of them down (while a surge is on or suspected).
        """
        em, ea = expected
        mc = min(float(m), em + 4 * math.sqrt(em) + 2)
        ac = min(float(a), ea + 4 * math.sqrt(ea) + 2)
        raw_m = self.expected(slot, prior)[0]
        g = weight * gamma
        self.recent_x += g * (mc - self.recent_x)
        self.recent_e += g * (raw_m - self.recent_e)
        n = self.n[slot] + weight
        rate = weight * max(alpha, 1.0 / n)
        self.est_m[slot] += rate * (mc - self.est_m[slot])
        self.est_a[slot] += rate * (ac - self.est_a[slot])
        self.n[slot] = n
        hod = slot % 24
        nh = self.hod_n[hod] + weight
        rate = weight * max(alpha, 1.0 / nh)
        self.hod_m[hod] += rate * (mc - self.hod_m[hod])
        self.hod_a[hod] += rate * (ac - self.hod_a[hod])
        self.hod_n[hod] = nh
        ln = self.lvl_n + weight
        lrate = weight * max(beta, 1.0 / (ln + LEVEL_PRIOR_WEIGHT))
        self.lvl_m += lrate * (mc - self.lvl_m)
        self.lvl_a += lrate * (ac - self.lvl_a)
        self.lvl_p += lrate * (prior - self.lvl_p)
        self.lvl_n = ln
        self.seen += 1

    def learn_empty(self, slot: int, prior: float, k: int, alpha: float, beta: float, gamma: float) -> None:
        """Learn `k` empty buckets of one slot at once."""
        raw_m = self.expected(slot, prior)[0]
        rkeep = (1 - gamma) ** k
        self.recent_x *= rkeep
        self.recent_e = rkeep * self.recent_e + (1 - rkeep) * raw_m
        hod = slot % 24
        while k > 0 and (1.0 / (self.n[slot] + 1) > alpha or 1.0 / (self.hod_n[hod] + 1) > alpha
                         or 1.0 / (self.lvl_n + 1 + LEVEL_PRIOR_WEIGHT) > beta):
            self._learn_zero(slot, prior, alpha, beta)
            k -= 1
        if k <= 0:
            return
        keep, lkeep = (1 - alpha) ** k, (1 - beta) ** k
        self.est_m[slot] *= keep
        self.est_a[slot] *= keep
        self.n[slot] += k
        self.hod_m[hod] *= keep
        self.hod_a[hod] *= keep
        self.hod_n[hod] += k
        self.lvl_m *= lkeep
        self.lvl_a *= lkeep
        self.lvl_p = lkeep * self.lvl_p + (1 - lkeep) * prior
        self.lvl_n += k
        self.seen += k

    def _learn_zero(self, slot: int, prior: float, alpha: float, beta: float) -> None:
        self.learn(slot, prior, 0, 0, (MIN_RATE, MIN_RATE), alpha, beta, 0.0)  # ratio already done

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (floats kept exact, so a restored detector decides exactly the same)."""
        return {
            "m": self.est_m,
            "a": self.est_a,
            "n": self.n,
            "hod": [self.hod_m, self.hod_a, self.hod_n],
            "level": [self.lvl_m, self.lvl_a, self.lvl_p, self.lvl_n],
            "recent": [self.recent_x, self.recent_e],
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeasonalBaseline:
        """Rebuild from `to_json` output."""
        base = cls(1.0)
        base.est_m = [float(v) for v in data["m"]]
        base.est_a = [float(v) for v in data["a"]]
        base.n = [float(v) for v in data["n"]]
        hod_m, hod_a, hod_n = data["hod"]
        base.hod_m, base.hod_a = [float(v) for v in hod_m], [float(v) for v in hod_a]
        base.hod_n = [float(v) for v in hod_n]
        if len(base.hod_m) != 24 or len(base.hod_a) != 24 or len(base.hod_n) != 24:
            raise ValueError("a baseline has 24 hours of the day")
        if not len(base.est_m) == len(base.est_a) == len(base.n) == SLOTS:
            raise ValueError("a baseline has 168 slots")
        lvl_m, lvl_a, lvl_p, lvl_n = data["level"]
        base.lvl_m, base.lvl_a, base.lvl_p, base.lvl_n = float(lvl_m), float(lvl_a), float(lvl_p), float(lvl_n)
        base.recent_x, base.recent_e = (float(v) for v in data["recent"])
        base.seen = int(data["seen"])
        return base
