"""How cards say things, for any chat transport: author lines, triage, deadlines, notes, reply states.

The wording comes from the catalogs; the markup (bold, mentions, dates, escaping of user text, emoji)
from a transport's `Markup`, so Slack's mrkdwn and Teams' Markdown say the same sentences. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.craft.tone import ToneCode, ToneWarning
from bot.errors import NotAllowed, WebcareError
from bot.i18n import Translator
from bot.models import Surge
from bot.services.reports import ClockLine, Mine, Stats
from bot.services.surges import CrisisOutcome
from bot.triage.service import explain
from bot.views import (
    AuthorView,
    CaseCard,
    ClusterLine,
    CoordinationView,
    ReplyView,
    SurgeAlert,
    ThreadNote,
    TriageView,
)

DateKind = Literal["ago", "time", "datetime"]
"""How much of a moment to show: relative ("5 minutes ago"), a clock time, or date and time."""

STATUS_EMOJI = {"open": "large_blue_circle", "claimed": "large_yellow_circle", "answered": "white_check_mark",
                "ignored": "white_circle"}
SOURCE_EMOJI = {"x": "bird", "facebook": "blue_book", "instagram": "camera", "whatsapp": "speech_balloon"}
DECISION_EMOJI = {"respond": "large_green_circle", "consider": "large_orange_circle", "skip": "white_circle"}
LEVEL_EMOJI = {"watch": "eyes", "alert": "rotating_light", "crisis": "sos"}
PEOPLE_PARAMS = frozenset({"owner", "agent", "people", "actor", "lead"})
TIME_PARAMS = frozenset({"due", "until"})
BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Markup:
    """A transport's markup: user text made inert, bold, a person, a moment, an emoji by its name."""

    escape: Callable[[str], str]
    bold: Callable[[str], str]
    user: Callable[[str | None], str]
    date: Callable[[Translator, datetime, DateKind], str]
    emoji: Callable[[str], str]
    """An emoji by its Slack short name without colons ("lock"); "" gives ""."""


def cut(text: str, limit: int) -> str:
    """`text` at most `limit` characters, an ellipsis where it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_label(t: Translator, source: str) -> str:
    """The network's display name."""
    return t(f"source.{source}") if t.has(f"source.{source}") else source.capitalize()


def author_name(author: AuthorView) -> str:
    """@handle, else the name, else '?' (plain text, unescaped)."""
    return f"@{author.handle}" if author.handle else (author.name or "?")


def author_line(t: Translator, m: Markup, a: AuthorView) -> str:
    """Handle, name, followers and verified state of the author."""
    parts = []
    if a.handle:
        parts.append(m.bold(f"@{m.escape(a.handle.lstrip('@'))}"))
    if a.name:
        parts.append(m.escape(a.name) if parts else m.bold(m.escape(a.name)))
    if not parts:
        parts.append(t("card.unknown_author"))
    if a.followers is not None:
        parts.append(t("card.followers", count=t.count(a.followers)))
    if a.verified:
        parts.append(m.emoji("ballot_box_with_check") + " " + t("card.verified"))
    return " · ".join(parts)


def case_meta(t: Translator, m: Markup, card: CaseCard) -> list[str]:
    """When it came in, status, owner, messages in the conversation and the reply window."""
    owner = t("card.owner", owner=m.user(card.owner)) if card.owner else t("card.no_owner")
    meta = [
        t("card.received", ago=m.date(t, card.created_at, "ago")),
        f"{m.emoji(STATUS_EMOJI.get(card.status, ''))} " + t("card.status", status=t(f"status.{card.status}")),
        owner,
    ]
    if card.mention_count > 1:
        meta.append(t("card.messages", count=card.mention_count))
    if card.reply_until is not None:
        until = m.date(t, card.reply_until, "datetime")
        meta.append(t("card.window_closed") if card.window_closed else t("card.window_open", until=until))
    return meta


def reply_line(t: Translator, m: Markup, r: ReplyView) -> str:
    """Who replied and where the reply is (queued, waiting for a limit, sent, failed, with the spokesperson)."""
    queued = t("card.reply_queued")
    if r.eta is not None:
        queued = t("card.reply_waiting", at=m.date(t, r.eta, "time"))
    states = {"queued": queued, "failed": t("card.reply_failed"),
              "pending_approval": t("card.reply_awaiting_approval"), "rejected": t("card.reply_rejected")}
    state = states.get(r.status) or t("card.reply_sent", at=m.date(t, r.at, "time"))
    return f"{m.emoji('outbox_tray')} {t('card.reply_by', agent=m.user(r.agent))} ({state})"


def ignored_line(t: Translator, m: Markup, ignored_reason: str) -> str:
    """Why the case is ignored: the reason's label and the agent's note."""
    reason, _, note = ignored_reason.partition(": ")
    label = t(f"ignore.{reason}") if t.has(f"ignore.{reason}") else reason
    return t("card.ignored", reason=m.escape(label + (f" — {note}" if note else "")))


