"""Triage: labels, decision, priority and approval on mentions; decision and priority on cases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:30:16.705024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decision', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('needs_approval', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('intent', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('sentiment', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('threat', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('topics', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('decision', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('needs_approval', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('triage', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.drop_column('triage')
        batch_op.drop_column('needs_approval')
        batch_op.drop_column('priority')
        batch_op.drop_column('decision')
        batch_op.drop_column('topics')
        batch_op.drop_column('threat')
        batch_op.drop_column('sentiment')
        batch_op.drop_column('intent')
        batch_op.drop_column('language')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('needs_approval')
        batch_op.drop_column('priority')
        batch_op.drop_column('decision')

