"""Reply craft: answer uses for rotation; wording fingerprint, promise and overridden tone warnings on replies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 06:52:32.892024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('answer_uses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('variant_key', sa.String(length=32), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('author_key', sa.String(length=240), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reply_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_answer_uses_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reply_id'], ['replies.id'], name=op.f('fk_answer_uses_reply_id_replies'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answer_uses'))
    )
    with op.batch_alter_table('answer_uses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_uses_variant_key_used_at'), ['variant_key', 'used_at'], unique=False)

    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('promise', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('promise_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('tone_overrides', sa.JSON(), nullable=True))
        batch_op.create_index(batch_op.f('ix_replies_promise_due_at'), ['promise_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_replies_text_hash_created_at'), ['text_hash', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_replies_text_hash_created_at'))
        batch_op.drop_index(batch_op.f('ix_replies_promise_due_at'))
        batch_op.drop_column('tone_overrides')
        batch_op.drop_column('promise_due_at')
        batch_op.drop_column('promise')
        batch_op.drop_column('text_hash')

    with op.batch_alter_table('answer_uses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_uses_variant_key_used_at'))

    op.drop_table('answer_uses')
