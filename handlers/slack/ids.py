"""Slack identifiers: action, callback and block ids (CONTRACT.md names the public ones)."""

from enum import StrEnum


class Action(StrEnum):
    CLAIM = "case.claim"
    REPLY = "case.reply"
    IGNORE = "case.ignore"
    ASK_EXPERT = "case.ask_expert"
    PROMISE = "case.promise"
    LIKE = "case.like"
    OPEN_ORIGINAL = "case.open_original"


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
