"""Pure renderers of `/webcare` answers (mrkdwn text for an ephemeral response)."""

from __future__ import annotations

from bot import phrasing
from bot.i18n import Translator
from bot.services.reports import ClockLine, Mine, Stats
from handlers.slack.blocks import SLACK
from handlers.slack.coord_blocks import card_link


def _link(t: Translator, channel: str | None, ts: str | None) -> str:
    link = card_link(channel, ts)
    return f"<{link}|{t('coord.open_card')}>" if link else "-"


def render_mine(m: Mine, t: Translator) -> str:
    """My open cases and promises."""
    return phrasing.mine(t, SLACK, m, lambda channel, ts: _link(t, channel, ts))


def render_overdue(items: list[ClockLine], total: int, t: Translator) -> str:
    """Running deadlines past due, oldest first."""
    return phrasing.overdue(t, SLACK, items, total, lambda channel, ts: _link(t, channel, ts))


def render_stats(s: Stats, t: Translator) -> str:
    """Today's figures in one paragraph."""
    return phrasing.stats(t, s)
