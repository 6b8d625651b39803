"""Teams' text markup: the catalogs' Slack-flavoured mrkdwn as Adaptive Card Markdown; user text made inert.

Adaptive Card TextBlocks take a Markdown subset: `**bold**`, `_italic_`, `[text](url)`, lists; a line
break needs an empty line. The catalogs are written in Slack mrkdwn (`*bold*`, `<url|text>`, `:lock:`),
so `MarkdownTranslator` converts each template before formatting it (parameters are escaped already).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache

from bot.i18n import Translator
from bot.phrasing import DateKind, Markup

EMOJI = {
    "alarm_clock": "⏰", "ballot_box_with_check": "☑️", "bird": "🐦", "blue_book": "📘", "books": "📚",
    "broken_heart": "💔", "busts_in_silhouette": "👥", "camera": "📷", "eyes": "👀",
    "globe_with_meridians": "🌐", "handshake": "🤝", "hourglass_flowing_sand": "⏳", "inbox_tray": "📥",
    "information_source": "ℹ️", "large_blue_circle": "🔵", "large_green_circle": "🟢",
    "large_orange_circle": "🟠", "large_yellow_circle": "🟡", "leftwards_arrow_with_hook": "↩️",
    "lock": "🔒", "loudspeaker": "📢", "memo": "📝", "mortar_board": "🎓", "no_entry": "⛔",
    "outbox_tray": "📤", "red_circle": "🔴", "repeat": "🔁", "robot_face": "🤖", "rotating_light": "🚨",
    "see_no_evil": "🙈", "sos": "🆘", "speech_balloon": "💬", "tada": "🎉",
    "thunder_cloud_and_rain": "⛈️", "warning": "⚠️", "white_check_mark": "✅", "white_circle": "⚪",
    "zzz": "💤",
}
"""The Slack short names the catalogs and renderers use, as characters (`emoji()` drops an unknown one)."""

_SHORTCODE = re.compile(r":([a-z0-9_+-]+):")
_BOLD = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_LINK = re.compile(r"<([^<>|\s]+)\|([^<>]+)>")
_SPECIAL = re.compile(r"([\\`*_\[\]<>~])")


def emoji(name: str) -> str:
    """An emoji by its Slack short name ("lock" → 🔒); "" or an unknown name gives ""."""
    return EMOJI.get(name, "")


def escape(text: str) -> str:
    """User text made inert for Markdown: no bold, links or code it did not mean."""
    return _SPECIAL.sub(r"\\\1", text)


def user(uid: str | None) -> str:
    """A person as text (the transport maps ids to Teams mentions later)."""
    return escape(uid or "?")


def date(t: Translator, value: datetime, kind: DateKind) -> str:
    """A moment in the team's time zone (a card is one text for all readers; Slack localises per reader)."""
    return t.datetime(value)


@cache
def to_markdown(template: str) -> str:
    """A catalog template in Slack mrkdwn as Markdown: `*b*` → `**b**`, `<u|t>` → `[t](u)`, `:x:` → emoji."""
    text = _LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})", template)
    text = _BOLD.sub(r"**\1**", text)
    text = _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    return text.replace("\n", "\n\n")


def lines(*parts: str) -> str:
    """Lines as one Markdown text (a TextBlock needs an empty line for a line break)."""
    return "\n\n".join(p for p in parts if p)


def paragraphs(text: str) -> str:
    """User text, escaped, its line breaks kept."""
    return "\n\n".join(escape(line) for line in text.splitlines() if line.strip()) or "…"


class MarkdownTranslator(Translator):
    """A Translator whose messages are Markdown (the catalogs converted by `to_markdown`)."""

    def __init__(self, t: Translator) -> None:
        super().__init__(t.locale, t.tz)

    def __call__(self, key: str, /, **params: object) -> str:
        """Return the message for `key` as Markdown, formatted with `params` (escaped by the caller)."""
        return to_markdown(self._messages[key]).format(**params)

    def unlinked(self, key: str, /, **params: object) -> str:
        """The message with its `<{link}|text>` links as their text only (no link to give)."""
        return to_markdown(_LINK.sub(r"\2", self._messages[key])).format(**params)


def markdown(t: Translator) -> MarkdownTranslator:
    """`t` speaking Markdown (itself when it already does)."""
    return t if isinstance(t, MarkdownTranslator) else MarkdownTranslator(t)


TEAMS = Markup(escape=escape, bold=lambda text: f"**{text}**", user=user, date=date, emoji=emoji)
"""Teams' Markdown for the shared phrasing (bot.phrasing)."""


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_BOLD = re.compile(r"(?<!\\)\*\*")
_MD_ITALIC = re.compile(r"(?<![\\\w])_(\S(?:.*?\S)?)_(?!\w)")
_MD_ESCAPED = re.compile(r"\\(.)")


def plain(text: str) -> str:
    """Markdown as plain text (a notification shows no markup): links as their text, no bold or escapes."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_ITALIC.sub(r"\1", _MD_BOLD.sub("", text))
    return _MD_ESCAPED.sub(r"\1", text).replace("\n\n", " ")
