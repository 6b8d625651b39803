"""How people are named in app.yaml and in chat texts: Slack user ids, or Microsoft Entra object ids (Teams)."""

from __future__ import annotations

import re

ENTRA_ID = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
"""A Microsoft Entra (Azure AD) object id, as Teams names a person (`from.aadObjectId`)."""
SLACK_USER = r"[UW][A-Z0-9]{2,}"
"""A Slack user id."""
PERSON_ID = rf"^(?:{SLACK_USER}|{ENTRA_ID})$"
"""A person in either chat."""
OWNER_ID = rf"^(?:[UWS][A-Z0-9]{{2,}}|{ENTRA_ID})$"
"""A person or, in Slack, a user group (S…): who owns an answer."""


def is_entra_id(value: str) -> bool:
    """Whether `value` is a Microsoft Entra object id (a Teams person), not a Slack id."""
    return re.fullmatch(ENTRA_ID, value) is not None
