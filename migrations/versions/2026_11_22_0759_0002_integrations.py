"""Integrations: poll cursors and leases; mention account, edits, deletions, likes, hiding; case notice and evidence hold.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:59:11.327286
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('integration_state',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('cursor', sa.JSON(), nullable=False),
    sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_integration_state'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notice', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('evidence_hold', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('liked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('hidden', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.drop_column('hidden')
        batch_op.drop_column('liked_at')
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('edited_at')
        batch_op.drop_column('account')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('evidence_hold')
        batch_op.drop_column('notice')

    op.drop_table('integration_state')
