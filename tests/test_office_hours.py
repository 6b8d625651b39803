"""Office hours and SLA deadlines: arithmetic across weekends, holidays and DST; config errors by key."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.office_hours import Calendar, OfficeHours, Span, parse_spans, to_utc
from bot.settings import ConfigError, load_config
from bot.sla import (
    AutoAck,
    IntentName,
    PriorityName,
    Sla,
    auto_ack_due,
    deadline,
    first_response_target,
    next_answer_time,
    target_for,
)
from bot.triage.model import Intent
from bot.triage.policy import Priority

REPO = Path(__file__).resolve().parent.parent
AMS = ZoneInfo("Europe/Amsterdam")
H, M = timedelta(hours=1), timedelta(minutes=1)
OFFICE = {"mon-fri": "08:30-17:30", "holidays": ["NL"]}


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """Amsterdam wall time, as the aware UTC datetime the calendar takes and returns."""
    return datetime(y, mo, d, h, mi, tzinfo=AMS).astimezone(UTC)


def cal(**hours: object) -> Calendar:
    return Calendar(OfficeHours.model_validate(hours or OFFICE), AMS)


def reference_add(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The obvious day-by-day walk, to check the week-skipping `add` against."""
    day = start.astimezone(AMS).date()
    while True:
        for s, e in calendar.open_spans(day):
            s = max(s, start)
            if e > s:
                if duration <= e - s:
                    return s + duration
                duration -= e - s
        day += timedelta(days=1)


# --- always open -------------------------------------------------------------------------------

def test_absent_office_hours_means_always_open() -> None:
    config = load_config(REPO / "app.yaml")
    assert config.office_hours is None
    c = Calendar.from_config(config)
    sunday_night = at(2026, 12, 27, 3)
    assert c.always_open and c.is_open(sunday_night) and c.next_open(sunday_night) == sunday_night
    assert c.add(sunday_night, 2 * H) == sunday_night + 2 * H
    assert c.open_time_between(sunday_night, sunday_night + 30 * H) == 30 * H
    assert next_answer_time(c, sunday_night) is None


# --- spans and days ------------------------------------------------------------------------------

def test_spans_parse_in_every_documented_form() -> None:
    assert parse_spans("09:00-12:00,13:00-17:00") == (Span(540, 720), Span(780, 1020))
    assert parse_spans(["13:00-17:00", "9:00-12:00"]) == (Span(540, 720), Span(780, 1020))
    assert parse_spans("closed") == parse_spans(None) == ()
    assert parse_spans("00:00-24:00") == (Span(0, 1440),)
    assert str(Span(510, 1050)) == "08:30-17:30"
    week = OfficeHours.model_validate({"ma-vr": "08:30-17:30", "za": "10:00-14:00", "zo": "closed"}).week
    assert week == ((Span(510, 1050),),) * 5 + ((Span(600, 840),), ())


def test_open_spans_include_their_start_not_their_end() -> None:
    c = cal(**{"mon-fri": "09:00-12:00,13:00-17:00"})
    assert c.is_open(at(2026, 6, 3, 9)) and c.is_open(at(2026, 6, 3, 11, 59))
    assert not c.is_open(at(2026, 6, 3, 12)) and not c.is_open(at(2026, 6, 3, 17))
    assert c.next_open(at(2026, 6, 3, 12, 10)) == at(2026, 6, 3, 13)
    assert c.add(at(2026, 6, 3, 11), 2 * H) == at(2026, 6, 3, 14)  # the lunch break does not count
    assert c.open_time_between(at(2026, 6, 3, 8), at(2026, 6, 3, 20)) == 7 * H


def test_the_weekend_stops_the_clock() -> None:
    c = cal()
    friday = at(2026, 6, 5, 17)
    assert c.add(friday, H) == at(2026, 6, 8, 9)
    assert c.open_time_between(friday, at(2026, 6, 8, 9)) == H
    assert not c.is_open(at(2026, 6, 6, 12))
    assert c.next_open(at(2026, 6, 6, 12)) == at(2026, 6, 8, 8, 30)
    assert c.add(friday, 9 * H + 30 * M) == at(2026, 6, 8, 17, 30)  # a deadline may fall on closing time


def test_a_saturday_span() -> None:
    c = cal(**{"mon-fri": "08:30-17:30", "sat": "10:00-14:00"})
    assert c.add(at(2026, 6, 5, 17), 2 * H) == at(2026, 6, 6, 11, 30)


# --- holidays and closed dates -------------------------------------------------------------------

def test_kingsday_is_closed_in_the_netherlands() -> None:
    c = cal()
    assert c.is_closed_day(date(2026, 4, 27)) and not c.is_open(at(2026, 4, 27, 10))
    assert c.add(at(2026, 4, 24, 17), H) == at(2026, 4, 28, 9)  # Friday, weekend, Monday Koningsdag
    assert c.next_open(at(2026, 4, 27, 10)) == at(2026, 4, 28, 8, 30)


