"""Surge detection per organisation, topic and thread: a seasonal baseline and a Poisson CUSUM.

Every mention is counted in each of its scopes (`org`, `topic:<name>`, `thread:<id>`) in buckets of
`surge.bucket` (1 minute). Two counts per bucket: messages, and *new* authors (not seen in that
scope within `author_window`). A storm is many people; one person spamming or five people chatting
adds messages but hardly any new authors, and a level also needs `min_authors` distinct authors since
the surge started.

Per scope and count, a one-sided Poisson CUSUM `S = max(0, S + x·ln(λ1/λ0) − (λ1 − λ0))` tests the
expected rate λ0 against λ1 = max(jump·λ0, λ0 + floor): the likelihood-ratio CUSUM, which is optimal
(Lorden; Moustakides) for a jump in a Poisson rate. λ0 comes from the scope's seasonal baseline
(bot.surge.baseline) for the organisation and topics; a thread's λ0 is `thread_share` of the
organisation's at that hour, at least `thread_per_hour` (most threads are quiet). A level is reached
when both statistics reach its threshold h (from the level's false alarms per month, see
bot.surge.stats) and enough distinct authors took part. The open bucket is evaluated at every
message, with its whole drift already charged, so an alarm never waits for the minute to end and
mid-bucket checks add no false alarms. A fast path alarms at once when one bucket's count alone has
a Poisson tail probability below its share of the budget (a Shewhart rule for very large jumps).

Episodes. A scope reports `raised` when it reaches a level above its current one (so watch → alert →
crisis, never the same level twice), and `resolved` after `resolve_after` below the watch threshold.
The statistic is capped a little above the crisis threshold so a huge storm does not take hours to
drain. Within `cooldown` after a resolution, a new surge of the same scope is reported only when it
goes higher than the last one did. The baseline learns ten times slower while a surge is on or
suspected; while a scope warms up it learns everything and its CUSUMs stay at zero.

Memory. The organisation and each topic keep a baseline (2 × 168 rates); threads only counters and
the authors of the last `author_window`. A thread's detector is created at its first message and
dropped after `thread_idle` without messages (unless in a surge); never more than `max_threads` live
(the least recently active quiet ones go first). With the defaults a thread costs ~1 KB plus ~100
bytes per recent author: 20,000 threads ≈ 20-40 MB.

Deterministic: time is only what the caller passes (`at`, aware datetimes); authors are hashed with
BLAKE2b (not Python's salted hash), so the state holds no handles and round-trips through JSON.
Messages that arrive late (before the scope's open bucket) count in the open bucket; messages more
than `max_lateness` older than the latest time seen are not counted at all.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, cast

from bot.surge.baseline import AUTHOR_RATIO, SeasonalBaseline
from bot.surge.config import LEVEL_NAMES, SurgeConfig
from bot.surge.events import LevelName, ScopeKind, SurgeEvent, severity
from bot.surge.scope import Scope, scope_kind
from bot.surge.stats import (
    SCOPE_KINDS,
    cusum_threshold,
    fast_tail_probability,
    poisson_tail_count,
    week_curve,
)

STATE_VERSION = 1
CAP_ABOVE_TOP = 2.0  # the CUSUM is capped this far above the crisis threshold
RATIO_PSEUDO_PER_HOUR = 3.0  # messages/hour added to both sides of the busy-day ratio
SUSPECT_WEIGHT = 0.1  # the baseline learns this much slower while a surge is on or suspected


def author_hash(author: str) -> int:
    """A stable 48-bit hash of an author id (no handles in the state)."""
    return int.from_bytes(hashlib.blake2b(author.encode("utf-8"), digest_size=6).digest(), "big")


class Detector:
    """Watches every scope of one organisation; feed it mentions with `observe`, the clock with `tick`."""

    def __init__(self, config: SurgeConfig, tz: tzinfo = UTC) -> None:
        self.config = config
        self._tz = tz
        bs = config.bucket.total_seconds()
        self._bs = bs
        per_bucket = config.prior_per_day * bs / 86400
        self._prior = {"org": [per_bucket * c for c in week_curve()]}
        self._prior["topic"] = [p * config.topic_share for p in self._prior["org"]]
        levels = config.levels.ordered()
        share = 1 - config.fast_share
        self._h = {k: tuple(cusum_threshold(lv.false_alarms_per_month, bs, k, share) for lv in levels)
                   for k in SCOPE_KINDS}
        self._fast_p = {k: tuple(fast_tail_probability(lv.false_alarms_per_month, bs, k, config.fast_share)
                                 for lv in levels) for k in SCOPE_KINDS}
        self._cap = {k: self._h[k][-1] + CAP_ABOVE_TOP for k in SCOPE_KINDS}
        self._min_authors = tuple(lv.min_authors for lv in levels)
        slot_obs_per_half_life = config.half_life / timedelta(weeks=1) * (3600 / bs)
        self._alpha = 1 - 0.5 ** (1 / max(1.0, slot_obs_per_half_life))
        self._beta = 1 - 0.5 ** (1 / max(1.0, config.level_half_life.total_seconds() / bs))
        self._gamma = 1 - 0.5 ** (1 / max(1.0, config.recent_half_life.total_seconds() / bs))
        self._pseudo = RATIO_PSEUDO_PER_HOUR * bs / 3600
        self._floor = config.floor_per_hour * bs / 3600
        self._thread_min = config.thread_per_hour * bs / 3600

        def buckets(d: timedelta) -> int:
            return max(1, math.ceil(d.total_seconds() / bs))

        self._window_n = buckets(config.author_window)
        self._resolve_n = buckets(config.resolve_after)
        self._idle_n = buckets(config.thread_idle)
        self._cooldown_n = buckets(config.cooldown)
        self._warmup_n = 0 if config.warmup.total_seconds() <= 0 else buckets(config.warmup)
        self._scopes: dict[str, Scope] = {}  # org and topics
        self._threads: OrderedDict[str, Scope] = OrderedDict()  # least recently active first
        self._hot: set[str] = set()  # threads in a surge (tick resolves them)
        self._slots: dict[int, int] = {}
        self._swept = -1
        self._late_n = int(config.max_lateness.total_seconds() // bs)
        self._now = -1  # the latest bucket seen by observe or tick
        self.peak_threads = 0
        self.dropped_late = 0

    # --- public -------------------------------------------------------------------------------

    def observe(self, at: datetime, scope_keys: Iterable[str], author: str, *,
                negative: bool = False, threat: bool = False) -> list[SurgeEvent]:
        """Count one mention in each of its scopes; return the surges it raised or resolved.

        A mention more than `max_lateness` older than the latest time seen is not counted (backfill
        after an outage must not look like a storm).
        """
        b = self._bucket_of(at)
        events: list[SurgeEvent] = []
        if b < self._now - self._late_n:
            self.dropped_late += 1
            return events
        self._now = max(self._now, b)
        if b > self._swept:
            self._expire(b)
        ah = author_hash(author)
        for key in scope_keys:
            scope = self._get(key, b)
            self._roll(scope, b, events)
            last = scope.authors.get(ah)
            if last is None or b - last > self._window_n:
                scope.cur_a += 1
                scope.run_a += 1
            scope.authors[ah] = b
            scope.cur_m += 1
            if scope.run_start is None:
                scope.run_start = b
            scope.run_m += 1
            scope.run_neg += negative
            scope.run_threats += threat
            scope.last = b
            if scope.run_a >= self._min_authors[0]:
                self._check(scope, at, events)
        return events

    def tick(self, at: datetime) -> list[SurgeEvent]:
        """Close the buckets before `at` in the organisation, topic and surging thread scopes."""
        b = self._bucket_of(at)
        self._now = max(self._now, b)
        events: list[SurgeEvent] = []
        for scope in self._scopes.values():
            self._roll(scope, b, events)
        for key in sorted(self._hot):
            self._roll(self._threads[key], b, events)
        self._expire(b)
        return events

    @property
    def live_threads(self) -> int:
        """How many thread detectors are alive."""
        return len(self._threads)

    def statistic(self, key: str) -> tuple[float, float] | None:
        """The CUSUMs (messages, new authors) of a scope at its last closed bucket, or None."""
        scope = self._scopes.get(key) or self._threads.get(key)
        return None if scope is None else (scope.s_m, scope.s_a)

    def snapshot(self, key: str) -> tuple[SurgeEvent, datetime, float] | None:
        """A scope's figures now while its surge is announced: (figures since it started, the open
        bucket's start, that bucket's messages per hour so far), for an alert that updates as it grows."""
        scope = self._scopes.get(key) or self._threads.get(key)
        if scope is None or not scope.announced or not scope.level or scope.bucket is None:
            return None
        b = scope.bucket
        start = self._time_of(b)
        return self._event(scope, "raised", start, b), start, scope.cur_m * 3600 / self._bs

    def expected_per_hour(self, key: str, at: datetime) -> tuple[float, float]:
        """Expected (messages, new authors) per hour of a scope at `at` (its cold-start prior if unseen)."""
        kind = scope_kind(key)
        scope = self._scopes.get(key) or self._threads.get(key) or self._new_scope(key, kind)
        m0, a0, *_ = self._cusum_rates(scope, self._bucket_of(at))
        return m0 * 3600 / self._bs, a0 * 3600 / self._bs

    def to_json(self) -> str:
        """The whole state as JSON (see `from_json`); no author handles, only hashes."""
        return json.dumps(self.state(), separators=(",", ":"))

    def state(self) -> dict[str, Any]:
        """The whole state as a JSON-ready dict (what `to_json` writes), e.g. for a JSON column."""
        return {
            "version": STATE_VERSION,
            "bucket_seconds": self._bs,
            "now": self._now,
            "scopes": [s.to_json() for s in self._scopes.values()],
            "threads": [s.to_json() for s in self._threads.values()],
        }

    @classmethod
    def from_json(cls, text: str, config: SurgeConfig, tz: tzinfo = UTC) -> Detector:
        """Rebuild a detector from `to_json` output; a different bucket size starts afresh."""
        det = cls(config, tz)
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown surge state version {data.get('version')!r}")
        if float(data["bucket_seconds"]) != det._bs:
            return det
        det._now = int(data["now"])
        for raw in data["scopes"]:
            scope = Scope.from_json(raw)
            det._scopes[scope.key] = scope
        for raw in data["threads"]:
            scope = Scope.from_json(raw)
            det._threads[scope.key] = scope
            if scope.level:
                det._hot.add(scope.key)
        for scope in [*det._scopes.values(), *det._threads.values()]:
            if scope.bucket is not None:
                det._set_rates(scope, scope.bucket)
        return det

    # --- buckets ------------------------------------------------------------------------------

    def _bucket_of(self, at: datetime) -> int:
        if at.tzinfo is None:
            raise ValueError("surge detection needs aware datetimes")
        return int(at.timestamp() // self._bs)

    def _time_of(self, b: int) -> datetime:
        return datetime.fromtimestamp(b * self._bs, UTC)

    def _slot(self, b: int) -> int:
        hour = int(b * self._bs // 3600)
        slot = self._slots.get(hour)
        if slot is None:
            if len(self._slots) > 4096:
                self._slots.clear()
            local = datetime.fromtimestamp(hour * 3600, self._tz)
            slot = self._slots[hour] = local.weekday() * 24 + local.hour
        return slot

    def _new_scope(self, key: str, kind: str) -> Scope:
        base = None if kind == "thread" else SeasonalBaseline(sum(self._prior[kind]) / 168)
        return Scope(key, kind, base)

    def _get(self, key: str, b: int) -> Scope:
        scope = self._scopes.get(key)
        if scope is not None:
            return scope
        scope = self._threads.get(key)
        if scope is not None:
            self._threads.move_to_end(key)
            return scope
        kind = scope_kind(key)
        scope = self._new_scope(key, kind)
        if kind != "thread":
            self._scopes[key] = scope
            return scope
        if len(self._threads) >= self.config.max_threads:
            victim = next((k for k, s in self._threads.items() if not s.level), None)
            if victim is not None:
                del self._threads[victim]
        self._threads[key] = scope
        self.peak_threads = max(self.peak_threads, len(self._threads))
        return scope

    def _expire(self, b: int) -> None:
        self._swept = b
        idle_before = b - self._idle_n
        stale = []
        for key, scope in self._threads.items():
            if scope.last >= idle_before:
                break
            if not scope.level:
                stale.append(key)
        for key in stale:
            del self._threads[key]

    def _cusum_rates(self, scope: Scope, b: int) -> tuple[float, float, float, float, float, float]:
        slot = self._slot(b)
        if scope.kind == "thread":
            org = self._scopes.get("org")
            prior = self._prior["org"][slot]
            if org is not None and org.base is not None:
                om, oa = org.base.expected(slot, prior)
                ratio = org.base.ratio(self._pseudo)
                om, oa = om * ratio, oa * ratio
            else:
                om, oa = prior, prior * AUTHOR_RATIO
            share = self.config.thread_share
            m0, a0 = max(share * om, self._thread_min), max(share * oa, self._thread_min)
        else:
            assert scope.base is not None
            m0, a0 = scope.base.expected(slot, self._prior[scope.kind][slot])
            ratio = scope.base.ratio(self._pseudo)
            m0, a0 = m0 * ratio, a0 * ratio
        jump, floor = self.config.jump, self._floor
        m1, a1 = max(jump * m0, m0 + floor), max(jump * a0, a0 + floor)
        return m0, a0, math.log(m1 / m0), math.log(a1 / a0), m1 - m0, a1 - a0

    def _set_rates(self, scope: Scope, b: int) -> None:
        scope.m0, scope.a0, scope.lr_m, scope.lr_a, scope.d_m, scope.d_a = self._cusum_rates(scope, b)
        scope.fast_m = scope.fast_a = ()  # computed when first needed (see _check)

    def _roll(self, scope: Scope, b: int, events: list[SurgeEvent]) -> None:
        """Bring the scope's open bucket to `b`: close it, count the empty buckets between, open b."""
        if scope.bucket is None:
            scope.bucket = b
            self._set_rates(scope, b)
            return
        if b <= scope.bucket:
            return
        self._close(scope, events)
        self._advance(scope, scope.bucket + 1, b, events)
        scope.bucket = b
        scope.cur_m = scope.cur_a = 0
        self._set_rates(scope, b)

    def _close(self, scope: Scope, events: list[SurgeEvent]) -> None:
        b = cast(int, scope.bucket)
        cap = self._cap[scope.kind]
        scope.s_m = min(cap, max(0.0, scope.s_m + scope.cur_m * scope.lr_m - scope.d_m))
        scope.s_a = min(cap, max(0.0, scope.s_a + scope.cur_a * scope.lr_a - scope.d_a))
        if scope.base is not None:
            self._learn(scope, b, scope.cur_m, scope.cur_a, scope.m0, scope.a0)
        scope.prune_authors(b - self._window_n)
        self._after_bucket(scope, b, events)

    def _advance(self, scope: Scope, start: int, end: int, events: list[SurgeEvent]) -> None:
        """Count the empty buckets start..end-1."""
        bb = start
        while bb < end:
            quiet = not scope.level and scope.s_a <= 0 and scope.s_m <= 0
            if scope.kind == "thread" and not scope.level:
                k = end - bb
                scope.s_m = max(0.0, scope.s_m - k * scope.d_m)
                scope.s_a = max(0.0, scope.s_a - k * scope.d_a)
                if scope.s_a <= 0:
                    scope.reset_run()
                return
            if quiet and scope.base is not None:
                next_hour = int((bb * self._bs // 3600 + 1) * 3600 // self._bs)
                stop = min(end, next_hour)
                slot = self._slot(bb)
                scope.base.learn_empty(slot, self._prior[scope.kind][slot], stop - bb, self._alpha, self._beta,
                                       self._gamma)
                bb = stop
                continue
            if scope.base is None:
                d_m, d_a = scope.d_m, scope.d_a
            else:
                m0, a0, _, _, d_m, d_a = self._cusum_rates(scope, bb)
            scope.s_m = max(0.0, scope.s_m - d_m)
            scope.s_a = max(0.0, scope.s_a - d_a)
            if scope.base is not None:
                self._learn(scope, bb, 0, 0, m0, a0)
            self._after_bucket(scope, bb, events)
            bb += 1

    def _learn(self, scope: Scope, b: int, m: int, a: int, m0: float, a0: float) -> None:
        """Teach the baseline one closed bucket (after its CUSUM update)."""
        assert scope.base is not None
        if scope.base.seen < self._warmup_n:  # warming up: learn everything, accumulate nothing
            scope.s_m = scope.s_a = 0.0
            weight = 1.0
        else:
            h = self._h[scope.kind][0]
            weight = SUSPECT_WEIGHT if scope.level or scope.s_a >= h else 1.0
        slot = self._slot(b)
        scope.base.learn(slot, self._prior[scope.kind][slot], m, a, (m0, a0), self._alpha, self._beta,
                         self._gamma, weight)

    def _after_bucket(self, scope: Scope, b: int, events: list[SurgeEvent]) -> None:
        if not scope.level:
            if scope.s_a <= 0:
                scope.reset_run()
            return
        scope.calm = scope.calm + 1 if scope.s_a < self._h[scope.kind][0] else 0
        if scope.calm < self._resolve_n:
            return
        if scope.announced:
            events.append(self._event(scope, "resolved", self._time_of(b + 1), b))
            scope.resolved_peak = scope.level
        else:  # a surge kept silent by the cooldown extends it
            scope.resolved_peak = max(scope.level, scope.resolved_peak)
        scope.resolved_at = b
        scope.level = scope.announced = scope.calm = 0
        scope.reset_run()
        self._hot.discard(scope.key)

    # --- alarms -------------------------------------------------------------------------------

    def _check(self, scope: Scope, at: datetime, events: list[SurgeEvent]) -> None:
        if scope.base is not None and scope.base.seen < self._warmup_n:
            return
        h = self._h[scope.kind]
        if not scope.fast_m:
            ps = self._fast_p[scope.kind]
            scope.fast_m = tuple(poisson_tail_count(scope.m0, p) for p in ps)
            scope.fast_a = tuple(poisson_tail_count(scope.a0, p) for p in ps)
        ps_a = scope.s_a + scope.cur_a * scope.lr_a - scope.d_a
        ps_m = scope.s_m + scope.cur_m * scope.lr_m - scope.d_m
        level = 0
        for i in (2, 1, 0):
            if scope.run_a < self._min_authors[i]:
                continue
            if (ps_a >= h[i] and ps_m >= h[i]) or (scope.cur_a >= scope.fast_a[i]
                                                    and scope.cur_m >= scope.fast_m[i]):
                level = i + 1
                break
        if level <= scope.level:
            return
        scope.level = level
        scope.calm = 0
        if scope.kind == "thread":
            self._hot.add(scope.key)
        b = cast(int, scope.bucket)
        if (scope.resolved_at is not None and b - scope.resolved_at < self._cooldown_n
                and level <= scope.resolved_peak):
            return
        scope.announced = level
        events.append(self._event(scope, "raised", at, b))

    def _event(self, scope: Scope, state: str, at: datetime, b: int) -> SurgeEvent:
        start = scope.run_start if scope.run_start is not None else b
        hours = (b - start + 1) * self._bs / 3600
        rate = scope.run_m / hours
        expected = scope.m0 * 3600 / self._bs
        growth = rate / expected if expected > 0 else math.inf
        score, label = severity(growth, scope.run_neg / max(1, scope.run_m), scope.run_threats)
        return SurgeEvent(
            at=at, scope=cast(ScopeKind, scope.kind), key=scope.key,
            state="raised" if state == "raised" else "resolved",
            level=cast(LevelName, LEVEL_NAMES[scope.level - 1]), severity=label, score=score,
            started_at=self._time_of(start), messages=scope.run_m, authors=scope.run_a,
            negative=scope.run_neg, threats=scope.run_threats,
            rate_per_hour=round(rate, 2), expected_per_hour=round(expected, 3))
