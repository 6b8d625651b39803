"""The `surge:` section of app.yaml: how storms are detected (bot.surge.detect reads it).

Keys (defaults in brackets):

- `bucket` [1m]: counting interval. Counts per bucket feed the CUSUMs; a level can still be reached
  in the middle of a bucket (see bot.surge.detect).
- `levels.watch|alert|crisis`: each with `false_alarms_per_month` [2 / 0.25 / 0.05] (the budget for
  the whole organisation, all scopes together, under the Poisson model; the CUSUM threshold of every
  level is derived from it; on overdispersed real traffic the rate is measured, not guaranteed: see
  bot.surge.stats) and `min_authors` [10 / 20 / 50] (distinct authors since the estimated
  start of the surge: one person spamming or a few people chatting is never a surge).
- `jump` [3.0]: the rise the CUSUM is tuned to detect, as a multiple of the expected rate ...
- `floor_per_hour` [30]: ... but at least this many more messages (and new authors) per hour.
- `prior_per_day` [200]: cold-start guess of the organisation's mentions per day, spread over the
  week by a typical curve (quiet nights, busy afternoons, quieter weekends) until history replaces it.
- `topic_share` [0.25]: cold-start share of a topic in the organisation's traffic.
- `thread_share` [0.2]: a thread's expected rate is this share of the organisation's expected rate
  at that hour of the week ...
- `thread_per_hour` [1.0]: ... but at least this (most threads are quiet; this is the tiny floor).
- `half_life` [28d]: memory of the seasonal baseline per hour-of-week slot.
- `level_half_life` [1d]: memory of the overall level (fast, so a wrong prior is forgotten soon).
- `recent_half_life` [3h]: memory of the busy-day ratio (recent traffic against the seasonal
  estimate, kept within 0.5..2), which scales the expectation of the organisation, topics and threads.
- `warmup` [12h]: organisation and topic scopes do not alarm before they have seen this much time
  (threads do: their floor is absolute).
- `author_window` [1h]: an author counts as new in a scope when not seen there for this long.
- `cooldown` [2h]: after a surge resolves, the same scope alarms again within this time only on a
  higher level than that surge reached.
- `resolve_after` [30m]: a surge is resolved after this long below the watch threshold.
- `thread_idle` [6h]: a quiet thread's detector is dropped after this long without messages.
- `max_threads` [20000]: at most this many thread detectors live; beyond it the least recently
  active quiet ones are dropped first.
- `max_lateness` [15m]: mentions older than this (against the latest time seen) are not counted,
  so a backfill after an outage is not a storm; later ones count in the current bucket.
- `fast_share` [0.1]: share of each level's false-alarm budget given to the one-bucket fast path.
- `check` [5s]: how often the runner counts new mentions (the delay of an alert, at most).
- `ack_within` [10m]: an alert nobody acknowledged by then is escalated to coordinators and managers.
- `card_every` [10s]: the storm card (one per surge in the mention channel, counting every collapsed
  message) is updated every `card_every` while the storm grows; a cluster card `card_every` after its
  state changes; the alert card every six `card_every` while the storm grows by a tenth, else every
  ten minutes.
- `card_min` [3]: a cluster gets a card of its own from this many messages (smaller ones are counted
  on the storm card); a cluster card says when it was counted, the storm card keeps counting.
- `cluster_cards` [5]: the largest groups (at most this many, or twice this many as others outgrow
  them) get a cluster card with bulk actions; the storm card counts and lists every group.
- `collapse` [true]: new messages on a thread in a surge join cluster cards instead of getting a card each.
- `security` [[]]: Slack user ids of the security/legal contacts, told of surges with threats.
- `cluster_threshold` [0.5]: estimated word similarity from which a message joins a cluster.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, model_validator

from bot.config_types import Duration, Strict
from bot.ids import PERSON_ID

LEVEL_NAMES = ("watch", "alert", "crisis")


class SurgeLevel(Strict):
    """One alarm level: its false-alarm budget and the distinct authors it needs."""

    false_alarms_per_month: float = Field(gt=0, le=1000, description="whole organisation, all scopes")
    min_authors: int = Field(ge=1, le=100_000, description="distinct authors since the surge started")


_LEVEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "watch": {"false_alarms_per_month": 2.0, "min_authors": 10},
    "alert": {"false_alarms_per_month": 0.25, "min_authors": 20},
    "crisis": {"false_alarms_per_month": 0.05, "min_authors": 50},
}


class SurgeLevels(Strict):
    """The three levels, from the most to the least sensitive (a level may give one key only)."""

    watch: SurgeLevel = SurgeLevel(**_LEVEL_DEFAULTS["watch"])
    alert: SurgeLevel = SurgeLevel(**_LEVEL_DEFAULTS["alert"])
    crisis: SurgeLevel = SurgeLevel(**_LEVEL_DEFAULTS["crisis"])

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: {**_LEVEL_DEFAULTS[k], **v} if k in _LEVEL_DEFAULTS and isinstance(v, dict) else v
                    for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> SurgeLevels:
        levels = [self.watch, self.alert, self.crisis]
        for lower, higher, name in zip(levels, levels[1:], LEVEL_NAMES[1:], strict=False):
            if higher.false_alarms_per_month > lower.false_alarms_per_month:
                raise ValueError(f"levels.{name}.false_alarms_per_month must not exceed the level below it")
            if higher.min_authors < lower.min_authors:
                raise ValueError(f"levels.{name}.min_authors must not be below the level below it")
        return self

    def ordered(self) -> list[SurgeLevel]:
        """watch, alert, crisis."""
        return [self.watch, self.alert, self.crisis]


class SurgeConfig(Strict):
    """Surge detection per organisation, topic and thread (every key: the module docstring)."""

    bucket: Duration = timedelta(minutes=1)
    levels: SurgeLevels = SurgeLevels()
    jump: float = Field(default=3.0, gt=1.0, le=100.0)
    floor_per_hour: float = Field(default=30.0, gt=0)
    prior_per_day: float = Field(default=200.0, gt=0)
    topic_share: float = Field(default=0.25, gt=0, le=1)
    thread_share: float = Field(default=0.2, gt=0, le=1)
    thread_per_hour: float = Field(default=1.0, gt=0)
    half_life: Duration = timedelta(days=28)
    level_half_life: Duration = timedelta(days=1)
    recent_half_life: Duration = timedelta(hours=3)
    warmup: Duration = timedelta(hours=12)
    author_window: Duration = timedelta(hours=1)
    cooldown: Duration = timedelta(hours=2)
    resolve_after: Duration = timedelta(minutes=30)
    thread_idle: Duration = timedelta(hours=6)
    max_threads: int = Field(default=20_000, ge=10)
    fast_share: float = Field(default=0.1, ge=0, lt=1)
    max_lateness: Duration = timedelta(minutes=15)
    # --- handling (bot.surge.runner, bot.services.surges) ---
    check: Duration = Field(default=timedelta(seconds=5), description="how often new mentions are counted")
    ack_within: Duration = Field(default=timedelta(minutes=10), description="unacknowledged: escalate")
    card_every: Duration = Field(default=timedelta(seconds=10), description="alert and cluster card updates")
    card_min: int = Field(default=3, ge=1, description="messages before a cluster gets a card of its own")
    cluster_cards: int = Field(default=5, ge=0, le=50, description="largest groups with a card of their own")
    collapse: bool = Field(default=True, description="a thread in a surge: cluster cards, not one card each")
    security: list[Annotated[str, Field(pattern=PERSON_ID)]] = Field(
        default_factory=list, description="security/legal contacts (Slack or Entra ids): told of threats")
    cluster_threshold: float = Field(default=0.5, gt=0, lt=1, description="similarity to join a cluster")

    @model_validator(mode="after")
    def _bucket_fits(self) -> SurgeConfig:
        seconds = self.bucket.total_seconds()
        if seconds < 10 or seconds > 3600 or 3600 % seconds:
            raise ValueError("bucket must divide an hour and be 10s..1h (e.g. 30s, 1m, 5m)")
        for name in ("author_window", "resolve_after", "thread_idle", "half_life", "level_half_life",
                     "recent_half_life"):
            if getattr(self, name) < self.bucket:
                raise ValueError(f"{name} must be at least one bucket")
        return self
