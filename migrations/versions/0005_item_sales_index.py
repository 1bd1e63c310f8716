"""A covering index for an item's sales summary.

The admin's item page sums a best seller's purchase lines (lines, units,
revenue, distinct buyers). With every column it needs in one index, both
engines answer from the index alone instead of fetching each line's row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_user_items_item_sales",
        "user_items",
        ["item_id", "user_id", "quantity", "unit_price_cents"],
    )


def downgrade():
    op.drop_index("ix_user_items_item_sales", table_name="user_items")
