"""Domain errors with a user-safe message: `key` names the catalog text, `params` fill it in."""

from __future__ import annotations


class WebcareError(Exception):
    """A refusal the user should see (ephemeral in Slack), not a crash."""

    key = "error.generic"

    def __init__(self, **params: object) -> None:
        super().__init__(f"{self.key} {params}")
        self.params = params


class CaseNotFound(WebcareError):
    key = "error.case_not_found"


class BadReference(WebcareError):
    key = "error.bad_reference"


class AlreadyClaimed(WebcareError):
    key = "error.already_claimed"


class CaseClosed(WebcareError):
    key = "error.case_ignored"


class ReplyNotPossible(WebcareError):
    key = "error.reply_not_possible"


class InvalidReply(WebcareError):
    key = "error.invalid_reply"


class ReplyWindowClosed(WebcareError):
    key = "error.reply_window_closed"


class ActionNotSupported(WebcareError):
    key = "error.action_not_supported"


class AnswerGone(WebcareError):
    key = "error.answer_gone"
