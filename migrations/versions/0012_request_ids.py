"""The request that wrote each audit event and outbox row.

- audit_events.request_id, outbox.request_id: the id of the HTTP request (or
  the command) that wrote the row, as its log lines and its 500 page show
  it; NULL for rows written before this migration.

Added with ALTER TABLE on both engines, as in 0007 and 0008 (a batch rebuild
on SQLite would drop the triggers of earlier migrations, the audit trail's
append-only guard among them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("audit_events", "outbox")


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column("request_id", sa.String(64), nullable=True))


def downgrade():
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN request_id")
