"""`webcare replay FILE`: the whole pipeline over an export in simulated time, without Slack.

`bot.replay.sim` runs it, `bot.replay.recorder` stands in for Slack, `bot.replay.report` says what
happened, `bot.replay.html` draws it. `replay()` ties them together for the CLI.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.importer import EXTENSIONS, Row, open_export
from bot.schemas import MentionIn
from bot.settings import Settings

DEFAULT_TAIL = timedelta(hours=1)


def read_export(path: Path, settings: Settings) -> tuple[list[MentionIn], list[Row]]:
    """The file's valid mentions sorted by created_at, and its refused rows (like `webcare import`)."""
    fmt = None if path.suffix.lower() in EXTENSIONS else "jsonl"
    reader = open_export(path, fmt=fmt, source=None, mapping=[], tz=settings.config.tz)
    return split_rows(reader.rows())


def split_rows(rows: Iterable[Row]) -> tuple[list[MentionIn], list[Row]]:
    """Valid mentions (sorted by created_at, stable) and refused rows."""
    valid: list[MentionIn] = []
    refused: list[Row] = []
    for row in rows:
        if row.mention is None:
            refused.append(row)
        else:
            valid.append(row.mention)
    valid.sort(key=lambda m: m.created_at)
    return valid, refused


async def replay(
    settings: Settings,
    mentions: list[MentionIn],
    rejected: list[Row],
    *,
    database: Path | None = None,
    tail: timedelta = DEFAULT_TAIL,
    step: timedelta | None = None,
) -> dict[str, Any]:
    """Run the simulation on a fresh SQLite database (temporary unless `database`); return the report."""
    from bot.replay.report import build
    from bot.replay.sim import Simulation

    with tempfile.TemporaryDirectory(prefix="webcare-replay-") as tmp:
        path = database or Path(tmp) / "replay.db"
        url = f"sqlite+aiosqlite:///{path}"
        settings = dataclasses.replace(settings, env=settings.env.model_copy(update={"database_url": url}))
        sim = Simulation(settings, path, step=step)
        began = time.perf_counter()
        try:
            await sim.migrate()
            await sim.run(mentions, tail=tail)
            report = await build(sim, mentions, rejected, wall_seconds=time.perf_counter() - began)
        finally:
            await sim.close()
    report["run"]["database"] = str(database) if database else None
    return report
