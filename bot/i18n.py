"""User-facing text: catalogs per locale (bot/locales/*.json) and Babel formatting of times."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import datetime as DateTime  # the class has a method named `datetime`
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta
from babel.numbers import format_compact_decimal

LOCALES = ("nl", "en")
LOCALE_DIR = Path(__file__).resolve().parent / "locales"


@cache
def _catalog(locale: str) -> dict[str, str]:
    data = (LOCALE_DIR / f"{locale}.json").read_text(encoding="utf-8")
    catalog: dict[str, str] = json.loads(data)
    return catalog


class Translator:
    """Look up messages by key for one locale; format times and numbers the locale's way."""

    def __init__(self, locale: str, tz: ZoneInfo | None = None) -> None:
        if locale not in LOCALES:
            raise ValueError(f"unsupported locale {locale!r}; choose one of {', '.join(LOCALES)}")
        self.locale = locale
        self.tz = tz or ZoneInfo("Europe/Amsterdam")
        self._messages = _catalog(locale)

    def __call__(self, key: str, /, **params: object) -> str:
        """Return the message for `key`, formatted with `params`; a missing key raises KeyError."""
        return self._messages[key].format(**params)

    def has(self, key: str) -> bool:
        """Whether the catalog holds `key`."""
        return key in self._messages

    def datetime(self, value: datetime) -> str:
        """A short local date and time, e.g. '22 nov 2026 09:15'."""
        return format_datetime(value.astimezone(self.tz), "d MMM yyyy HH:mm", locale=self.locale)

    def when(self, value: DateTime, *, now: DateTime) -> str:
        """A moment in the near future as people say it: 'vandaag om 16:00', 'maandag 1 december om 08:30'."""
        local, today = value.astimezone(self.tz), now.astimezone(self.tz).date()
        clock = format_datetime(local, "HH:mm", locale=self.locale)
        days = (local.date() - today).days
        if days in (0, 1):
            return self(f"when.{'today' if days == 0 else 'tomorrow'}", time=clock)
        return self("when.day", day=format_datetime(local, "EEEE d MMMM", locale=self.locale), time=clock)

    def ago(self, delta: timedelta) -> str:
        """A rough relative duration, e.g. '5 minuten'."""
        return format_timedelta(delta, threshold=1.1, locale=self.locale)

    def count(self, number: int) -> str:
        """A compact number, e.g. '12K' / '12 K'."""
        return format_compact_decimal(number, locale=self.locale, fraction_digits=1)


def catalog_keys(locale: str) -> set[str]:
    """All keys of a locale's catalog (used to check catalogs are complete)."""
    return set(_catalog(locale))
