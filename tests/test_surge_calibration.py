"""Threshold calibration: under the Poisson model each level keeps within its false-alarm budget.

The budgets are a bound under the Poisson model (bot.surge.stats). These tests check that bound where
it applies: a bare CUSUM with the derived threshold on simulated Poisson counts, and the whole detector
(baseline learning, busy-day ratio, mid-bucket checks, fast path, episodes) on seasonal Poisson
traffic. Budgets are set high so that alarms are frequent enough to count; the figures are counts of
alarms in simulated time, never wall-clock time.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bot.surge import Detector, SurgeConfig
from bot.surge.stats import KIND_SHARE, MONTH_SECONDS, SCOPES_PER_KIND, cusum_threshold, week_curve

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
TOPICS = ("delivery", "store", "product", "campaign")
TOPIC_P = (0.4, 0.3, 0.2, 0.1)


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def test_threshold_follows_the_budget_split() -> None:
    # h = ln(ARL0): a budget five times smaller costs ln 5; ten nominal topics ln 10, a hundred threads ln 100
    h = cusum_threshold(0.25, 60, "org")
    assert cusum_threshold(0.05, 60, "org") - h == pytest.approx(math.log(5))
    assert cusum_threshold(0.25, 60, "topic") - h == pytest.approx(math.log(10))
    assert cusum_threshold(0.25, 60, "thread") - h == pytest.approx(math.log(100))
    assert cusum_threshold(0.25, 60, "org", share=0.9) - h == pytest.approx(-math.log(0.9))


def test_poisson_cusum_alarms_within_the_budget() -> None:
    # the likelihood-ratio CUSUM of one organisation scope, seasonal λ0 known, restarted after each alarm
    budget = 1000.0  # per month for the whole organisation: the org scope gets a third
    h = cusum_threshold(budget, 60, "org")
    curve = week_curve()
    rng = random.Random(5)
    buckets = 4 * 7 * 1440
    floor = 30 / 60
    s, alarms = 0.0, 0
    for b in range(buckets):
        lam0 = 0.5 * curve[(b // 60) % 168]
        lam1 = max(3 * lam0, lam0 + floor)
        s = max(0.0, s + _poisson(rng, lam0) * math.log(lam1 / lam0) - (lam1 - lam0))
        if s >= h:
            alarms += 1
            s = 0.0
    allowed = budget * KIND_SHARE / SCOPES_PER_KIND["org"] * buckets * 60 / MONTH_SECONDS
    assert 0 < alarms <= allowed


def test_detector_keeps_each_level_within_its_budget_on_poisson_traffic() -> None:
    budgets = {"watch": 1000.0, "alert": 100.0, "crisis": 10.0}
    config = SurgeConfig.model_validate(
        {"levels": {name: {"false_alarms_per_month": b, "min_authors": 1} for name, b in budgets.items()}})
    det = Detector(config)
    rng = random.Random(11)
    curve = week_curve()
    warm, measured, per_day = 7, 14, 600
    raised: Counter[tuple[str, str]] = Counter()
    n = 0
    for minute in range((warm + measured) * 1440):
        at = MONDAY + timedelta(minutes=minute)
        events = det.tick(at)
        lam = per_day / 1440 * curve[at.weekday() * 24 + at.hour]
        for _ in range(_poisson(rng, lam)):
            n += 1
            topic = rng.choices(TOPICS, TOPIC_P)[0]
            events += det.observe(at + timedelta(seconds=59 * rng.random()),
                                  ["org", f"topic:{topic}", f"thread:s{n}"], f"u{n}")
        if minute >= warm * 1440:
            raised.update((e.scope, e.level) for e in events if e.state == "raised")
    months = measured * 86400 / MONTH_SECONDS
    for level, budget in budgets.items():
        total = sum(c for (_, lv), c in raised.items() if lv == level)
        assert total <= budget * months, level
        for kind, scopes in (("org", 1), ("topic", len(TOPICS))):  # each kind within its own share
            share = budget * KIND_SHARE * scopes / SCOPES_PER_KIND[kind]
            assert raised[(kind, level)] <= share * months, (kind, level)
    assert raised[("org", "watch")] > 0  # the budgets are high enough that the test sees alarms
