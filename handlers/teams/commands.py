"""Slack's `/webcare` in Teams: a message to the bot (in its 1:1 chat, or @webcare in a channel).

`mijn`/`mine`, `telaat`/`overdue`, `cijfers`/`stats`, `crisis [N|onderwerp]` and `hulp`/`help`, answered
with the same services and texts as on Slack, in Markdown and without links to cards (Teams has no
link to a message that the bot can build).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import phrasing
from bot.clock import utcnow
from bot.errors import InvalidInput, NotAllowed, WebcareError
from bot.i18n import Translator
from bot.phrasing import cut
from bot.runtime import Runtime
from bot.services import reports, surges
from bot.services.reports import ClockLine, Mine, Stats
from bot.triage.rules import topic_names
from handlers.teams.markdown import TEAMS, escape, markdown

WORDS = {"mine": "mine", "mijn": "mine", "overdue": "overdue", "telaat": "overdue", "laat": "overdue",
         "stats": "stats", "cijfers": "stats", "crisis": "crisis", "help": "help", "hulp": "help"}
"""What people type, in Dutch or English, and the command it means."""


def command_of(text: str) -> tuple[str, str] | None:
    """(command, the rest) when the text asks for one, else None (a plain message)."""
    word, _, rest = text.strip().partition(" ")
    command = WORDS.get(word.lower().lstrip("/"))
    return (command, rest.strip()) if command else None


def no_link(channel: str | None, ts: str | None) -> str:
    """Teams has no link to a message that the bot can build: the lines go without."""
    return ""


def render_mine(t: Translator, m: Mine) -> str:
    """My open cases and promises."""
    return phrasing.mine(markdown(t), TEAMS, m, no_link, sep="\n\n")


def render_overdue(t: Translator, items: list[ClockLine], total: int) -> str:
    """Running deadlines past due, oldest first."""
    return phrasing.overdue(markdown(t), TEAMS, items, total, no_link, sep="\n\n")


def render_stats(t: Translator, s: Stats) -> str:
    """Today's figures in one paragraph."""
    return phrasing.stats(markdown(t), s)


def render_open_surges(t: Translator, items: list[Any]) -> str:
    """`crisis`: the open surges numbered, and what to type."""
    md = markdown(t)
    if not items:
        return md("command.crisis_none")
    lines = [md("command.crisis_line", n=n, level=t(f"surge.level.{s.level}"),
                label=escape(cut(s.label or s.key, 80)), since=t.datetime(s.started_at),
                crisis=t("command.crisis_active") if s.crisis_at else "").rstrip()
             for n, s in enumerate(items, start=1)]
    return "\n\n".join([md("command.crisis_list"), *lines, md("command.crisis_how")])


async def run(rt: Runtime, *, command: str, rest: str, user_id: str, now: datetime | None = None) -> str:
    """The answer to a command typed by `user_id` (a refusal is an answer too, and is audited)."""
    t, now = rt.t, now or utcnow()
    md = markdown(t)
    if command == "help":
        return md("teams.help")
    if command == "crisis":
        return await _crisis(rt, rest, user_id=user_id, now=now)
    async with rt.maker() as session:
        if command == "mine":
            return render_mine(t, await reports.mine(session, user=user_id))
        if command == "overdue":
            items, total = await reports.overdue(session, now=now)
            return render_overdue(t, items, total)
        return render_stats(t, await reports.stats(session, now=now, tz=rt.settings.config.tz))


async def _crisis(rt: Runtime, arg: str, *, user_id: str, now: datetime) -> str:
    """`crisis`: list the open surges; `crisis N`: crisis mode on one; `crisis TOPIC`: declare one."""
    t = rt.t
    md = markdown(t)
    known = topic_names(rt.settings.config.triage.topics)
    try:
        if not arg:
            async with rt.maker() as session:
                return render_open_surges(t, await surges.listed(session))
        async with rt.uow() as session:
            if arg.isdigit():
                items = await surges.listed(session)
                if not 1 <= int(arg) <= len(items):
                    return md("command.crisis_no_such", n=arg[:6]) + "\n\n" + render_open_surges(t, items)
                surge = await surges.crisis(session=session, ref=items[int(arg) - 1].ref, actor=user_id,
                                            now=now, coord=rt.coord)
            else:
                surge = await surges.declare_crisis(session=session, topic=arg, known_topics=known,
                                                    actor=user_id, now=now, coord=rt.coord)
            return md("command.crisis_on", label=escape(surge.label or surge.key))
    except InvalidInput:
        topics = ", ".join(f"`{n}`" for n in sorted(known))
        return md("command.crisis_unknown", text=escape(arg[:40]), topics=topics)
    except WebcareError as exc:
        if isinstance(exc, NotAllowed):
            raise  # audited and explained by the caller, as every refusal
        return md(exc.key, **exc.params)