def test_christmas_closes_even_an_open_saturday_and_extra_closed_dates_count() -> None:
    c = cal(**{"mon-fri": "08:30-17:30", "sat": "10:00-14:00", "holidays": ["NL"],
               "closed": ["2026-12-24"]})
    # Thu 24 closed date, Fri 25 Christmas, Sat 26 second Christmas day, Sun closed
    assert c.add(at(2026, 12, 23, 17), H) == at(2026, 12, 28, 9)
    assert c.open_time_between(at(2026, 12, 23, 17), at(2026, 12, 28, 9)) == H
    assert cal().is_open(at(2026, 12, 24, 10))  # without the closed date, the 24th is a working day


def test_belgian_national_day_only_where_belgium_is_configured() -> None:
    monday = at(2026, 7, 20, 17)
    assert cal(**{"mon-fri": "08:30-17:30", "holidays": ["BE"]}).add(monday, H) == at(2026, 7, 22, 9)
    assert cal().add(monday, H) == at(2026, 7, 21, 9)
    both = cal(**{"mon-fri": "08:30-17:30", "holidays": ["NL", "be"]})
    assert both.is_closed_day(date(2026, 7, 21)) and both.is_closed_day(date(2026, 4, 27))


# --- daylight saving time (Europe/Amsterdam: 29 March and 25 October 2026) -----------------------

def test_a_deadline_across_the_spring_change_keeps_wall_clock_hours() -> None:
    c = cal()
    friday = at(2026, 3, 27, 17)  # 16:00 UTC (CET)
    assert friday == datetime(2026, 3, 27, 16, tzinfo=UTC)
    due = c.add(friday, 2 * H)
    assert due == at(2026, 3, 30, 10) == datetime(2026, 3, 30, 8, tzinfo=UTC)  # 10:00 CEST
    assert c.open_time_between(friday, due) == 2 * H


def test_a_deadline_across_the_autumn_change() -> None:
    c = cal()
    due = c.add(at(2026, 10, 23, 17), 2 * H)
    assert due == at(2026, 10, 26, 10) == datetime(2026, 10, 26, 9, tzinfo=UTC)  # 10:00 CET


def test_spans_crossing_the_change_last_real_time() -> None:
    c = cal(sun="01:00-04:00", **{"mon-sat": "00:00-24:00"})
    assert c.open_time_between(at(2026, 3, 29), at(2026, 3, 30)) == 2 * H  # 02:00-03:00 never happens
    assert c.open_time_between(at(2026, 10, 25), at(2026, 10, 26)) == 4 * H  # 02:00-03:00 happens twice
    assert c.add(at(2026, 3, 29), 90 * M) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_round_the_clock_days_have_23_and_25_hours() -> None:
    c = cal(**{"mon-sun": "00:00-24:00"})
    assert c.open_time_between(at(2026, 3, 29), at(2026, 3, 30)) == 23 * H
    assert c.open_time_between(at(2026, 10, 25), at(2026, 10, 26)) == 25 * H
    saturday = at(2026, 10, 24, 12)
    assert c.add(saturday, 24 * H) == saturday + 24 * H == at(2026, 10, 25, 11)


