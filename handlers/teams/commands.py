"""Slack's `/webcare` in Teams: a message to the bot (in its 1:1 chat, or @webcare in a channel).

`mijn`/`mine`, `telaat`/`overdue`, `cijfers`/`stats`, `crisis [N|onderwerp]` and `hulp`/`help`, answered
with the same services and texts as on Slack, in Markdown and without links to cards (Teams has no
link to a message that the bot can build).
"""

from __future__ import annotations

from datetime import datetime

from bot import phrasing
from bot.clock import utcnow
from bot.errors import NotAllowed, WebcareError
from bot.i18n import Translator
from bot.runtime import Runtime
from bot.services import reports, surges
from bot.services.reports import ClockLine, Mine, Stats
from bot.triage.rules import topic_names
from handlers.teams.markdown import TEAMS, markdown

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
    """`crisis`: list the open surges; `crisis N`: crisis mode on one; `crisis TOPIC`: declare one. A
    refusal (NotAllowed) is raised: the caller explains and audits it, as every refusal."""
    md = markdown(rt.t)
    try:
        async with rt.uow() as session:
            outcome = await surges.crisis_command(session=session, arg=arg, actor=user_id, now=now,
                                                  coord=rt.coord,
                                                  known_topics=topic_names(rt.settings.config.triage.topics))
    except WebcareError as exc:
        if isinstance(exc, NotAllowed):
            raise
        return md(exc.key, **exc.params)
    return phrasing.crisis(md, TEAMS, outcome, "\n\n")
