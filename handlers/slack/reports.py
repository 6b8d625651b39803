"""Pure renderers of `/webcare` answers (mrkdwn text for an ephemeral response)."""

from __future__ import annotations

from bot.i18n import Translator
from bot.services.reports import ClockLine, Mine, Stats
from handlers.slack.blocks import escape, slack_date, source_label, user
from handlers.slack.coord_blocks import card_link


def _link(t: Translator, channel: str | None, ts: str | None) -> str:
    link = card_link(channel, ts)
    return f"<{link}|{t('coord.open_card')}>" if link else "-"


def render_mine(m: Mine, t: Translator) -> str:
    """My open cases and promises."""
    if not m.cases and not m.promises:
        return t("command.mine_none")
    lines = [t("command.mine_title", count=m.total_cases)]
    for c in m.cases:
        lines.append(t("command.item_case", status=t(f"status.{c.status}"),
                       source=escape(source_label(t, c.source)),
                       author=escape("@" + c.author.lstrip("@")), text=escape(c.text),
                       link=_link(t, c.card_channel, c.card_ts)))
    if m.promises:
        lines.append(t("command.promises_title", count=len(m.promises)))
        for p in m.promises:
            lines.append(t("command.item_promise", what=escape(p.what[:200]),
                           due=slack_date(p.due, "{date_short_pretty} {time}", t.datetime(p.due)),
                           link=_link(t, p.card_channel, p.card_ts)))
    return "\n".join(lines)


def render_overdue(items: list[ClockLine], total: int, t: Translator) -> str:
    """Running deadlines past due, oldest first."""
    if not items:
        return t("command.overdue_none")
    lines = [t("command.overdue_title", count=total)]
    for c in items:
        lines.append(t("command.item_clock", kind=t(f"command.kind.{c.kind}"),
                       due=slack_date(c.due, "{date_short_pretty} {time}", t.datetime(c.due)),
                       owner=user(c.owner) if c.owner else "-", link=_link(t, c.card_channel, c.card_ts)))
    return "\n".join(lines)


def render_stats(s: Stats, t: Translator) -> str:
    """Today's figures in one paragraph."""
    return t("command.stats", received=s.received, answered=s.answered,
             median=t.ago(s.median) if s.median is not None else "-",
             p90=t.ago(s.p90) if s.p90 is not None else "-", promises_open=s.promises_open,
             overdue=s.overdue, kept=s.kept, late=s.late, broken=s.broken)
