"""What the detector reports: a surge raised to a level, or resolved, with its figures and severity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ScopeKind = Literal["org", "topic", "thread"]
LevelName = Literal["watch", "alert", "crisis"]
SeverityName = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True, slots=True)
class SurgeEvent:
    """A surge raised to `level` (state 'raised'), or over (state 'resolved', level = the highest reached).

    The figures count from the estimated start of the surge (`started_at`, where the CUSUM left zero).
    """

    at: datetime
    scope: ScopeKind
    key: str
    state: Literal["raised", "resolved"]
    level: LevelName
    severity: SeverityName
    score: float
    started_at: datetime
    messages: int
    authors: int
    negative: int
    threats: int
    rate_per_hour: float
    expected_per_hour: float

    @property
    def growth(self) -> float:
        """Observed rate over expected rate."""
        return self.rate_per_hour / self.expected_per_hour if self.expected_per_hour > 0 else math.inf


def severity(growth: float, negative_share: float, threats: int) -> tuple[float, SeverityName]:
    """Score 0..1 and its label from growth over the baseline, the negative share and the threats.

    Growth counts half (×1000 or more is the full half, on a log scale), the negative share 30 %,
    threats 20 % (three or more is the full share). Any threat makes it at least 'high': staff need
    protecting whatever the volume.
    """
    g = min(1.0, math.log10(max(growth, 1.0)) / 3.0)
    score = 0.5 * g + 0.3 * min(1.0, max(0.0, negative_share)) + 0.2 * min(1.0, threats / 3.0)
    score = round(score, 3)
    label: SeverityName = (
        "critical" if score >= 0.75 else "high" if score >= 0.5 else "medium" if score >= 0.25 else "low")
    if threats and label in ("low", "medium"):
        label = "high"
    return score, label
