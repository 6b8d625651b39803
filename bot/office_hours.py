"""Office hours: when the team is in, and deadlines that count only open time.

Pure: no database, no chat SDK, no network (public holidays come from the `holidays` package's data).
Datetimes in must be aware; datetimes out are aware UTC. Open spans are local wall time in app.yaml's
`timezone`; each boundary is converted to UTC on its own date, so days with a DST change are right:
a local time that does not exist (spring forward) counts as the moment the clock jumps, an ambiguous
one (fall back) as its first occurrence.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple
from zoneinfo import ZoneInfo

import holidays
from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from bot.config_types import Strict

if TYPE_CHECKING:
    from bot.settings import AppConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DUTCH_DAYS = ("ma", "di", "wo", "do", "vr", "za", "zo")
_DAY_INDEX = {name: i for names in (WEEKDAYS, _DUTCH_DAYS) for i, name in enumerate(names)}
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_SPAN_HINT = "a span is 'HH:MM-HH:MM' (several: '09:00-12:00,13:00-17:00'), or 'closed'"


class Span(NamedTuple):
    """One open span of a day, in minutes after local midnight (end 1440 is midnight)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def _minute(text: str, *, end: bool) -> int:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a time; {_SPAN_HINT}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not end)):
        raise ValueError(f"{text.strip()!r} is not a time of day (00:00 to 24:00)")
    return hour * 60 + minute


def parse_spans(value: object) -> tuple[Span, ...]:
    """Parse '08:30-17:30', '09:00-12:00,13:00-17:00', a list of those, or 'closed' into sorted spans."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "closed")):
        return ()
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(p, str) for p in value):
        parts = value
    else:
        raise ValueError(f"{_SPAN_HINT}, got {value!r}")
    spans = []
    for part in parts:
        start, dash, end = part.strip().partition("-")
        if not dash:
            raise ValueError(f"{part.strip()!r} is not a span; {_SPAN_HINT}")
        span = Span(_minute(start, end=False), _minute(end, end=True))
        if span.end <= span.start:
            raise ValueError(f"{part.strip()!r} ends before it starts (split a night shift at midnight: "
                             "'22:00-24:00' and the next day '00:00-06:00')")
        spans.append(span)
    spans.sort()
    for before, after in zip(spans, spans[1:], strict=False):
        if after.start < before.end:
            raise ValueError(f"spans {before} and {after} overlap")
    return tuple(spans)


def parse_days(key: str) -> tuple[int, ...]:
    """Parse a day key ('mon', 'mon-fri'; Dutch 'ma', 'ma-vr' too) into weekday numbers (Monday 0)."""
    first, dash, last = key.strip().lower().partition("-")
    if first not in _DAY_INDEX or (dash and last not in _DAY_INDEX):
        raise ValueError(f"{key!r} is not a day or a range of days "
                         f"({', '.join(WEEKDAYS)}, or a range like mon-fri); other keys: holidays, closed")
    a, b = _DAY_INDEX[first], _DAY_INDEX[last] if dash else _DAY_INDEX[first]
    if b < a:
        raise ValueError(f"{key!r} runs backwards; weeks run mon to sun (use two keys)")
    return tuple(range(a, b + 1))


Spans = Annotated[tuple[Span, ...], BeforeValidator(parse_spans)]
HolidayCountry = Literal["NL", "BE"]


def _upper(value: object) -> object:
    return [v.upper() if isinstance(v, str) else v for v in value] if isinstance(value, list) else value


class OfficeHours(Strict):
    """app.yaml `office_hours`: open spans per weekday (or range), public holidays, extra closed dates.

    Day keys are extra keys of this model (`mon-fri: "08:30-17:30"`); a day may appear in one key only.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Spans] = Field(init=False)

    holidays: Annotated[list[HolidayCountry], BeforeValidator(_upper)] = Field(
        default_factory=list, description="closed on these countries' public holidays")
    closed: list[date] = Field(default_factory=list, description="extra closed dates")

    @model_validator(mode="after")
    def _sound_week(self) -> OfficeHours:
        week = self.week
        if not any(week):
            raise ValueError("no day has open hours (name days, e.g. mon-fri: 08:30-17:30; "
                             "leave office_hours out to be always open)")
        return self

    @property
    def week(self) -> tuple[tuple[Span, ...], ...]:
        """The open spans of Monday..Sunday."""
        days: list[tuple[Span, ...] | None] = [None] * 7
        named: dict[int, str] = {}
        for key, spans in (self.__pydantic_extra__ or {}).items():
            for day in parse_days(key):
                if day in named:
                    raise ValueError(f"{WEEKDAYS[day]} is in both {named[day]!r} and {key!r}")
                named[day], days[day] = key, spans
        return tuple(spans or () for spans in days)


