"""Migrations from empty to head (and back) on SQLite and PostgreSQL match the models (SQLite: but for
VARCHAR lengths, which it ignores)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import String, inspect

from bot.db import alembic_config, create_engine, upgrade
from bot.models import Base


def _compare_type(context: Any, inspected: Any, metadata: Any, inspected_type: Any,
                  metadata_type: Any) -> bool | None:
    """Types differ as Alembic says, except VARCHAR lengths on SQLite, which ignores them (0009)."""
    if (context.dialect.name == "sqlite" and isinstance(inspected_type, String)
            and isinstance(metadata_type, String)):
        return False
    return None


async def test_empty_to_head_matches_models_and_downgrades(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # idempotent
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": _compare_type}), Base.metadata))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("outbox")})
        assert diff == []
        assert {"cases", "mentions", "replies", "case_events", "outbox", "lanes", "inbound_seen",
                "rejected_payloads"} <= tables
        assert {"ix_outbox_due", "ix_outbox_open_case"} <= indexes
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
            await conn.commit()
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
    finally:
        await engine.dispose()
