"""The state of one watched scope (the organisation, a topic or a thread) and its JSON form."""

from __future__ import annotations

from typing import Any

from bot.surge.baseline import SeasonalBaseline


def scope_kind(key: str) -> str:
    """'org', 'topic' or 'thread' for a key `org`, `topic:<name>` or `thread:<id>`."""
    if key == "org":
        return "org"
    head, sep, rest = key.partition(":")
    if sep and rest and head in ("topic", "thread"):
        return head
    raise ValueError(f"a scope key is 'org', 'topic:<name>' or 'thread:<id>', got {key!r}")


class Scope:
    """Counters, CUSUMs, the current surge episode and (org/topic) the seasonal baseline of one scope.

    The *run* is the stretch since the CUSUM of new authors last left zero: its first bucket is the
    estimated start of the surge, and its counts are what an alert reports.
    """

    __slots__ = (
        "key", "kind", "base", "bucket", "cur_m", "cur_a", "s_m", "s_a",
        "m0", "a0", "lr_m", "lr_a", "d_m", "d_a", "fast_m", "fast_a",
        "authors", "prune_at", "run_start", "run_m", "run_a", "run_neg", "run_threats",
        "level", "announced", "calm", "resolved_at", "resolved_peak", "last",
    )

    def __init__(self, key: str, kind: str, base: SeasonalBaseline | None) -> None:
        self.key = key
        self.kind = kind
        self.base = base
        self.bucket: int | None = None  # the open bucket
        self.cur_m = 0
        self.cur_a = 0
        self.s_m = 0.0
        self.s_a = 0.0
        # rates of the open bucket (set when it opens): expected, log ratio, drift, fast-path counts
        self.m0 = self.a0 = 0.0
        self.lr_m = self.lr_a = 0.0
        self.d_m = self.d_a = 0.0
        self.fast_m: tuple[int, ...] = ()
        self.fast_a: tuple[int, ...] = ()
        self.authors: dict[int, int] = {}  # author hash -> last bucket seen in this scope
        self.prune_at = 64
        self.run_start: int | None = None
        self.run_m = self.run_a = self.run_neg = self.run_threats = 0
        self.level = 0  # highest level of the current surge: 0 quiet, 1 watch, 2 alert, 3 crisis
        self.announced = 0  # highest level reported in it (the cooldown can keep a surge silent)
        self.calm = 0  # buckets in a row below the watch threshold while in a surge
        self.resolved_at: int | None = None
        self.resolved_peak = 0
        self.last = 0  # bucket of the last message

    def reset_run(self) -> None:
        """Forget the run (the CUSUM is back at zero, or a surge resolved)."""
        self.run_start = None
        self.run_m = self.run_a = self.run_neg = self.run_threats = 0

    def prune_authors(self, oldest: int) -> None:
        """Drop authors last seen before bucket `oldest` (amortised: only when the map has doubled)."""
        if len(self.authors) < self.prune_at:
            return
        self.authors = {h: b for h, b in self.authors.items() if b >= oldest}
        self.prune_at = max(64, 2 * len(self.authors))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; the open bucket's rates are recomputed on load."""
        data: dict[str, Any] = {
            "key": self.key,
            "bucket": self.bucket,
            "cur": [self.cur_m, self.cur_a],
            "s": [self.s_m, self.s_a],
            "run": [self.run_start, self.run_m, self.run_a, self.run_neg, self.run_threats],
            "level": [self.level, self.announced],
            "calm": self.calm,
            "resolved": [self.resolved_at, self.resolved_peak],
            "last": self.last,
            "authors": [[h, b] for h, b in self.authors.items()],
        }
        if self.base is not None:
            data["base"] = self.base.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scope:
        """Rebuild from `to_json` output (rates of the open bucket still to be set by the detector)."""
        key = str(data["key"])
        base = SeasonalBaseline.from_json(data["base"]) if "base" in data else None
        scope = cls(key, scope_kind(key), base)
        scope.bucket = None if data["bucket"] is None else int(data["bucket"])
        scope.cur_m, scope.cur_a = (int(v) for v in data["cur"])
        scope.s_m, scope.s_a = (float(v) for v in data["s"])
        start, scope.run_m, scope.run_a, scope.run_neg, scope.run_threats = data["run"]
        scope.run_start = None if start is None else int(start)
        scope.level, scope.announced = (int(v) for v in data["level"])
        scope.calm = int(data["calm"])
        resolved_at, scope.resolved_peak = data["resolved"]
        scope.resolved_at = None if resolved_at is None else int(resolved_at)
        scope.last = int(data["last"])
        scope.authors = {int(h): int(b) for h, b in data["authors"]}
        scope.prune_at = max(64, 2 * len(scope.authors))
        return scope
