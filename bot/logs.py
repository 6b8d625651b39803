"""Structured (JSON) logs with a correlation id per request or job."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from aiohttp import web

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "cid": correlation_id.get(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup(level: str = "INFO") -> None:
    """Send JSON logs to stderr at `level`."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def new_id() -> str:
    """A short random correlation id."""
    return secrets.token_hex(6)


@web.middleware
async def correlation_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Give each request a correlation id (from X-Request-Id when sent) and echo it back."""
    cid = request.headers.get("X-Request-Id") or new_id()
    token = correlation_id.set(cid[:64])
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = cid[:64]
        return response
    finally:
        correlation_id.reset(token)
