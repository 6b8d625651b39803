"""Small dialect helpers (SQLite and PostgreSQL) for statements SQLAlchemy spells per dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignore(session: AsyncSession, model: Any, index_elements: list[str]) -> Any:
    """An INSERT into `model`'s table that skips rows conflicting on `index_elements`."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=index_elements)
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=index_elements)


def upsert(session: AsyncSession, model: Any, index_elements: list[str], update: list[str], *,
           when_changed: Sequence[str] = ()) -> Any:
    """An INSERT into `model`'s table that, on a conflict on `index_elements`, sets the `update` columns;
    with `when_changed`, only when one of those columns differs (else the row is not written at all)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model)
    changed = [getattr(model, name) != getattr(stmt.excluded, name) for name in when_changed]
    return stmt.on_conflict_do_update(index_elements=index_elements,
                                      set_={name: getattr(stmt.excluded, name) for name in update},
                                      where=or_(*changed) if changed else None)