def test_boundaries_that_do_not_exist_or_happen_twice() -> None:
    # 02:30 is skipped on 29 March: the office opens when the clock jumps to 03:00 CEST
    spring = cal(sun="02:30-05:00", **{"mon-fri": "08:30-17:30"})
    assert spring.next_open(at(2026, 3, 29)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert spring.open_time_between(at(2026, 3, 29), at(2026, 3, 30)) == 2 * H
    # 02:30 happens twice on 25 October: the office opens at the first
    assert spring.next_open(at(2026, 10, 25)) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert spring.open_time_between(at(2026, 10, 25), at(2026, 10, 26)) == 3 * H + 30 * M
    assert to_utc(datetime(2026, 3, 29, 2, 0), AMS) == to_utc(datetime(2026, 3, 29, 3, 0), AMS)


# --- long durations ------------------------------------------------------------------------------

@pytest.mark.parametrize("duration", [H, 40 * H, 400 * H, timedelta(days=30), timedelta(days=400)])
@pytest.mark.parametrize("start", [at(2026, 3, 27, 17), at(2026, 4, 25, 3), at(2026, 12, 23, 12, 15)])
def test_long_durations_skip_weeks_and_agree_with_a_day_by_day_walk(
        start: datetime, duration: timedelta) -> None:
    c = cal(**{"mon-fri": "08:30-17:30", "sat": "10:00-14:00", "sun": "01:00-04:00",
               "holidays": ["NL", "BE"], "closed": ["2026-12-24", "2027-05-05"]})
    due = c.add(start, duration)
    assert due == reference_add(c, start, duration)
    assert c.open_time_between(start, due) == duration


def test_ten_years_of_open_time() -> None:
    c = cal()
    start = at(2026, 1, 1)
    due = c.add(start, timedelta(days=3650))
    assert c.open_time_between(start, due) == timedelta(days=3650)
    assert due.year > 2050  # 45 open hours a week


# --- edges ---------------------------------------------------------------------------------------

def test_datetimes_must_be_aware_and_come_back_in_utc() -> None:
    c = cal()
    with pytest.raises(ValueError, match="aware"):
        c.is_open(datetime(2026, 6, 3, 10))
    due = c.add(datetime(2026, 6, 3, 10, tzinfo=AMS), H)
    assert due.tzinfo is UTC and due == at(2026, 6, 3, 11)
    assert c.add(at(2026, 6, 6, 12), timedelta(0)) == at(2026, 6, 6, 12)
    with pytest.raises(ValueError, match="negative"):
        c.add(at(2026, 6, 3, 10), -H)
    assert c.open_time_between(at(2026, 6, 3, 12), at(2026, 6, 3, 10)) == timedelta(0)


# --- config errors, each naming its key ----------------------------------------------------------

def example() -> dict:
    return yaml.safe_load((REPO / "app.yaml").read_text(encoding="utf-8"))


def problems(tmp_path: Path, **changes: object) -> list[str]:
    data = example() | changes
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


@pytest.mark.parametrize(("office_hours", "key", "words"), [
    ({"mon-fri": "8:30-25:00"}, "office_hours.mon-fri", "'25:00' is not a time of day"),
    ({"mon-fri": "08:30"}, "office_hours.mon-fri", "is not a span"),
    ({"mon-fri": "17:30-08:30"}, "office_hours.mon-fri", "ends before it starts"),
    ({"mon-fri": "09:00-13:00,12:00-17:00"}, "office_hours.mon-fri", "overlap"),
    ({"mon-fri": 9}, "office_hours.mon-fri", "a span is"),
    ({"mond": "09:00-17:00"}, "office_hours", "'mond' is not a day"),
    ({"fri-mon": "09:00-17:00"}, "office_hours", "runs backwards"),
    ({"mon-fri": "09:00-17:00", "fri": "09:00-12:00"}, "office_hours", "fri is in both"),
    ({"sat": "closed"}, "office_hours", "no day has open hours"),
    ({"mon-fri": "09:00-17:00", "holidays": ["DE"]}, "office_hours.holidays.0", "'NL' or 'BE'"),
    ({"mon-fri": "09:00-17:00", "closed": ["24 december"]}, "office_hours.closed.0", "date"),
])
def test_office_hours_errors_name_the_key(tmp_path: Path, office_hours: dict, key: str, words: str) -> None:
    [line] = problems(tmp_path, office_hours=office_hours)
    assert line.startswith(f"app.yaml: {key}: ") and words in line


def test_sla_and_auto_ack_errors_name_the_key(tmp_path: Path) -> None:
    lines = problems(tmp_path, sla={"rules": [{"first_response": "1h"},
                                              {"venue": "eigen", "first_response": "1h"},
                                              {"intent": "complaint", "first_response": "1 uur"}]})
    assert lines[0].startswith("app.yaml: sla.rules.0: ") and "at least one of source" in lines[0]
    assert lines[1].startswith("app.yaml: sla.rules.1.venue.0: ")
    assert lines[2].startswith("app.yaml: sla.rules.2.first_response: ")
    [line] = problems(tmp_path, auto_ack={"enabled": True})
    assert "auto_ack.enabled needs office_hours" in line


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "CONFIGURATION.md").read_text(encoding="utf-8")
    snippet = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    data = example() | yaml.safe_load(snippet)
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    assert config.office_hours is not None and config.office_hours.holidays == ["NL", "BE"]
    assert config.auto_ack.enabled and config.sla.rules


# --- SLA targets ---------------------------------------------------------------------------------

SLA = Sla.model_validate({
    "first_response": "2h",
    "rules": [
        {"venue": "own", "intent": "complaint", "first_response": "1h"},
        {"venue": "own", "intent": "question", "first_response": "2h"},
        {"venue": "third_party", "first_response": "1d"},
        {"priority": "urgent", "first_response": "30m", "office_hours_only": False},
        {"source": ["whatsapp", "Facebook"], "first_response": "45m"},
    ],
})


