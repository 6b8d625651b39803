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


class NotAllowed(WebcareError):
    """The user lacks the role for this action (refused in the service, and audited)."""

    key = "error.not_allowed"


class AlreadyDecided(WebcareError):
    key = "error.already_decided"


class ApprovalNotFound(WebcareError):
    key = "error.approval_not_found"


class InvalidInput(WebcareError):
    """A form value is wrong; `field` names the modal block to show it on."""

    key = "error.invalid_input"


class NoExperts(WebcareError):
    """No experts are configured for the case's topics (roles.experts)."""

    key = "error.no_experts"


class AnswerGone(WebcareError):
    key = "error.answer_gone"


class NoStatement(WebcareError):
    """Bulk replies need the holding statement a spokesperson approved."""

    key = "error.no_statement"
