"""Seasonal baseline of one scope: expected messages and new authors per bucket, by hour of week.

Three estimates are blended per hour-of-week slot:

- the slot's own history: an exponentially weighted mean of the counts seen in that slot (a running
  mean while the slot has few observations, then a fixed weight from `half_life`),
- the same for its hour of the day, pooled over all days (learns the daily curve in a day or two),
- the prior: the cold-start rate times the typical week curve, scaled by the scope's overall level,
  which is learned fast (`level_half_life`) from every bucket, so a wrong `prior_per_day` is forgotten
  within hours.

The slot's weight is n / (n + PRIOR_WEIGHT), n its number of observed buckets: after one week a slot
counts half, after four weeks 80 %; the rest goes to the hour of day, weighted the same way against
the prior (half after one day). Learning is robust to storms: the caller slows it down while a
surge is on or suspected (it learns ten times slower then, so a lasting change of level is
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


class SeasonalBaseline:
    """Expected counts per bucket of one scope, for messages (m) and new authors (a)."""

    __slots__ = ("est_m", "est_a", "n", "hod_m", "hod_a", "hod_n", "lvl_m", "lvl_a", "lvl_p", "lvl_n", "seen")

    def __init__(self, prior_mean: float) -> None:
        self.est_m = [0.0] * SLOTS
        self.est_a = [0.0] * SLOTS
        self.n = [0] * SLOTS
        self.hod_m = [0.0] * 24
        self.hod_a = [0.0] * 24
        self.hod_n = [0] * 24
        self.lvl_m = prior_mean
        self.lvl_a = prior_mean * AUTHOR_RATIO
        self.lvl_p = prior_mean
        self.lvl_n = 0
        self.seen = 0

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
              alpha: float, beta: float, weight: float = 1.0) -> None:
        """Learn one bucket's counts (capped near the expectation, so one burst moves little).

        `weight` < 1 slows learning down (while a surge is on or suspected).
        """
        em, ea = expected
        mc = min(float(m), em + 4 * math.sqrt(em) + 2)
        ac = min(float(a), ea + 4 * math.sqrt(ea) + 2)
        n = self.n[slot]
        rate = weight * max(alpha, 1.0 / (n + 1))
        self.est_m[slot] += rate * (mc - self.est_m[slot])
        self.est_a[slot] += rate * (ac - self.est_a[slot])
        self.n[slot] = n + 1
        hod = slot % 24
        nh = self.hod_n[hod]
        rate = weight * max(alpha, 1.0 / (nh + 1))
        self.hod_m[hod] += rate * (mc - self.hod_m[hod])
        self.hod_a[hod] += rate * (ac - self.hod_a[hod])
        self.hod_n[hod] = nh + 1
        lrate = weight * max(beta, 1.0 / (self.lvl_n + LEVEL_PRIOR_WEIGHT))
        self.lvl_m += lrate * (mc - self.lvl_m)
        self.lvl_a += lrate * (ac - self.lvl_a)
        self.lvl_p += lrate * (prior - self.lvl_p)
        self.lvl_n += 1
        self.seen += 1

    def learn_empty(self, slot: int, prior: float, k: int, alpha: float, beta: float) -> None:
        """Learn `k` empty buckets of one slot at once."""
        hod = slot % 24
        while k > 0 and (1.0 / (self.n[slot] + 1) > alpha or 1.0 / (self.hod_n[hod] + 1) > alpha
                         or 1.0 / (self.lvl_n + LEVEL_PRIOR_WEIGHT) > beta):
            self.learn(slot, prior, 0, 0, (MIN_RATE, MIN_RATE), alpha, beta)
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

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (rates rounded to 6 significant digits)."""
        return {
            "m": [float(f"{v:.6g}") for v in self.est_m],
            "a": [float(f"{v:.6g}") for v in self.est_a],
            "n": list(self.n),
            "hod": [[float(f"{v:.6g}") for v in self.hod_m], [float(f"{v:.6g}") for v in self.hod_a],
                    list(self.hod_n)],
            "level": [self.lvl_m, self.lvl_a, self.lvl_p, self.lvl_n],
            "seen": self.seen,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeasonalBaseline:
        """Rebuild from `to_json` output."""
        base = cls(1.0)
        base.est_m = [float(v) for v in data["m"]]
        base.est_a = [float(v) for v in data["a"]]
        base.n = [int(v) for v in data["n"]]
        hod_m, hod_a, hod_n = data["hod"]
        base.hod_m, base.hod_a = [float(v) for v in hod_m], [float(v) for v in hod_a]
        base.hod_n = [int(v) for v in hod_n]
        if len(base.hod_m) != 24 or len(base.hod_a) != 24 or len(base.hod_n) != 24:
            raise ValueError("a baseline has 24 hours of the day")
        if not len(base.est_m) == len(base.est_a) == len(base.n) == SLOTS:
            raise ValueError("a baseline has 168 slots")
        lvl_m, lvl_a, lvl_p, lvl_n = data["level"]
        base.lvl_m, base.lvl_a, base.lvl_p, base.lvl_n = float(lvl_m), float(lvl_a), float(lvl_p), int(lvl_n)
        base.seen = int(data["seen"])
        return base
