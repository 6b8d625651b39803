"""Waiting for a condition in a test: the one poll loop behind every fake's `wait_for`."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

POLL_INTERVAL_S = 0.02


def describe(predicate: Callable[[], Any]) -> str:
    """The predicate's source (a lambda's line), for a timeout message."""
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


async def poll(predicate: Callable[[], Any], *, timeout: float,
               report: Callable[[Exception | None], str]) -> Any:
    """Call `predicate` every 20 ms until it returns something truthy, and return that.

    An exception from it (an IndexError while the awaited message does not exist yet) counts as not yet;
    after `timeout` seconds an AssertionError says `report(the last exception)`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(report(last_error))
        await asyncio.sleep(POLL_INTERVAL_S)
