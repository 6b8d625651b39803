"""Surge detector: baseline, CUSUM levels, episodes, memory and state, on fixed synthetic times."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.surge import Detector, SurgeConfig, SurgeEvent
from bot.surge.stats import cusum_threshold, poisson_tail_count, week_curve

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def ordinary(det: Detector, start: datetime, days: float, per_day: float, seed: int = 1,
             curve: list[float] | None = None) -> tuple[list[SurgeEvent], datetime]:
    """Single mentions (one thread each) with a week curve; a tick every 10 minutes."""
    rng = random.Random(seed)
    curve = curve or week_curve()
    events: list[SurgeEvent] = []
    hours = int(days * 24)
    n = 0
    for h in range(hours):
        hour_start = start + timedelta(hours=h)
        slot = hour_start.weekday() * 24 + hour_start.hour
        times = sorted(rng.random() * 3600 for _ in range(_poisson(rng, per_day / 24 * curve[slot])))
        for s in times:
            n += 1
            at = hour_start + timedelta(seconds=s)
            topic = "delivery" if rng.random() < 0.6 else "store"
            events += det.observe(at, ["org", f"topic:{topic}", f"thread:s{seed}-{n}"],
                                  f"u{rng.randrange(100_000)}", negative=rng.random() < 0.3)
        for m in range(0, 60, 10):
            events += det.tick(hour_start + timedelta(minutes=m))
    return events, start + timedelta(hours=hours)


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def storm(det: Detector, start: datetime, size: int, ramp_minutes: float, thread: str = "thread:post1",
          prefix: str = "x") -> list[tuple[int, SurgeEvent]]:
    """A storm on one thread: rate rising linearly over the ramp; returns (storm message index, event)."""
    out = []
    for i in range(size):
        at = start + timedelta(minutes=ramp_minutes * math.sqrt((i + 1) / size))
        for e in det.observe(at, ["org", "topic:campaign", thread], f"{prefix}{i}", negative=i % 5 != 0,
                             threat=i % 97 == 13):
            out.append((i + 1, e))
    return out


def warmed(days: float = 3, per_day: float = 400) -> tuple[Detector, datetime]:
    det = Detector(SurgeConfig())
    events, now = ordinary(det, MONDAY, days, per_day)
    assert events == []
    return det, now


def test_cold_start_does_not_alarm_on_ordinary_traffic() -> None:
    # five times the cold-start prior (200/day), from the very first minute
    det = Detector(SurgeConfig())
    events, _ = ordinary(det, MONDAY, 4, 1000, seed=7)
    assert events == []


def test_harmless_burst_does_not_alarm() -> None:
    det, now = warmed()
    rng = random.Random(3)
    people = [f"chat{i}" for i in range(5)]
    events = []
    for i in range(40):
        at = now + timedelta(seconds=15 * i)
        events += det.observe(at, ["org", "topic:store", "thread:conversation"], rng.choice(people))
    events += det.tick(now + timedelta(hours=2))
    assert events == []


def test_one_person_spamming_does_not_alarm() -> None:
    det, now = warmed()
    events = []
    for i in range(300):
        events += det.observe(now + timedelta(seconds=2 * i), ["org", "thread:spam"], "spammer")
    assert events == []


def test_hema_like_ramp_alarms_at_thread_scope_within_50_messages() -> None:
    det, now = warmed()
    hits = storm(det, now + timedelta(minutes=17), 7000, 60)
    thread = [(i, e) for i, e in hits if e.scope == "thread" and e.state == "raised"]
    assert thread, "the thread scope must alarm"
    first_index, first = thread[0]
    assert first_index <= 50
    assert first.key == "thread:post1"
    alert = next(i for i, e in hits if e.state == "raised" and e.level == "alert")
    assert alert <= 50
    crisis = next(e for _, e in hits if e.scope == "thread" and e.level == "crisis")
    assert crisis.severity in ("high", "critical")
    assert crisis.negative > crisis.messages / 2
    assert crisis.growth > 10


def test_levels_escalate_and_realert_only_higher() -> None:
    det, now = warmed()
    hits = storm(det, now + timedelta(minutes=5), 3000, 30)
    for scope in ("org", "topic", "thread"):
        levels = [e.level for _, e in hits if e.scope == scope and e.state == "raised"]
        assert levels == sorted(set(levels), key=["watch", "alert", "crisis"].index), (scope, levels)
    thread_levels = [e.level for _, e in hits if e.scope == "thread"]
    assert thread_levels[-1] == "crisis"
    end = now + timedelta(minutes=35)
    resolved = det.tick(end + timedelta(hours=2))
    assert {e.key for e in resolved if e.state == "resolved"} >= {"thread:post1"}
    # a second storm on the same thread within the cooldown cannot go higher than crisis: silent
    again = storm(det, end + timedelta(hours=2, minutes=10), 3000, 30, prefix="y")
    assert [e for _, e in again if e.key == "thread:post1"] == []


def test_seasonal_baseline_learns_busy_afternoons() -> None:
    # an organisation busy only 13-18 h on weekdays, quiet otherwise: unlike the prior's shape
    flat_night = [0.05] * 168
    for day in range(5):
        for hour in range(13, 18):
            flat_night[day * 24 + hour] = 4.0
    det = Detector(SurgeConfig())
    prior_afternoon = det.expected_per_hour("org", MONDAY + timedelta(days=14, hours=15))[0]
    events, _ = ordinary(det, MONDAY, 14, 600, curve=flat_night)
    # the first afternoon is a surprise (nothing like it seen yet); from the second week it is normal
    assert [e for e in events if e.at >= MONDAY + timedelta(days=7)] == []
    afternoon = det.expected_per_hour("org", MONDAY + timedelta(days=14, hours=15))[0]
    night = det.expected_per_hour("org", MONDAY + timedelta(days=14, hours=3))[0]
    evening = det.expected_per_hour("org", MONDAY + timedelta(days=14, hours=20))[0]
    assert afternoon > 20 * night
    assert afternoon > 5 * evening
    assert afternoon > 2 * prior_afternoon


def test_state_round_trips_through_json() -> None:
    det, now = warmed(days=2)
    storm(det, now + timedelta(minutes=3), 200, 20)  # leaves surges open
    copy = Detector.from_json(det.to_json(), SurgeConfig())
    assert copy.to_json() == det.to_json()
    later = now + timedelta(minutes=30)
    a = storm(det, later, 500, 20, thread="thread:post2", prefix="z")
    b = storm(copy, later, 500, 20, thread="thread:post2", prefix="z")
    assert a == b and a
    assert det.tick(later + timedelta(hours=3)) == copy.tick(later + timedelta(hours=3))
    assert copy.to_json() == det.to_json()
    assert "x1" not in det.to_json()  # authors are hashed


def test_state_with_another_bucket_size_starts_afresh() -> None:
    det, _ = warmed(days=1)
    fresh = Detector.from_json(det.to_json(), SurgeConfig(bucket=timedelta(minutes=5)))
    assert fresh.live_threads == 0


def test_thread_detectors_expire_and_are_bounded() -> None:
    det = Detector(SurgeConfig(max_threads=50))
    for i in range(200):
        det.observe(MONDAY + timedelta(seconds=i), ["org", f"thread:t{i}"], f"u{i}")
    assert det.live_threads == 50
    det2, now = warmed(days=1)
    assert 0 < det2.live_threads < 400
    det2.tick(now + SurgeConfig().thread_idle + timedelta(minutes=2))
    assert det2.live_threads == 0


def test_deterministic() -> None:
    runs = []
    for _ in range(2):
        det, now = warmed(days=1)
        runs.append((storm(det, now, 1500, 45), det.to_json()))
    assert runs[0] == runs[1]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Detector(SurgeConfig()).observe(datetime(2026, 1, 5), ["org"], "u")


def test_scope_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="scope key"):
        Detector(SurgeConfig()).observe(MONDAY, ["account:x"], "u")


def test_config_levels_partial_and_ordered() -> None:
    config = SurgeConfig.model_validate({"levels": {"alert": {"min_authors": 25}}, "bucket": "30s"})
    assert config.levels.alert.min_authors == 25
    assert config.levels.alert.false_alarms_per_month == 0.25
    assert config.bucket == timedelta(seconds=30)
    with pytest.raises(ValidationError, match="crisis.false_alarms_per_month"):
        SurgeConfig.model_validate({"levels": {"crisis": {"false_alarms_per_month": 5}}})
    with pytest.raises(ValidationError, match="bucket"):
        SurgeConfig.model_validate({"bucket": "7m"})
    with pytest.raises(ValidationError, match="extra"):
        SurgeConfig.model_validate({"levels": {"panic": {"min_authors": 3}}})


def test_threshold_and_tail() -> None:
    # 0.25 a month, 1-minute buckets, organisation scope: ln(43,834 / (0.25 / 3)) ≈ 13.2
    assert cusum_threshold(0.25, 60, "org") == pytest.approx(math.log(43_833.6 / (0.25 / 3)), rel=1e-6)
    assert cusum_threshold(0.25, 60, "thread") > cusum_threshold(0.25, 60, "org")
    x = poisson_tail_count(2.0, 1e-6)
    tail = sum(math.exp(-2.0) * 2.0 ** k / math.factorial(k) for k in range(x, x + 60))
    below = sum(math.exp(-2.0) * 2.0 ** k / math.factorial(k) for k in range(x - 2, x + 60))
    assert tail <= 1e-6 < below


def test_backfill_after_an_outage_is_not_counted() -> None:
    det, now = warmed(days=1)
    events = []
    for i in range(3000):  # a day of missed mentions arriving at once, all on one thread
        events += det.observe(now - timedelta(hours=20) + timedelta(seconds=20 * i),
                              ["org", "thread:old"], f"b{i}")
    assert events == []
    assert det.dropped_late == 3000


def test_snapshot_follows_an_announced_surge_as_it_grows() -> None:
    det, now = warmed()
    assert det.snapshot("thread:post1") is None  # no surge, nothing to show
    hits = storm(det, now + timedelta(minutes=17), 2000, 30)
    crisis = next(e for _, e in hits if e.scope == "thread" and e.level == "crisis")
    snap = det.snapshot("thread:post1")
    assert snap is not None
    figures, bucket_start, rate = snap
    assert figures.messages == 2000 > crisis.messages  # the whole storm so far, not the figures at the alarm
    assert figures.level == "crisis" and figures.started_at <= crisis.started_at
    assert bucket_start.second == 0 and rate > 0  # the open bucket: its start and its rate so far
    assert det.snapshot("thread:quiet") is None
