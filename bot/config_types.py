"""Building blocks of the app.yaml models, shared by bot.settings and the modules it imports."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from bot.durations import parse_duration

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    """A config section: unknown keys are refused (a typo must not fall back to a default), frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
