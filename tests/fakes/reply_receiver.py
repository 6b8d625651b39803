"""A fake of an integrator's reply endpoint (CONTRACT.md: generic reply webhook) on loopback.

It checks the signature, records every delivery, deduplicates on `idempotency_key` as a careful
receiver would, and can be told to fail the next N calls (status) to exercise retries.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.signing import verify
from tests.fakes.polling import describe, poll


class ReplyReceiver:
    """Records signed reply deliveries; `delivered` holds each idempotency key's first body."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.requests: list[dict[str, Any]] = []
        self.delivered: dict[str, dict[str, Any]] = {}
        self.bad_signatures = 0
        self.fail_next: list[int] = []
        self.delay = 0.0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/replies"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/replies", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, body, request.headers.get("X-Webcare-Signature")):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        data = json.loads(body)
        self.requests.append(data)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next:
            return web.json_response({"error": "try later"}, status=self.fail_next.pop(0))
        self.delivered.setdefault(data["idempotency_key"], data)
        return web.json_response({"id": f"r-{len(self.delivered)}"})

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Poll `predicate` until truthy and return it; AssertionError on timeout."""
        return await poll(predicate, timeout=timeout, report=lambda error: (
            f"reply receiver: condition not met ({describe(predicate)}); last error {error!r}; "
            f"requests={self.requests}"))
