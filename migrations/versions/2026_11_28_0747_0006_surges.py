"""Surges: alerts per scope, near-duplicate clusters, and the cluster of each mention during a surge.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 07:47:46.317917
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('surges',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ref', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=240), nullable=False),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('authors', sa.Integer(), nullable=False),
    sa.Column('negative', sa.Integer(), nullable=False),
    sa.Column('threats', sa.Integer(), nullable=False),
    sa.Column('rate_per_hour', sa.Float(), nullable=False),
    sa.Column('expected_per_hour', sa.Float(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('acked_by', sa.String(length=64), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('crisis_by', sa.String(length=64), nullable=True),
    sa.Column('crisis_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('statement', sa.Text(), nullable=True),
    sa.Column('statement_by', sa.String(length=64), nullable=True),
    sa.Column('statement_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('card_channel', sa.String(length=32), nullable=True),
    sa.Column('card_ts', sa.String(length=32), nullable=True),
    sa.Column('card_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surges')),
    sa.UniqueConstraint('ref', name=op.f('uq_surges_ref'))
    )
    with op.batch_alter_table('surges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_surges_state_key'), ['state', 'key'], unique=False)

    op.create_table('surge_clusters',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('surge_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('sample', sa.Text(), nullable=False),
    sa.Column('words', sa.JSON(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('threats', sa.Integer(), nullable=False),
    sa.Column('negative', sa.Integer(), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_by', sa.String(length=64), nullable=True),
    sa.Column('card_channel', sa.String(length=32), nullable=True),
    sa.Column('card_ts', sa.String(length=32), nullable=True),
    sa.Column('card_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('shown_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('shown_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['surge_id'], ['surges.id'], name=op.f('fk_surge_clusters_surge_id_surges'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surge_clusters')),
    sa.UniqueConstraint('surge_id', 'key', name=op.f('uq_surge_clusters_surge_id_key'))
    )
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cluster_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_mentions_cluster_id'), ['cluster_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_mentions_cluster_id_surge_clusters'), 'surge_clusters', ['cluster_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('mentions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_mentions_cluster_id_surge_clusters'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_mentions_cluster_id'))
        batch_op.drop_column('cluster_id')

    op.drop_table('surge_clusters')
    with op.batch_alter_table('surges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_surges_state_key'))

    op.drop_table('surges')
