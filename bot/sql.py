"""Small dialect helpers (SQLite and PostgreSQL) for statements SQLAlchemy spells per dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignore(session: AsyncSession, model: Any, index_elements: list[str]) -> Any:
    """An INSERT into `model`'s table that skips rows conflicting on `index_elements`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=index_elements)
