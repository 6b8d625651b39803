"""Which reply sink serves which source: built-in integrations first, else the generic webhook."""

from __future__ import annotations

from collections.abc import Mapping

from bot.ports import Capabilities, ReplySink

NO_REPLY = Capabilities(reply=False)


class Sinks:
    """Look up the sink for a mention's source."""

    def __init__(self, by_source: Mapping[str, ReplySink], fallback: ReplySink | None) -> None:
        self._by_source = dict(by_source)
        self._fallback = fallback

    def for_source(self, source: str) -> ReplySink | None:
        """The sink that delivers replies for `source`, or None when nothing can."""
        return self._by_source.get(source, self._fallback)

    def capabilities(self, source: str) -> Capabilities:
        """What the card may offer for mentions of `source`."""
        sink = self.for_source(source)
        return sink.capabilities if sink is not None else NO_REPLY
