"""What coordination services need besides the session: the config, the team and the timeline."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import Translator
from bot.office_hours import Calendar
from bot.services.clocks import Sweeper, Timeline
from bot.settings import AppConfig
from bot.sla import Target, target_for
from bot.team import Team


@dataclass(frozen=True)
class Coord:
    """The team's rules for one running app (built once by the app factory)."""

    cfg: AppConfig
    team: Team
    calendar: Calendar
    timeline: Timeline
    t: Translator
    """For what the bot itself writes to customers (the acknowledgement outside office hours)."""

    @property
    def office_time(self) -> bool:
        """Whether promise and expert ladders count office time (sla.office_hours_only, with office hours)."""
        return self.cfg.sla.office_hours_only and not self.calendar.always_open

    def response_target(self, *, source: str, venue: str, priority: str | None, intent: str | None) -> Target:
        """The first-response target for a case like this (sla in app.yaml: first matching rule)."""
        return target_for(self.cfg.sla, source=source, venue=venue, priority=priority, intent=intent)

    def sweeper(self) -> Sweeper:
        """A sweeper over these rules."""
        return Sweeper(cfg=self.cfg, team=self.team, timeline=self.timeline)


def build_coord(cfg: AppConfig) -> Coord:
    """The coordination rules of `cfg`: roles, SLA targets and the office-hours calendar."""
    calendar = Calendar.from_config(cfg)
    return Coord(cfg=cfg, team=Team(cfg.people), calendar=calendar, t=Translator(cfg.locale, cfg.tz),
                 timeline=Timeline(None if calendar.always_open else calendar.add))
