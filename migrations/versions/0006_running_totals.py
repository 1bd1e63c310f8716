"""Running totals kept by the database: live items, item sales, user purchase lines.

The busiest pages showed totals that cost as much as the data they summed:
the catalogue counted every live item on each view, an item's admin page
summed all its purchase lines (45,000 for a best seller) and a shopper's
history counted all of theirs. The database now keeps those totals as rows
are written, in the writing transaction, so reading one is a primary-key
lookup (or a column of a row the page loads anyway):

- store_totals.live_items: items with archived_at NULL;
- items.sales_lines, units_sold, revenue_cents (at the price paid) and
  customers (distinct buyers);
- users.purchase_lines.

Triggers keep them whatever writes the rows (checkout, the seed, an import,
a fix in psql), so they cannot drift from the rows they count. On PostgreSQL
the triggers for inserts and deletes run once per statement over its
transition table, so a bulk insert updates each total once per statement,
not once per row; an item's archived_at flips run per row, and only when
that column is set (a checkout's stock UPDATE does not touch the counter).

A buyer is new to an item when no other line of theirs for it exists. The
check runs after checkout has locked the item's row (its stock UPDATE), in a
statement of its own with a fresh snapshot, so two checkouts of one user
racing for one item cannot both count them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ITEM_TOTALS = ("sales_lines", "units_sold", "revenue_cents", "customers")

SQLITE_TRIGGERS = [
    # live items
    """
    CREATE TRIGGER items_live_insert AFTER INSERT ON items
    WHEN NEW.archived_at IS NULL BEGIN
        UPDATE store_totals SET live_items = live_items + 1;
    END
    """,
    """
    CREATE TRIGGER items_live_delete AFTER DELETE ON items
    WHEN OLD.archived_at IS NULL BEGIN
        UPDATE store_totals SET live_items = live_items - 1;
    END
    """,
    """
    CREATE TRIGGER items_live_update AFTER UPDATE OF archived_at ON items
    WHEN (OLD.archived_at IS NULL) <> (NEW.archived_at IS NULL) BEGIN
        UPDATE store_totals
        SET live_items = live_items + CASE WHEN NEW.archived_at IS NULL THEN 1 ELSE -1 END;
    END
    """,
    # sales
    """
    CREATE TRIGGER user_items_totals_insert AFTER INSERT ON user_items BEGIN
        UPDATE items SET
            sales_lines = sales_lines + 1,
            units_sold = units_sold + NEW.quantity,
            revenue_cents = revenue_cents + NEW.quantity * NEW.unit_price_cents,
            customers = customers + NOT EXISTS (
                SELECT 1 FROM user_items
                WHERE item_id = NEW.item_id AND user_id = NEW.user_id AND id <> NEW.id
            )
        WHERE id = NEW.item_id;
        UPDATE users SET purchase_lines = purchase_lines + 1 WHERE id = NEW.user_id;
    END
    """,
    """
    CREATE TRIGGER user_items_totals_delete AFTER DELETE ON user_items BEGIN
        UPDATE items SET
            sales_lines = sales_lines - 1,
            units_sold = units_sold - OLD.quantity,
            revenue_cents = revenue_cents - OLD.quantity * OLD.unit_price_cents,
            customers = customers - NOT EXISTS (
                SELECT 1 FROM user_items
                WHERE item_id = OLD.item_id AND user_id = OLD.user_id
            )
        WHERE id = OLD.item_id;
        UPDATE users SET purchase_lines = purchase_lines - 1 WHERE id = OLD.user_id;
    END
    """,
]
SQLITE_TRIGGER_NAMES = [
    "items_live_insert",
    "items_live_delete",
    "items_live_update",
    "user_items_totals_insert",
    "user_items_totals_delete",
]

POSTGRESQL_TRIGGERS = [
    # live items: inserts and deletes per statement, archived_at flips per row
    """
    CREATE FUNCTION items_live_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE store_totals SET live_items = live_items
                + (SELECT count(*) FROM new_items WHERE archived_at IS NULL);
        ELSE
            UPDATE store_totals SET live_items = live_items
                - (SELECT count(*) FROM old_items WHERE archived_at IS NULL);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER items_live_insert AFTER INSERT ON items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION items_live_count()
    """,
    """
    CREATE TRIGGER items_live_delete AFTER DELETE ON items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION items_live_count()
    """,
    """
    CREATE FUNCTION items_live_flip() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE store_totals SET live_items = live_items
            + CASE WHEN NEW.archived_at IS NULL THEN 1 ELSE -1 END;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER items_live_update AFTER UPDATE OF archived_at ON items
    FOR EACH ROW WHEN ((OLD.archived_at IS NULL) <> (NEW.archived_at IS NULL))
    EXECUTE FUNCTION items_live_flip()
    """,
    # sales: per statement, over its transition table
    """
    CREATE FUNCTION user_items_totals_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE items SET
            sales_lines = items.sales_lines + s.lines,
            units_sold = items.units_sold + s.units,
            revenue_cents = items.revenue_cents + s.revenue,
            customers = items.customers + s.new_customers
        FROM (
            SELECT n.item_id,
                   count(*) AS lines,
                   sum(n.quantity) AS units,
                   sum(n.quantity::bigint * n.unit_price_cents) AS revenue,
                   count(DISTINCT n.user_id) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM user_items u
                       WHERE u.item_id = n.item_id AND u.user_id = n.user_id
                         AND u.id NOT IN (SELECT id FROM new_lines)
                   )) AS new_customers
            FROM new_lines n GROUP BY n.item_id
        ) s
        WHERE items.id = s.item_id;
        UPDATE users SET purchase_lines = users.purchase_lines + s.lines
        FROM (SELECT user_id, count(*) AS lines FROM new_lines GROUP BY user_id) s
        WHERE users.id = s.user_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER user_items_totals_insert AFTER INSERT ON user_items
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION user_items_totals_insert()
    """,
    """
    CREATE FUNCTION user_items_totals_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE items SET
            sales_lines = items.sales_lines - s.lines,
            units_sold = items.units_sold - s.units,
            revenue_cents = items.revenue_cents - s.revenue,
            customers = items.customers - s.lost_customers
        FROM (
            SELECT o.item_id,
                   count(*) AS lines,
                   sum(o.quantity) AS units,
                   sum(o.quantity::bigint * o.unit_price_cents) AS revenue,
                   count(DISTINCT o.user_id) FILTER (WHERE NOT EXISTS (
                       SELECT 1 FROM user_items u
                       WHERE u.item_id = o.item_id AND u.user_id = o.user_id
                   )) AS lost_customers
            FROM old_lines o GROUP BY o.item_id
        ) s
        WHERE items.id = s.item_id;
        UPDATE users SET purchase_lines = users.purchase_lines - s.lines
        FROM (SELECT user_id, count(*) AS lines FROM old_lines GROUP BY user_id) s
        WHERE users.id = s.user_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER user_items_totals_delete AFTER DELETE ON user_items
    REFERENCING OLD TABLE AS old_lines
    FOR EACH STATEMENT EXECUTE FUNCTION user_items_totals_delete()
    """,
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS user_items_totals_delete ON user_items",
    "DROP TRIGGER IF EXISTS user_items_totals_insert ON user_items",
    "DROP TRIGGER IF EXISTS items_live_update ON items",
    "DROP TRIGGER IF EXISTS items_live_delete ON items",
    "DROP TRIGGER IF EXISTS items_live_insert ON items",
    "DROP FUNCTION IF EXISTS user_items_totals_delete()",
    "DROP FUNCTION IF EXISTS user_items_totals_insert()",
    "DROP FUNCTION IF EXISTS items_live_flip()",
    "DROP FUNCTION IF EXISTS items_live_count()",
]

# The totals of the rows already there, in one pass each.
BACKFILL = [
    "UPDATE store_totals SET live_items = "
    "(SELECT count(*) FROM items WHERE archived_at IS NULL)",
    """
    UPDATE items SET
        sales_lines = s.lines,
        units_sold = s.units,
        revenue_cents = s.revenue,
        customers = s.buyers
    FROM (
        SELECT item_id,
               count(*) AS lines,
               sum(quantity) AS units,
               sum(CAST(quantity AS BIGINT) * unit_price_cents) AS revenue,
               count(DISTINCT user_id) AS buyers
        FROM user_items GROUP BY item_id
    ) AS s
    WHERE items.id = s.item_id
    """,
    """
    UPDATE users SET purchase_lines = s.lines
    FROM (SELECT user_id, count(*) AS lines FROM user_items GROUP BY user_id) AS s
    WHERE users.id = s.user_id
    """,
]


def upgrade():
    op.create_table(
        "store_totals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("live_items", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_store_totals_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_totals")),
    )
    op.execute("INSERT INTO store_totals (id, live_items) VALUES (1, 0)")
    # Plain ADD COLUMN on both engines: a batch rebuild of items on SQLite
    # would drop the search triggers of migration 0002 with the old table.
    for name in ITEM_TOTALS:
        kind = sa.BigInteger() if name == "revenue_cents" else sa.Integer()
        op.add_column("items", sa.Column(name, kind, server_default="0", nullable=False))
    op.add_column(
        "users",
        sa.Column("purchase_lines", sa.Integer(), server_default="0", nullable=False),
    )
    for statement in BACKFILL:
        op.execute(statement)
    triggers = (
        POSTGRESQL_TRIGGERS
        if op.get_bind().dialect.name == "postgresql"
        else SQLITE_TRIGGERS
    )
    for statement in triggers:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DROP:
            op.execute(statement)
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    # ALTER TABLE ... DROP COLUMN on both (SQLite 3.35+), for the same reason.
    op.execute("ALTER TABLE users DROP COLUMN purchase_lines")
    for name in reversed(ITEM_TOTALS):
        op.execute(f"ALTER TABLE items DROP COLUMN {name}")
    op.drop_table("store_totals")
