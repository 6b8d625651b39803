"""Durations as app.yaml writes them: `30s`, `15m`, `2h`, `1d` (and combinations like `1h30m`)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> timedelta:
    """Parse `30s`/`15m`/`2h`/`1d`/`1h30m` into a timedelta; raise ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a duration is a string with a unit such as '30s', '15m', '2h', '1d', got {value!r}")
    text = value.strip().replace(" ", "")
    pos, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"a duration is a string with a unit such as '30s', '15m', '2h', '1d', got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Format a timedelta back into the app.yaml notation (largest exact unit)."""
    seconds = delta.total_seconds()
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"
