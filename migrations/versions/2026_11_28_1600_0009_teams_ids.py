"""Teams: room for Teams conversation and message ids in every chat column and outbox lane, and the
names of the people the chat told us about (chat_people).

Slack's ids are short (`C0…`, `1700000000.000100`); a Teams channel is `19:…@thread.tacv2` (about 50
characters) and a 1:1 chat `a:1…` (over 130). PostgreSQL widens the columns in place (no rewrite);
SQLite has no VARCHAR lengths (a column's declared length is ignored), so its tables are left as they
are rather than copied: rebuilding seven tables would cost every new database, and every large one,
time for nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNELS = {
    'cases': ('card_channel',), 'approvals': ('card_channel',), 'direct_threads': ('channel',),
    'surges': ('card_channel', 'storm_channel'), 'surge_clusters': ('card_channel',),
}
MESSAGES = {
    'cases': ('card_ts',), 'approvals': ('card_ts',), 'direct_threads': ('ts',),
    'surges': ('card_ts', 'storm_ts'), 'surge_clusters': ('card_ts',),
}
LANES = {'outbox': ('lane',), 'lanes': ('key',)}


def _widen(*, up: bool) -> None:
    sizes = [(CHANNELS, 32, 200), (MESSAGES, 32, 64), (LANES, 96, 240)]
    tables = {table for columns, _, _ in sizes for table in columns}
    for table in sorted(tables):
        with op.batch_alter_table(table) as batch:
            for columns, old, new in sizes:
                for name in columns.get(table, ()):
                    batch.alter_column(name, type_=sa.String(new if up else old),
                                       existing_type=sa.String(old if up else new))


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        _widen(up=True)
    op.create_table(
        'chat_people',
        sa.Column('id', sa.String(64), nullable=False),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_people')),
    )


def downgrade() -> None:
    op.drop_table('chat_people')
    if op.get_bind().dialect.name != 'sqlite':
        _widen(up=False)