def _aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC or with an offset), got {at!r}")
    return at.astimezone(UTC)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Convert a naive local wall time: a skipped time is the moment of the jump; a repeated one, the first."""
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == local:
        return first
    # In a gap: fold=1 reads it with the offset after the change (earlier instant), fold=0 with the one
    # before (later instant); the change is between, found to the second.
    lo = int(local.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    hi = int(first.timestamp())
    after = first.astimezone(tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


class Calendar:
    """When the team is in. Without office hours it is always open and `add` is plain addition."""

    def __init__(self, hours: OfficeHours | None = None, tz: str | ZoneInfo = "UTC") -> None:
        self.hours = hours
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._week = hours.week if hours is not None else None
        self._minutes = [sum(s.end - s.start for s in spans) for spans in self._week or ()]
        self._week_minutes = sum(self._minutes)
        self._countries = tuple(hours.holidays) if hours is not None else ()
        self._extra_closed = frozenset(hours.closed) if hours is not None else frozenset()
        self._closed_by_year: dict[int, frozenset[date]] = {}

    @classmethod
    def from_config(cls, config: AppConfig) -> Calendar:
        """Build the calendar of app.yaml: its office_hours (absent: always open) in its timezone."""
        return cls(config.office_hours, config.tz)

    @property
    def always_open(self) -> bool:
        """True when no office hours are configured."""
        return self._week is None

    def local(self, at: datetime) -> datetime:
        """Return `at` in the calendar's time zone (for wording such as "maandag vanaf 08:30")."""
        return _aware(at, "at").astimezone(self.tz)

    def is_closed_day(self, day: date) -> bool:
        """True on a configured public holiday or extra closed date (whatever the weekday)."""
        if day.year not in self._closed_by_year:
            dates = {d for d in self._extra_closed if d.year == day.year}
            for country in self._countries:
                dates.update(holidays.country_holidays(country, years=day.year).keys())
            self._closed_by_year[day.year] = frozenset(dates)
        return day in self._closed_by_year[day.year]

    def open_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open spans of one local date as UTC (start, end) pairs; empty when closed."""
        if self._week is None:
            return [(to_utc(datetime.combine(day, time()), self.tz),
                     to_utc(datetime.combine(day + timedelta(days=1), time()), self.tz))]
        if not self._week[day.weekday()] or self.is_closed_day(day):
            return []
        midnight = datetime.combine(day, time())
        spans = []
        for span in self._week[day.weekday()]:
            start = to_utc(midnight + timedelta(minutes=span.start), self.tz)
            end = to_utc(midnight + timedelta(minutes=span.end), self.tz)
            if end > start:  # a span inside a DST gap has no length
                spans.append((start, end))
        return spans

    def is_open(self, at: datetime) -> bool:
        """True when `at` falls in an open span (a span includes its start, not its end)."""
        at = _aware(at, "at")
        return self._week is None or any(s <= at < e for s, e in self.open_spans(self._date(at)))

    def next_open(self, at: datetime) -> datetime:
        """Return `at` when open, else the start of the next open span."""
        at = _aware(at, "at")
        if self.is_open(at):
            return at
        day = self._date(at)
        while True:  # ends: some weekday has open hours, and closed dates per year are finitely many
            for start, _ in self.open_spans(day):
                if start > at:
                    return start
            day += timedelta(days=1)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the moment `duration` of open time after `start` has passed (the clock stops when closed)."""
        start = _aware(start, "start")
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration}")
        if self._week is None or not duration:
            return start + duration
        remaining, first = duration, self._date(start)
        day = first
        while True:
            if day > first and remaining > timedelta(minutes=self._week_minutes):
                week = self._week_open(day)
                if week is not None and week < remaining:
                    remaining -= week
                    day += timedelta(days=7)
                    continue
            for s, e in self.open_spans(day):
                if e <= start:
                    continue
                s = max(s, start)
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
            day += timedelta(days=1)

    def open_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Return how much open time lies between `a` and `b` (zero when b is not after a)."""
        a, b = _aware(a, "a"), _aware(b, "b")
        if b <= a:
            return timedelta(0)
        if self._week is None:
            return b - a
        total, first, last = timedelta(0), self._date(a), self._date(b)
        day = first
        while day <= last:
            if first < day and day + timedelta(days=7) <= last:
                week = self._week_open(day)
                if week is not None:
                    total += week
                    day += timedelta(days=7)
                    continue
            for s, e in self.open_spans(day):
                s, e = max(s, a), min(e, b)
                if e > s:
                    total += e - s
            day += timedelta(days=1)
        return total

    def _date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def _week_open(self, day: date) -> timedelta | None:
        """Open time of the 7 days from `day`, without converting each span; None if the offset changes."""
        end = day + timedelta(days=7)
        if (datetime.combine(day, time(), self.tz).utcoffset()
                != datetime.combine(end, time(), self.tz).utcoffset()):
            return None
        minutes = self._week_minutes
        for i in range(7):
            d = day + timedelta(days=i)
            if self._minutes[d.weekday()] and self.is_closed_day(d):
                minutes -= self._minutes[d.weekday()]
        return timedelta(minutes=minutes)
