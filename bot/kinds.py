"""Outbox kinds and lanes: the names shared by the pipeline, the services and the delivery jobs."""

CARD_POST = "card.post"
CARD_UPDATE = "card.update"
NOTE = "note.post"
NOTICE = "notice.post"
MESSAGE = "message.post"
"""A direct message to a person (nudge, escalation, expert question) or a line in a channel."""
APPROVAL_POST = "approval.post"
APPROVAL_UPDATE = "approval.update"
UPDATE_LANE = "chat.update"
REPLY = "reply.send"
LIKE = "like.send"
HIDE = "hide.send"


def post_lane(channel: str) -> str:
    """The lane of messages posted to one chat channel or person (paced about one per second)."""
    return f"chat.post:{channel}"
