"""Initial schema: cases, mentions, replies, audit events, outbox, lanes, dedupe keys, rejects.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 06:51:43.252939
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("venue", sa.String(length=16), nullable=False),
        sa.Column("thread_key", sa.String(length=200), nullable=False),
        sa.Column("author_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("ignored_reason", sa.Text(), nullable=True),
        sa.Column("mention_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_mention_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("card_channel", sa.String(length=32), nullable=True),
        sa.Column("card_ts", sa.String(length=32), nullable=True),
        sa.Column("card_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("ref", name=op.f("uq_cases_ref")),
    )
    op.create_index(
        op.f("ix_cases_card_channel_card_ts"), "cases", ["card_channel", "card_ts"], unique=False
    )
    op.create_index(
        op.f("ix_cases_source_thread_key_author_key"),
        "cases",
        ["source", "thread_key", "author_key"],
        unique=False,
    )

    op.create_table(
        "inbound_seen",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_inbound_seen")),
    )
    op.create_index(op.f("ix_inbound_seen_seen_at"), "inbound_seen", ["seen_at"], unique=False)

    op.create_table(
        "lanes",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_lanes")),
    )
    op.create_table(
        "rejected_payloads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_payloads")),
    )
    op.create_index(
        op.f("ix_rejected_payloads_received_at"), "rejected_payloads", ["received_at"], unique=False
    )

    op.create_table(
        "case_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_events_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(
        op.f("ix_case_events_case_id_at"), "case_events", ["case_id", "at"], unique=False
    )

    op.create_table(
        "mentions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=200), nullable=True),
        sa.Column("in_reply_to", sa.String(length=200), nullable=True),
        sa.Column("venue", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("author_id", sa.String(length=200), nullable=True),
        sa.Column("author_handle", sa.String(length=200), nullable=True),
        sa.Column("author_name", sa.String(length=300), nullable=True),
        sa.Column("author_followers", sa.BigInteger(), nullable=True),
        sa.Column("author_verified", sa.Boolean(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_mentions_case_id_cases"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mentions")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_mentions_source_external_id")),
    )
    op.create_index(op.f("ix_mentions_case_id"), "mentions", ["case_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("lane", sa.String(length=96), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_outbox_case_id_cases"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["not_before"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'inflight')"),
        sqlite_where=sa.text("status IN ('pending', 'inflight')"),
    )
    op.create_index(
        "ix_outbox_open_case",
        "outbox",
        ["case_id", "kind"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "replies",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mention_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_replies_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_replies_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replies")),
    )
    op.create_index(op.f("ix_replies_case_id"), "replies", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_replies_case_id"), table_name="replies")

    op.drop_table("replies")
    op.drop_index(
        "ix_outbox_open_case",
        table_name="outbox",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_outbox_due",
        table_name="outbox",
        postgresql_where=sa.text("status IN ('pending', 'inflight')"),
        sqlite_where=sa.text("status IN ('pending', 'inflight')"),
    )

    op.drop_table("outbox")
    op.drop_index(op.f("ix_mentions_case_id"), table_name="mentions")

    op.drop_table("mentions")
    op.drop_index(op.f("ix_case_events_case_id_at"), table_name="case_events")

    op.drop_table("case_events")
    op.drop_index(op.f("ix_rejected_payloads_received_at"), table_name="rejected_payloads")

    op.drop_table("rejected_payloads")
    op.drop_table("lanes")
    op.drop_index(op.f("ix_inbound_seen_seen_at"), table_name="inbound_seen")

    op.drop_table("inbound_seen")
    op.drop_index(op.f("ix_cases_source_thread_key_author_key"), table_name="cases")
    op.drop_index(op.f("ix_cases_card_channel_card_ts"), table_name="cases")

    op.drop_table("cases")
