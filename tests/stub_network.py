"""A test-only plugin: a recording network ("stub") with likes, hiding and a 1-hour reply window,
and a scripted poller, so core behaviour can be tested without a particular network's fake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.ports import Capabilities, MentionTarget, OutboundReply, PermanentError, PollResult
from bot.runtime import Runtime


class StubSink:
    capabilities = Capabilities(reply=True, max_length=280, like=True, hide=True,
                                reply_window=timedelta(hours=1))

    def __init__(self) -> None:
        self.replies: list[OutboundReply] = []
        self.likes: list[MentionTarget] = []
        self.hides: list[tuple[MentionTarget, bool]] = []
        self.fail_likes = False

    async def send_reply(self, reply: OutboundReply) -> str | None:
        self.replies.append(reply)
        return f"stub-{len(self.replies)}"

    async def like(self, target: MentionTarget) -> None:
        if self.fail_likes:
            raise PermanentError("likes are switched off for this page")
        self.likes.append(target)

    async def hide(self, target: MentionTarget, hidden: bool) -> None:
        self.hides.append((target, hidden))


class ScriptedPoller:
    """Returns the scripted results in order (an exception is raised), then nothing new."""

    key = "stub:poller"
    interval = timedelta(milliseconds=100)

    def __init__(self) -> None:
        self.script: list[PollResult | Exception] = []
        self.cursors: list[dict[str, Any]] = []

    async def poll(self, cursor: dict[str, Any]) -> PollResult:
        self.cursors.append(cursor)
        if not self.script:
            return PollResult(cursor=cursor)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


SINK = web.AppKey("stub_sink", StubSink)
POLLER = web.AppKey("stub_poller", ScriptedPoller)


def install(app: web.Application, rt: Runtime) -> None:
    """Register the stub network for source "stub" and the scripted poller."""
    sink, poller = StubSink(), ScriptedPoller()
    rt.reply_sinks["stub"] = sink
    rt.pollers.append(poller)
    app[SINK] = sink
    app[POLLER] = poller