def triage_line(t: Translator, m: Markup, v: TriageView, *, hide_words: bool = False) -> str:
    """Decision, priority, intent, sentiment and the reasons, in one compact line.

    `hide_words`: leave out the words a threat was recognised by (the card hides the message).
    """
    parts = []
    if v.decision:
        parts.append(f"{m.emoji(DECISION_EMOJI.get(v.decision, ''))} {m.bold(t('decision.' + v.decision))}")
    if v.priority:
        parts.append(t(f"priority.{v.priority}"))
    if v.intent:
        parts.append(t(f"intent.{v.intent}"))
    if v.sentiment is not None:
        parts.append(
            t("card.sentiment", value=f"{v.sentiment:+.1f}".replace(".", "," if t.locale == "nl" else "."))
        )
    if v.needs_approval:
        parts.append(m.emoji("lock") + " " + t("card.needs_approval"))
    line = " · ".join(parts)
    why = explain(t, [r for r in v.reasons if not (hide_words and r.code == "threat")])
    if why:
        line += " — " + m.escape("; ".join(why))[:600]
    return line


def format_params(t: Translator, m: Markup, params: dict[str, str]) -> dict[str, str]:
    """Catalog parameters made safe: people as mentions, times as dates, the rest escaped."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if key in PEOPLE_PARAMS:
            out[key] = " ".join(m.user(u) for u in str(value).split()) or "-"
        elif key in TIME_PARAMS:
            try:
                at = datetime.fromisoformat(str(value))
            except ValueError:
                out[key] = m.escape(str(value))
            else:
                out[key] = m.date(t, at, "datetime")
        else:
            out[key] = m.escape(str(value))
    for key in ("owner", "people", "agent", "actor", "topic"):
        out.setdefault(key, "-")
    return out


def coordination_lines(t: Translator, m: Markup, v: CoordinationView) -> list[str]:
    """The card's deadline lines: response SLA, promises, approval, expert, snooze."""
    lines = []
    if v.response_due is not None:
        at = m.date(t, v.response_due, "datetime")
        lines.append(t("coord.response_late" if v.response_late else "coord.response_due", due=at))
    for p in v.promises:
        at = m.date(t, p.due, "datetime")
        lines.append(t("coord.promise_overdue" if p.overdue else "coord.promise", what=m.escape(p.what[:200]),
                       due=at))
    if v.broken_promises:
        lines.append(t("coord.broken", count=v.broken_promises))
    if v.approval_pending:
        lines.append(t("coord.approval_pending"))
    if v.experts_asked:
        lines.append(t("coord.expert_asked", people=" ".join(m.user(u) for u in v.experts_asked)))
    elif v.expert_answered_by:
        lines.append(t("coord.expert_answered", people=m.user(v.expert_answered_by)))
    if v.snoozed_until is not None:
        at = m.date(t, v.snoozed_until, "datetime")
        lines.append(t("coord.snoozed", until=at, reason=m.escape((v.snooze_reason or "")[:200])))
    return lines


def note_line(t: Translator, m: Markup, note: ThreadNote) -> str:
    """A line of history for the card's thread (without the quoted text that may follow it)."""
    params = format_params(t, m, dict(note.params))
    if note.event == "ignored" and "reason" in params and t.has(f"ignore.{params['reason']}"):
        params["reason"] = t(f"ignore.{params['reason']}")
    if "author" in params:
        params["author"] = "@" + params["author"].lstrip("@")
    params["actor"] = m.user(note.actor)
    return t(f"note.{note.event}", **params)


def notice_line(t: Translator, m: Markup, note: ThreadNote) -> str:
    """A notice for the channel (a source failing or recovering, a gap in polling)."""
    params = {k: m.escape(v) for k, v in note.params.items()}
    return m.emoji("information_source") + " " + t(f"notice.{note.event}", **params)


def sparkline(values: list[float], width: int = 30) -> str:
    """The rate over time as a line of bars (the text beside the chart image, or instead of it)."""
    values = values[-width:]
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in values)


def surge_what(t: Translator, m: Markup, a: SurgeAlert) -> str:
    """What the storm is on: all channels, a topic or one post."""
    if a.scope == "org":
        return t("surge.scope.org")
    if a.scope == "topic":
        return t("surge.scope.topic", label=m.escape(a.label))
    return t("surge.scope.thread", label=m.escape(a.label))


def surge_figures(t: Translator, m: Markup, a: SurgeAlert) -> str:
    """Messages, authors, negative ones, the rate against normal since the start, and the top words."""
    growth = a.rate_per_hour / a.expected_per_hour if a.expected_per_hour > 0 else 0.0
    figures = t(
        "surge.figures",
        messages=a.messages,
        authors=a.authors,
        negative=a.negative,
        rate=f"{a.rate_per_hour:.0f}",
        expected=f"{a.expected_per_hour:.1f}",
        growth=f"{growth:.0f}",
        since=m.date(t, a.started_at, "datetime"),
    )
    if a.words:
        figures += "\n" + t("surge.words", words=m.escape(", ".join(a.words)))
    return figures


