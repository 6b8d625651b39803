"""What a refused user is told, and the audit line of a refusal (shared by every Slack listener)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from bot.clock import utcnow
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
    raw = payload.get("value") or payload.get("private_metadata") or ""
    ref = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        data = json.loads(raw)
        ref = next((str(v) for v in data.values()), None) if isinstance(data, dict) else None
    rt.metrics.refused.labels(action=str(exc.params.get("action", "?"))).inc()
    async with rt.uow() as session:
        await audit.refusal(session, actor=str(exc.params.get("user", "?")), at=utcnow(), ref=ref,
                            action=str(exc.params.get("action")), role=str(exc.params.get("role")))
