"""Slack identifiers: action, callback and block ids (CONTRACT.md names the public ones)."""

from enum import StrEnum

from bot.views import CardAction as Action  # the card's action ids are the core's actions

__all__ = [
    "Action", "ApprovalAction", "Block", "Callback", "Command", "ExpertAction", "MARKER_EVENT", "ModalAction",
    "SurgeAction", "ClusterAction",
]


class Callback(StrEnum):
    REPLY = "case.reply"
    IGNORE = "case.ignore"
    PROMISE = "case.promise"
    ASK_EXPERT = "case.ask_expert"
    SNOOZE = "case.snooze"
    EXPERT_ANSWER = "expert.answer"
    APPROVAL_EDIT = "approval.edit"
    APPROVAL_REJECT = "approval.reject"
    STATEMENT = "surge.statement"


class ApprovalAction(StrEnum):
    """Buttons on an approval card (CONTRACT.md)."""

    APPROVE = "approval.approve"
    EDIT = "approval.edit"
    REJECT = "approval.reject"


class SurgeAction(StrEnum):
    """Buttons on a surge alert (CONTRACT.md)."""

    ACK = "surge.ack"
    ESCALATE = "surge.escalate"
    RESOLVE = "surge.resolve"
    CRISIS = "surge.crisis"
    STATEMENT = "surge.statement"
    GROUPS = "surge.groups"
    """The storm card's "all groups" button: every group of the storm, each a click from its messages."""


class ClusterAction(StrEnum):
    """Bulk actions on a cluster card."""

    REPLY = "cluster.reply"
    HIDE = "cluster.hide"
    HANDLED = "cluster.handled"
    SHOW = "cluster.show"


class ExpertAction(StrEnum):
    ANSWER = "expert.answer"


class Command(StrEnum):
    WEBCARE = "/webcare"


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
    ASK_APPROVAL = "approval"
    ASK_APPROVAL_BOX = "ask"
    TEXT = "text"
    WHEN = "when"
    USERS = "users"
    PROMISE_WHAT = "what"
    PROMISE_DUE = "due"
    SNOOZE_UNTIL = "until"
    SNOOZE_REASON = "reason"
    EXPERT_WHO = "experts"
    EXPERT_QUESTION = "question"
    EXPERT_ANSWER = "answer"
    EXPERT_ACTIONS = "expert.actions"
    APPROVAL_TEXT = "text"
    APPROVAL_REASON = "reason"
    APPROVAL_ACTIONS = "approval.actions"
    SURGE_ACTIONS = "surge.actions"
    CLUSTER_ACTIONS = "cluster.actions"
    STORM_ACTIONS = "storm.actions"
    STATEMENT = "statement"


MARKER_EVENT = "webcare_outbox"
