"""Storm card: one card per surge in the mention channel that counts every collapsed message.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('surges') as batch:
        batch.add_column(sa.Column('storm_channel', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('storm_ts', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('storm_due_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('surges') as batch:
        batch.drop_column('storm_due_at')
        batch.drop_column('storm_ts')
        batch.drop_column('storm_channel')
