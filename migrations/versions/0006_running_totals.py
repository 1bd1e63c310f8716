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
a fix in psql: inserts, deletes, updates of a line, and on PostgreSQL a
TRUNCATE), so they cannot drift from the rows they count. On PostgreSQL
the triggers for inserts and deletes run once per statement over its
transition table, so a bulk insert updates each total once per statement,
not once per row; an item's archived_at flips run per row, and only when
that column is set (a checkout's stock UPDATE does not touch the counter).

A buyer is new to an item when no other line of theirs for it exists. On
PostgreSQL the trigger first locks the lines' items in id order (checkout
holds those locks already), then checks in a statement of its own, on a
snapshot taken after any other writer of those items committed: two writers
racing with one buyer's lines for one item cannot both count them.

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
SQLITE_TRIGGERS.append(
    # A line changed in place (a correction): its old values out, its new ones
    # in. A buyer is gained or lost only when the line moves to another
    # (item, user) pair.
    """
    CREATE TRIGGER user_items_totals_update
    AFTER UPDATE OF user_id, item_id, quantity, unit_price_cents ON user_items BEGIN
        UPDATE items SET
            sales_lines = sales_lines - 1,
            units_sold = units_sold - OLD.quantity,
            revenue_cents = revenue_cents - OLD.quantity * OLD.unit_price_cents,
            customers = customers - (
                (OLD.item_id <> NEW.item_id OR OLD.user_id <> NEW.user_id)
                AND NOT EXISTS (
                    SELECT 1 FROM user_items
                    WHERE item_id = OLD.item_id AND user_id = OLD.user_id
                )
            )
        WHERE id = OLD.item_id;
        UPDATE items SET
            sales_lines = sales_lines + 1,
            units_sold = units_sold + NEW.quantity,
            revenue_cents = revenue_cents + NEW.quantity * NEW.unit_price_cents,
            customers = customers + (
                (OLD.item_id <> NEW.item_id OR OLD.user_id <> NEW.user_id)
                AND NOT EXISTS (
                    SELECT 1 FROM user_items
                    WHERE item_id = NEW.item_id AND user_id = NEW.user_id
                      AND id <> NEW.id
                )
            )
        WHERE id = NEW.item_id;
        UPDATE users SET purchase_lines = purchase_lines - 1 WHERE id = OLD.user_id;
        UPDATE users SET purchase_lines = purchase_lines + 1 WHERE id = NEW.user_id;
    END
    """
)
SQLITE_TRIGGER_NAMES = [
    "items_live_insert",
    "items_live_delete",
    "items_live_update",
    "user_items_totals_insert",
    "user_items_totals_delete",
    "user_items_totals_update",
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
        -- The items first, locked in id order (checkout holds them already):
        -- the buyer check below then runs on a snapshot taken after any other
        -- writer of these items has committed.
        PERFORM 1 FROM items WHERE id IN (SELECT item_id FROM new_lines)
        ORDER BY id FOR UPDATE;
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
        PERFORM 1 FROM items WHERE id IN (SELECT item_id FROM old_lines)
        ORDER BY id FOR UPDATE;
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
POSTGRESQL_TRIGGERS += [
    # Lines changed in place: the old values out, the new in. Per (item, user)
    # pair touched, a buyer counts +1 if the pair has a line now and had none
    # before the statement, -1 the other way round.
    """
    CREATE FUNCTION user_items_totals_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM items
        WHERE id IN (SELECT item_id FROM old_lines UNION SELECT item_id FROM new_lines)
        ORDER BY id FOR UPDATE;
        UPDATE items SET
            sales_lines = items.sales_lines + d.lines,
            units_sold = items.units_sold + d.units,
            revenue_cents = items.revenue_cents + d.revenue,
            customers = items.customers + d.buyers
        FROM (
            SELECT item_id, sum(lines) AS lines, sum(units) AS units,
                   sum(revenue) AS revenue, sum(buyers) AS buyers
            FROM (
                SELECT item_id, 1 AS lines, quantity AS units,
                       quantity::bigint * unit_price_cents AS revenue, 0 AS buyers
                FROM new_lines
                UNION ALL
                SELECT item_id, -1, -quantity,
                       -(quantity::bigint * unit_price_cents), 0
                FROM old_lines
                UNION ALL
                SELECT t.item_id, 0, 0, 0,
                       (EXISTS (SELECT 1 FROM user_items u
                                WHERE u.item_id = t.item_id AND u.user_id = t.user_id))::int
                     - (EXISTS (SELECT 1 FROM old_lines o
                                WHERE o.item_id = t.item_id AND o.user_id = t.user_id)
                        OR EXISTS (SELECT 1 FROM user_items u
                                   WHERE u.item_id = t.item_id AND u.user_id = t.user_id
                                     AND u.id NOT IN (SELECT id FROM new_lines)))::int
                FROM (SELECT item_id, user_id FROM old_lines
                      UNION SELECT item_id, user_id FROM new_lines) AS t
            ) AS changes
            GROUP BY item_id
        ) AS d
        WHERE items.id = d.item_id
          AND (d.lines, d.units, d.revenue, d.buyers) <> (0, 0, 0, 0);
        UPDATE users SET purchase_lines = users.purchase_lines + d.lines
        FROM (
            SELECT user_id, sum(n) AS lines FROM (
                SELECT user_id, 1 AS n FROM new_lines
                UNION ALL SELECT user_id, -1 FROM old_lines
            ) AS changes GROUP BY user_id
        ) AS d
        WHERE users.id = d.user_id AND d.lines <> 0;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER user_items_totals_update AFTER UPDATE ON user_items
    REFERENCING OLD TABLE AS old_lines NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION user_items_totals_update()
    """,
    # TRUNCATE (maintenance only) empties a table at once: its totals go to 0.
    """
    CREATE FUNCTION store_totals_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'items' THEN
            UPDATE store_totals SET live_items = 0;
        ELSE
            UPDATE items SET sales_lines = 0, units_sold = 0, revenue_cents = 0,
                customers = 0
            WHERE sales_lines <> 0 OR customers <> 0;
            UPDATE users SET purchase_lines = 0 WHERE purchase_lines <> 0;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER items_truncated AFTER TRUNCATE ON items
    FOR EACH STATEMENT EXECUTE FUNCTION store_totals_truncated()
    """,
    """
    CREATE TRIGGER user_items_truncated AFTER TRUNCATE ON user_items
    FOR EACH STATEMENT EXECUTE FUNCTION store_totals_truncated()
    """,
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS user_items_truncated ON user_items",
    "DROP TRIGGER IF EXISTS items_truncated ON items",
    "DROP TRIGGER IF EXISTS user_items_totals_update ON user_items",
    "DROP FUNCTION IF EXISTS store_totals_truncated()",
    "DROP FUNCTION IF EXISTS user_items_totals_update()",
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
    # The totals of the rows already there, then the triggers that keep them.
    # On PostgreSQL nothing can write in between: ADD COLUMN holds its table
    # locks until the migration's transaction ends. (SQLite runs one writer.)
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