def cluster_lines(t: Translator, m: Markup, clusters: tuple[ClusterLine, ...]) -> list[str]:
    """The alert's largest groups, one line each; a group with threats keeps its text hidden."""
    return [
        t("surge.cluster_line", count=c.count, sample=m.escape(cut(c.sample, 140)))
        if not c.threats
        else t("surge.cluster_hidden", count=c.count, threats=c.threats)
        for c in clusters
    ]


REFUSAL_PEOPLE = frozenset({"owner", "actor", "agent"})
"""A refusal's parameters that name a person."""


def refusal(t: Translator, m: Markup, error: WebcareError) -> str:
    """What a refused person is told (their role, a bad reference, a case someone else has, ...)."""
    params = {k: m.user(str(v)) if k in REFUSAL_PEOPLE else v for k, v in error.params.items()}
    if isinstance(error, NotAllowed):
        params["role"] = t("role.or").join(t(f"role.{r}") for r in str(error.params.get("role")).split("/"))
    return t(error.key, **params)


Link = Callable[[str | None, str | None], str]
"""A link to a card (channel, message ts) as the transport can give one; "" when it cannot."""


def _item(t: Translator, key: str, link: str, **params: object) -> str:
    line = t(key, link=link, **params)
    return line if link else line.rstrip(" —")


def mine(t: Translator, m: Markup, data: Mine, link: Link, *, sep: str = "\n") -> str:
    """`/webcare mine`: my open cases and promises."""
    if not data.cases and not data.promises:
        return t("command.mine_none")
    lines = [t("command.mine_title", count=data.total_cases)]
    lines += [_item(t, "command.item_case", link(c.card_channel, c.card_ts), status=t(f"status.{c.status}"),
                    source=m.escape(source_label(t, c.source)), author=m.escape("@" + c.author.lstrip("@")),
                    text=m.escape(c.text)) for c in data.cases]
    if data.promises:
        lines.append(t("command.promises_title", count=len(data.promises)))
        lines += [_item(t, "command.item_promise", link(p.card_channel, p.card_ts), what=m.escape(p.what[:200]),
                        due=m.date(t, p.due, "datetime")) for p in data.promises]
    return sep.join(lines)


def overdue(t: Translator, m: Markup, items: list[ClockLine], total: int, link: Link, *,
            sep: str = "\n") -> str:
    """`/webcare overdue`: running deadlines past due, oldest first."""
    if not items:
        return t("command.overdue_none")
    lines = [t("command.overdue_title", count=total)]
    lines += [_item(t, "command.item_clock", link(c.card_channel, c.card_ts), kind=t(f"command.kind.{c.kind}"),
                    due=m.date(t, c.due, "datetime"), owner=m.user(c.owner) if c.owner else "-") for c in items]
    return sep.join(lines)


def stats(t: Translator, s: Stats) -> str:
    """`/webcare stats`: today's figures in one paragraph."""
    return t("command.stats", received=s.received, answered=s.answered,
             median=t.ago(s.median) if s.median is not None else "-",
             p90=t.ago(s.p90) if s.p90 is not None else "-", promises_open=s.promises_open,
             overdue=s.overdue, kept=s.kept, late=s.late, broken=s.broken)


def tone_line(t: Translator, m: Markup, w: ToneWarning, source: str) -> str:
    """One tone warning as a sentence, quoting the draft's words."""
    if w.code == ToneCode.TOO_LONG:
        return t("tone.too_long", length=w.length, limit=w.limit, source=source)
    if w.code == ToneCode.DUPLICATE and w.at is not None:
        return t("tone.duplicate", at=m.date(t, w.at, "datetime"))
    return t(f"tone.{w.code.value}", evidence=", ".join(f"'{m.escape(e)}'" for e in w.evidence))


def open_surges(t: Translator, m: Markup, items: list[Surge], sep: str) -> str:
    """`crisis`: the open surges numbered, and what to type."""
    if not items:
        return t("command.crisis_none")
    lines = [t("command.crisis_line", n=n, level=t(f"surge.level.{s.level}"),
               label=m.escape(cut(s.label or s.key, 80)), since=m.date(t, s.started_at, "datetime"),
               crisis=t("command.crisis_active") if s.crisis_at else "").rstrip()
             for n, s in enumerate(items, start=1)]
    return sep.join([t("command.crisis_list"), *lines, t("command.crisis_how")])


def crisis(t: Translator, m: Markup, outcome: CrisisOutcome, sep: str) -> str:
    """The answer to `crisis [N | TOPIC]`."""
    if outcome.surge is not None:
        return t("command.crisis_on", label=m.escape(outcome.surge.label or outcome.surge.key))
    if outcome.unknown is not None:
        return t("command.crisis_unknown", text=m.escape(outcome.unknown),
                 topics=", ".join(f"`{n}`" for n in outcome.topics))
    listing = open_surges(t, m, outcome.listed, sep)
    return t("command.crisis_no_such", n=outcome.no_such) + sep + listing if outcome.no_such else listing
