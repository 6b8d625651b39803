"""What a refused user is told, and the audit line of a refusal (shared by every Slack listener)."""

from __future__ import annotations

from typing import Any

from bot.errors import NotAllowed, WebcareError
from bot.i18n import Translator
from bot.phrasing import refusal
from bot.runtime import Runtime
from bot.services import audit
from handlers.slack.blocks import SLACK


def refusal_text(t: Translator, error: WebcareError) -> str:
    """What the user is told when the service refused (their role, a bad reference, ...)."""
    return refusal(t, SLACK, error)


async def audit_refusal(rt: Runtime, exc: NotAllowed, payload: dict[str, Any]) -> None:
    """Record who was refused what, on which case when the button or modal tells it."""
    await audit.refused(rt, exc, payload.get("value") or payload.get("private_metadata"))
