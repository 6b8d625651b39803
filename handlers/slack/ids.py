"""Slack identifiers: action, callback and block ids (CONTRACT.md names the public ones)."""

from enum import StrEnum

from bot.views import CardAction as Action  # the card's action ids are the core's actions

__all__ = ["Action", "Block", "Callback", "MARKER_EVENT"]


class Callback(StrEnum):
    REPLY = "case.reply"
    IGNORE = "case.ignore"


class Block(StrEnum):
    ACTIONS = "case.actions"
    REPLY = "reply"
    REPLY_TEXT = "text"
    IGNORE_REASON = "reason"
    IGNORE_REASON_SELECT = "choice"
    IGNORE_NOTE = "note"
    IGNORE_NOTE_TEXT = "text"


MARKER_EVENT = "webcare_outbox"
