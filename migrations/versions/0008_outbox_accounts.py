"""Email through an outbox, and accounts that can be deleted.

- outbox: one row per email, written in the transaction that caused it and
  sent by `flask outbox run`. `dedupe_key` is unique (one email per event);
  CHECKs hold the kinds and the statuses (pending, sent, failed); a partial
  index on the pending rows serves the worker's claim, another the admin's
  list by status;
- users.deleted_at: set when a shopper deletes the account (the name and
  email are replaced, the orders stay).

The column is added with ALTER TABLE on both engines, as in 0007 (a batch
rebuild on SQLite would drop the triggers of 0002, 0006 and 0007).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")
KINDS = (
    "order_placed",
    "order_paid",
    "order_shipped",
    "order_cancelled",
    "order_refunded",
    "password_reset",
    "password_changed",
    "email_change",
    "email_changed",
    "account_exists",
    "back_in_stock",
)
STATUSES = ("pending", "sent", "failed")
PENDING = sa.text("status = 'pending'")


def _sql_list(values):
    return ", ".join(f"'{value}'" for value in values)


def upgrade():
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), server_default="", nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.CheckConstraint(f"kind IN ({_sql_list(KINDS)})", name=op.f("ck_outbox_kind")),
        sa.CheckConstraint(
            f"status IN ({_sql_list(STATUSES)})", name=op.f("ck_outbox_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at", "id"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.create_index(
        "ix_outbox_status_created_at", "outbox", ["status", "created_at", "id"]
    )
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(), nullable=True))


def downgrade():
    op.execute("ALTER TABLE users DROP COLUMN deleted_at")
    op.drop_index("ix_outbox_status_created_at", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
