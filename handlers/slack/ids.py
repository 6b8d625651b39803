"""Slack identifiers: action, callback and block ids (CONTRACT.md names the public ones)."""

from enum import StrEnum

from bot.views import CardAction as Action  # the card's action ids are the core's actions

__all__ = ["Action", "Block", "Callback", "MARKER_EVENT", "ModalAction"]


class Callback(StrEnum):
    REPLY = "case.reply"
    IGNORE = "case.ignore"


class ModalAction(StrEnum):
    """Buttons inside modals."""

    USE_ANSWER = "craft.use"
    """Start the reply from an answer-library wording (opens it, filled in, in a stacked modal)."""


class Block(StrEnum):
    ACTIONS = "case.actions"
    REPLY = "reply"
    REPLY_TEXT = "text"
    IGNORE_REASON = "reason"
    IGNORE_REASON_SELECT = "choice"
    IGNORE_NOTE = "note"
    IGNORE_NOTE_TEXT = "text"


MARKER_EVENT = "webcare_outbox"