@pytest.mark.parametrize(("source", "venue", "priority", "intent", "target", "rule"), [
    ("x", "own", "normal", "complaint", H, 0),
    ("x", "own", "urgent", "complaint", H, 0),            # first match wins: rule 0 before 'urgent'
    ("x", "own", "normal", "question", 2 * H, 1),
    ("forum", "third_party", "urgent", "complaint", 24 * H, 2),
    ("x", "own", "urgent", "compliment", 30 * M, 3),
    ("whatsapp", "own", "normal", "compliment", 45 * M, 4),
    ("facebook", "own", "low", "other", 45 * M, 4),       # rule values and inputs are case-insensitive
    ("x", "own", "normal", "compliment", 2 * H, None),    # nothing matches: sla.first_response
    ("x", None, None, None, 2 * H, None),                 # unknown fields match no rule that names them
])
def test_the_first_matching_rule_sets_the_target(source: str, venue: str | None, priority: str | None,
                                                 intent: str | None, target: timedelta,
                                                 rule: int | None) -> None:
    assert first_response_target(SLA, source=source, venue=venue, priority=priority, intent=intent) == target
    assert target_for(SLA, source=source, venue=venue, priority=priority, intent=intent).rule == rule


def test_deadlines_run_on_office_hours_unless_configured_otherwise() -> None:
    c = cal()
    friday = at(2026, 6, 5, 17)
    own_complaint = {"source": "x", "venue": "own", "priority": Priority.NORMAL, "intent": Intent.COMPLAINT}
    assert deadline(SLA, c, start=friday, **own_complaint) == at(2026, 6, 8, 9)
    wall_clock = Sla.model_validate({**SLA.model_dump(), "office_hours_only": False})
    assert deadline(wall_clock, c, start=friday, **own_complaint) == friday + H
    urgent = {"source": "x", "venue": "own", "priority": "urgent", "intent": "compliment"}
    assert deadline(SLA, c, start=friday, **urgent) == friday + 30 * M  # the rule's own clock
    assert deadline(SLA, Calendar(), start=friday, **own_complaint) == friday + H


def test_the_ladder_nudges_at_the_deadline_then_escalates_on_the_same_clock() -> None:
    target = target_for(SLA, source="x", venue="own", priority="normal", intent="complaint")
    steps = [30 * M, 2 * H]
    assert target.ladder(cal(), at(2026, 6, 5, 16), steps) == [
        at(2026, 6, 5, 17), at(2026, 6, 5, 17, 30), at(2026, 6, 8, 10)]


def test_triage_labels_are_the_ones_rules_accept() -> None:
    assert set(typing.get_args(PriorityName)) == {p.value for p in Priority}
    assert set(typing.get_args(IntentName)) == {i.value for i in Intent}


# --- automatic acknowledgement -------------------------------------------------------------------

def test_auto_ack_only_own_house_outside_hours_once_per_period() -> None:
    c = cal()
    on = AutoAck.model_validate({"enabled": True, "period": "1d"})
    saturday = at(2026, 6, 6, 12)
    monday = at(2026, 6, 8, 8, 30)
    assert next_answer_time(c, saturday) == monday
    assert c.local(monday).time() == time(8, 30) and c.local(monday).weekday() == 0
    assert auto_ack_due(on, c, at=saturday, source="x", venue="own", last_ack_at=None) == monday
    assert auto_ack_due(AutoAck(), c, at=saturday, source="x", venue="own", last_ack_at=None) is None
    assert auto_ack_due(on, c, at=saturday, source="forum", venue="third_party", last_ack_at=None) is None
    assert auto_ack_due(on, c, at=at(2026, 6, 5, 10), source="x", venue="own", last_ack_at=None) is None
    assert auto_ack_due(on, c, at=saturday, source="x", venue="own",
                        last_ack_at=saturday - 23 * H) is None
    assert auto_ack_due(on, c, at=saturday, source="x", venue="own",
                        last_ack_at=saturday - 24 * H) == monday
    dm_only = AutoAck.model_validate({"enabled": True, "sources": ["WhatsApp"]})
    assert auto_ack_due(dm_only, c, at=saturday, source="x", venue="own", last_ack_at=None) is None
    assert auto_ack_due(dm_only, c, at=saturday, source="whatsapp", venue="own", last_ack_at=None) == monday


def test_a_night_shift_split_at_midnight_runs_on() -> None:
    c = cal(mon="22:00-24:00", tue="00:00-06:00")
    assert c.is_open(at(2026, 6, 9, 0)) and c.add(at(2026, 6, 8, 23), 2 * H) == at(2026, 6, 9, 1)


def test_unquoted_yaml_spans_and_dates_load() -> None:
    hours = OfficeHours.model_validate(yaml.safe_load("mon-fri: 08:30-17:30\nclosed: [2026-12-24]"))
    assert hours.week[0] == (Span(510, 1050),) and hours.closed == [date(2026, 12, 24)]
