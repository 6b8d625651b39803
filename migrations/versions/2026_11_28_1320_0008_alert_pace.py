"""Alert card pace: the message count the alert card last showed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('surges') as batch:
        batch.add_column(sa.Column('card_messages', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('surges') as batch:
        batch.drop_column('card_messages')
