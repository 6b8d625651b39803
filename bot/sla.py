"""First-response targets and the automatic acknowledgement outside office hours.

Pure: which target applies to a mention (the first matching `sla.rules` entry, else
`sla.first_response`), when its answer is due on the office-hours clock, when each escalation step
falls, and whether an author should get an automatic "we answer on ... from ..." now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from bot.config_types import Duration, Strict
from bot.office_hours import Calendar

Venue = Literal["own", "third_party"]
PriorityName = Literal["urgent", "high", "normal", "low"]
"""bot.triage.policy.Priority values (that module imports bot.settings, so it cannot be imported here)."""
IntentName = Literal["question", "complaint", "compliment", "suggestion", "misinformation", "threat", "other"]
"""bot.triage.model.Intent values."""


def _one_or_many(value: object) -> object:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return tuple(v.strip().lower() if isinstance(v, str) else v for v in value)
    return value


Sources = Annotated[tuple[str, ...] | None, BeforeValidator(_one_or_many)]
Venues = Annotated[tuple[Venue, ...] | None, BeforeValidator(_one_or_many)]
Priorities = Annotated[tuple[PriorityName, ...] | None, BeforeValidator(_one_or_many)]
Intents = Annotated[tuple[IntentName, ...] | None, BeforeValidator(_one_or_many)]


class SlaRule(Strict):
    """One override: every field given must match (a list matches any of its values)."""

    source: Sources = None
    venue: Venues = None
    priority: Priorities = None
    intent: Intents = None
    first_response: Duration
    office_hours_only: bool | None = Field(default=None, description="default: sla.office_hours_only")

    @model_validator(mode="after")
    def _matches_something(self) -> SlaRule:
        if not (self.source or self.venue or self.priority or self.intent):
            raise ValueError("a rule needs at least one of source, venue, priority, intent "
                             "(the target for everything else is sla.first_response)")
        return self

    def matches(self, *, source: str | None, venue: str | None, priority: str | None,
                intent: str | None) -> bool:
        """True when every field this rule names has the mention's value."""
        return all(wanted is None or (value is not None and value.lower() in wanted)
                   for wanted, value in ((self.source, source), (self.venue, venue),
                                         (self.priority, priority), (self.intent, intent)))


class Sla(Strict):
    """app.yaml `sla`: the default first-response target and per source/venue/priority/intent rules."""

    first_response: Duration = timedelta(hours=2)
    office_hours_only: bool = Field(
        default=True, description="the clock runs only while office_hours are open (when set)")
    rules: list[SlaRule] = Field(default_factory=list, description="first match wins")


class AutoAck(Strict):
    """app.yaml `auto_ack`: outside office hours, tell an author when the answer will come.

    Only in our own house (never on someone else's page or forum), at most once per author per period.
    """

    enabled: bool = False
    period: Duration = Field(default=timedelta(days=1), description="at most one per author per period")
    sources: Sources = Field(
        default=None, description="only these sources (e.g. whatsapp, facebook); default: all own-house")
    texts: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, description="your own wordings with {when}; default: the built-in ones, varied")

    @model_validator(mode="after")
    def _when_placeholder(self) -> AutoAck:
        for text in self.texts:
            try:
                text.format(when="x")
            except (KeyError, IndexError, ValueError):
                raise ValueError(
                    f"auto_ack.texts: only the {{when}} placeholder is known, in {text[:40]!r}") from None
        return self


@dataclass(frozen=True)
class Target:
    """The first-response target that applies to one mention."""

    first_response: timedelta
    office_hours_only: bool
    rule: int | None
    """Index into sla.rules of the rule that matched; None for the default sla.first_response."""

    def clock(self, calendar: Calendar) -> Calendar:
        """The calendar this target's clock runs on: office hours, or always open."""
        return calendar if self.office_hours_only else Calendar(None, calendar.tz)

    def due(self, calendar: Calendar, start: datetime) -> datetime:
        """Return when the first response is due for a mention that arrived at `start`."""
        return self.clock(calendar).add(start, self.first_response)

    def ladder(self, calendar: Calendar, start: datetime, steps: Sequence[timedelta]) -> list[datetime]:
        """Return the deadline (nudge) and then each escalation step's moment, on the same clock."""
        clock = self.clock(calendar)
        due = clock.add(start, self.first_response)
        return [due, *(clock.add(due, step) for step in steps)]


def target_for(sla: Sla, *, source: str | None, venue: str | None, priority: str | None,
               intent: str | None) -> Target:
    """Return the target of the first rule that matches the mention, else the default."""
    for index, rule in enumerate(sla.rules):
        if rule.matches(source=source, venue=venue, priority=priority, intent=intent):
            hours_only = sla.office_hours_only if rule.office_hours_only is None else rule.office_hours_only
            return Target(rule.first_response, hours_only, index)
    return Target(sla.first_response, sla.office_hours_only, None)


def first_response_target(sla: Sla, *, source: str | None, venue: str | None, priority: str | None,
                          intent: str | None) -> timedelta:
    """Return the first-response target (open time when the clock runs in office hours only)."""
    return target_for(sla, source=source, venue=venue, priority=priority, intent=intent).first_response


def deadline(sla: Sla, calendar: Calendar, *, start: datetime, source: str | None, venue: str | None,
             priority: str | None, intent: str | None) -> datetime:
    """Return when the first response to a mention that arrived at `start` is due (aware UTC)."""
    target = target_for(sla, source=source, venue=venue, priority=priority, intent=intent)
    return target.due(calendar, start)


def next_answer_time(calendar: Calendar, at: datetime) -> datetime | None:
    """Return when the team is next in (UTC), or None while it is in at `at`."""
    return None if calendar.is_open(at) else calendar.next_open(at)


def auto_ack_due(config: AutoAck, calendar: Calendar, *, at: datetime, source: str, venue: str | None,
                 last_ack_at: datetime | None) -> datetime | None:
    """Return the answer time to promise if this author should be acknowledged now, else None.

    None when auto_ack is off, the venue is not our own, the source is not listed, the team is in, or
    this author was acknowledged less than `period` ago.
    """
    if not config.enabled or venue != "own":
        return None
    if config.sources is not None and source.lower() not in config.sources:
        return None
    if last_ack_at is not None and at - last_ack_at < config.period:
        return None
    return next_answer_time(calendar, at)
