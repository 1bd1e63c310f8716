"""Index purchase lines by time: the latest purchases across the store.

Popular items and the admin's list of every purchase read the newest lines
first; without this index both sort the whole user_items table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_user_items_created_at", "user_items", ["created_at", "id"])


def downgrade():
    op.drop_index("ix_user_items_created_at", table_name="user_items")
