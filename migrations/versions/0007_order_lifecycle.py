"""Orders a shop can fulfil: numbers, statuses, money split, addresses, events.

- orders gain a random `number` (unique), the buyer's `email`, a `status`
  (a CHECK holds the list), the money split into subtotal, shipping and tax
  (a CHECK that they add up to the total) with `refunded_cents` (a CHECK that
  it stays within the total), the payment and shipping methods, a tracking
  number and the shipping address copied onto the order;
- user_items keep `item_name` (the name when bought) and `counted`: false
  once the line's order is cancelled or fully refunded. A trigger on
  orders.status keeps `counted`, and the running totals of migration 0006
  now count only counted lines, whatever writes them;
- order_events: one row per move, append-only (on PostgreSQL a trigger
  refuses UPDATE and DELETE, as for the audit trail);
- shipping_methods, shop_settings (one row: the tax rate, bank details) and
  addresses (a shopper's saved ones).

Existing orders become `paid` orders with their lines intact, each with a
new number and one event saying so. Columns are added with ALTER TABLE on
both engines (a batch rebuild on SQLite would drop the triggers of 0002 and
0006 with the old tables), so SQLite keeps the CHECKs as column constraints.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import importlib.util
import secrets
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")
STATUSES = ("pending_payment", "paid", "shipped", "delivered", "cancelled", "refunded")
NOT_COUNTED = "('cancelled', 'refunded')"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _statuses() -> str:
    return ", ".join(f"'{status}'" for status in STATUSES)


# (column, type and constraints) added to orders in this order; each CHECK is
# tested against the rows already there when its column is added.
ORDER_COLUMNS = [
    ("number", "VARCHAR(16) NOT NULL DEFAULT 'MIGRATED' "
     "CONSTRAINT ck_orders_number_length CHECK (length(number) >= 8)"),
    ("email", "VARCHAR(254) NOT NULL DEFAULT ''"),
    ("status", f"VARCHAR(20) NOT NULL DEFAULT 'paid' "
     f"CONSTRAINT ck_orders_status CHECK (status IN ({_statuses()}))"),
    ("subtotal_cents", "BIGINT NOT NULL DEFAULT 0 "
     "CONSTRAINT ck_orders_subtotal_cents_not_negative CHECK (subtotal_cents >= 0)"),
    ("shipping_cents", "BIGINT NOT NULL DEFAULT 0 "
     "CONSTRAINT ck_orders_shipping_cents_not_negative CHECK (shipping_cents >= 0)"),
]
# Added once subtotal_cents holds the old total, so the sums add up.
ORDER_COLUMNS_AFTER_BACKFILL = [
    ("tax_cents", "BIGINT NOT NULL DEFAULT 0 "
     "CONSTRAINT ck_orders_tax_cents_not_negative CHECK (tax_cents >= 0) "
     "CONSTRAINT ck_orders_total_adds_up "
     "CHECK (total_cents = subtotal_cents + shipping_cents + tax_cents)"),
    ("refunded_cents", "BIGINT NOT NULL DEFAULT 0 "
     "CONSTRAINT ck_orders_refund_within_total "
     "CHECK (refunded_cents BETWEEN 0 AND total_cents)"),
    ("tax_rate_bp", "INTEGER NOT NULL DEFAULT 0"),
    ("payment_method", "VARCHAR(20) NOT NULL DEFAULT 'bank_transfer'"),
    ("shipping_method", "VARCHAR(40) NOT NULL DEFAULT ''"),
    ("shipping_method_name", "VARCHAR(100) NOT NULL DEFAULT ''"),
    ("tracking_number", "VARCHAR(64)"),
    ("ship_name", "VARCHAR(100) NOT NULL DEFAULT ''"),
    ("ship_line1", "VARCHAR(200) NOT NULL DEFAULT ''"),
    ("ship_line2", "VARCHAR(200) NOT NULL DEFAULT ''"),
    ("ship_city", "VARCHAR(100) NOT NULL DEFAULT ''"),
    ("ship_postcode", "VARCHAR(16) NOT NULL DEFAULT ''"),
    ("ship_country", "VARCHAR(2) NOT NULL DEFAULT ''"),
]
# Defaults only the existing rows needed: new orders always name these.
POSTGRESQL_DROP_DEFAULTS = ("number", "email", "status", "subtotal_cents",
                            "payment_method", "shipping_method", "ship_name",
                            "ship_line1", "ship_city", "ship_postcode",
                            "ship_country")  # fmt: skip

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER user_items_totals_insert AFTER INSERT ON user_items
    WHEN NEW.counted BEGIN
        UPDATE items SET
            sales_lines = sales_lines + 1,
            units_sold = units_sold + NEW.quantity,
            revenue_cents = revenue_cents + NEW.quantity * NEW.unit_price_cents,
            customers = customers + NOT EXISTS (
                SELECT 1 FROM user_items
                WHERE item_id = NEW.item_id AND user_id = NEW.user_id
                  AND counted AND id <> NEW.id
            )
        WHERE id = NEW.item_id;
        UPDATE users SET purchase_lines = purchase_lines + 1 WHERE id = NEW.user_id;
    END
    """,
    """
    CREATE TRIGGER user_items_totals_delete AFTER DELETE ON user_items
    WHEN OLD.counted BEGIN
        UPDATE items SET
            sales_lines = sales_lines - 1,
            units_sold = units_sold - OLD.quantity,
            revenue_cents = revenue_cents - OLD.quantity * OLD.unit_price_cents,
            customers = customers - NOT EXISTS (
                SELECT 1 FROM user_items
                WHERE item_id = OLD.item_id AND user_id = OLD.user_id AND counted
            )
        WHERE id = OLD.item_id;
        UPDATE users SET purchase_lines = purchase_lines - 1 WHERE id = OLD.user_id;
    END
    """,
    # A line changed in place: it leaves the counted set (if it was in it) and
    # enters it again (if it is now). A buyer is lost or gained when no other
    # counted line of the pair exists.
    """
    CREATE TRIGGER user_items_totals_update
    AFTER UPDATE OF user_id, item_id, quantity, unit_price_cents, counted
    ON user_items BEGIN
        UPDATE items SET
            sales_lines = sales_lines - 1,
            units_sold = units_sold - OLD.quantity,
            revenue_cents = revenue_cents - OLD.quantity * OLD.unit_price_cents,
            customers = customers - NOT EXISTS (
                SELECT 1 FROM user_items
                WHERE item_id = OLD.item_id AND user_id = OLD.user_id
                  AND counted AND id <> NEW.id
            )
        WHERE id = OLD.item_id AND OLD.counted;
        UPDATE items SET
            sales_lines = sales_lines + 1,
            units_sold = units_sold + NEW.quantity,
            revenue_cents = revenue_cents + NEW.quantity * NEW.unit_price_cents,
            customers = customers + NOT EXISTS (
                SELECT 1 FROM user_items
                WHERE item_id = NEW.item_id AND user_id = NEW.user_id
                  AND counted AND id <> NEW.id
            )
        WHERE id = NEW.item_id AND NEW.counted;
        UPDATE users SET purchase_lines = purchase_lines - 1
        WHERE id = OLD.user_id AND OLD.counted;
        UPDATE users SET purchase_lines = purchase_lines + 1
        WHERE id = NEW.user_id AND NEW.counted;
    END
    """,
    f"""
    CREATE TRIGGER orders_status_counted AFTER UPDATE OF status ON orders
    WHEN (OLD.status IN {NOT_COUNTED}) <> (NEW.status IN {NOT_COUNTED}) BEGIN
        UPDATE user_items SET counted = (NEW.status NOT IN {NOT_COUNTED})
        WHERE order_id = NEW.id;
    END
    """,
]
SQLITE_REPLACED = ("user_items_totals_insert", "user_items_totals_delete",
                   "user_items_totals_update")  # fmt: skip

POSTGRESQL_FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION user_items_totals_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- The items first, locked in id order (checkout holds them already):
        -- the buyer check below then runs on a snapshot taken after any other
        -- writer of these items has committed.
        PERFORM 1 FROM items WHERE id IN (SELECT item_id FROM new_lines WHERE counted)
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
                         AND u.counted AND u.id NOT IN (SELECT id FROM new_lines)
                   )) AS new_customers
            FROM new_lines n WHERE n.counted GROUP BY n.item_id
        ) s
        WHERE items.id = s.item_id;
        UPDATE users SET purchase_lines = users.purchase_lines + s.lines
        FROM (SELECT user_id, count(*) AS lines FROM new_lines WHERE counted
              GROUP BY user_id) s
        WHERE users.id = s.user_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION user_items_totals_delete() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM items WHERE id IN (SELECT item_id FROM old_lines WHERE counted)
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
                         AND u.counted
                   )) AS lost_customers
            FROM old_lines o WHERE o.counted GROUP BY o.item_id
        ) s
        WHERE items.id = s.item_id;
        UPDATE users SET purchase_lines = users.purchase_lines - s.lines
        FROM (SELECT user_id, count(*) AS lines FROM old_lines WHERE counted
              GROUP BY user_id) s
        WHERE users.id = s.user_id;
        RETURN NULL;
    END
    $$
    """,
    # Lines changed in place (a correction, or an order cancelled): the old
    # counted lines out, the new counted lines in. Per (item, user) pair
    # touched, a buyer counts +1 if the pair has a counted line now and had
    # none before the statement, -1 the other way round.
    """
    CREATE OR REPLACE FUNCTION user_items_totals_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
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
                FROM new_lines WHERE counted
                UNION ALL
                SELECT item_id, -1, -quantity,
                       -(quantity::bigint * unit_price_cents), 0
                FROM old_lines WHERE counted
                UNION ALL
                SELECT t.item_id, 0, 0, 0,
                       (EXISTS (SELECT 1 FROM user_items u
                                WHERE u.item_id = t.item_id AND u.user_id = t.user_id
                                  AND u.counted))::int
                     - (EXISTS (SELECT 1 FROM old_lines o
                                WHERE o.item_id = t.item_id AND o.user_id = t.user_id
                                  AND o.counted)
                        OR EXISTS (SELECT 1 FROM user_items u
                                   WHERE u.item_id = t.item_id AND u.user_id = t.user_id
                                     AND u.counted
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
                SELECT user_id, 1 AS n FROM new_lines WHERE counted
                UNION ALL SELECT user_id, -1 FROM old_lines WHERE counted
            ) AS changes GROUP BY user_id
        ) AS d
        WHERE users.id = d.user_id AND d.lines <> 0;
        RETURN NULL;
    END
    $$
    """,
]
POSTGRESQL_NEW = [
    f"""
    CREATE FUNCTION orders_status_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE user_items SET counted = (NEW.status NOT IN {NOT_COUNTED})
        WHERE order_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER orders_status_counted AFTER UPDATE OF status ON orders
    FOR EACH ROW
    WHEN ((OLD.status IN {NOT_COUNTED}) IS DISTINCT FROM (NEW.status IN {NOT_COUNTED}))
    EXECUTE FUNCTION orders_status_counted()
    """,
    """
    CREATE FUNCTION order_events_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'order_events is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER order_events_append_only
    BEFORE UPDATE OR DELETE ON order_events
    FOR EACH STATEMENT EXECUTE FUNCTION order_events_append_only()
    """,
]
POSTGRESQL_DROP_NEW = [
    "DROP TRIGGER IF EXISTS order_events_append_only ON order_events",
    "DROP FUNCTION IF EXISTS order_events_append_only()",
    "DROP TRIGGER IF EXISTS orders_status_counted ON orders",
    "DROP FUNCTION IF EXISTS orders_status_counted()",
]


def _running_totals_0006():
    """Migration 0006's module, whose triggers the downgrade puts back."""
    path = Path(__file__).with_name("0006_running_totals.py")
    spec = importlib.util.spec_from_file_location("running_totals_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
    ]


def address_columns(prefix: str = "") -> list[sa.Column]:
    return [
        sa.Column(f"{prefix}name", sa.String(length=100), nullable=False),
        sa.Column(f"{prefix}line1", sa.String(length=200), nullable=False),
        sa.Column(f"{prefix}line2", sa.String(length=200), server_default="", nullable=False),
        sa.Column(f"{prefix}city", sa.String(length=100), nullable=False),
        sa.Column(f"{prefix}postcode", sa.String(length=16), nullable=False),
        sa.Column(f"{prefix}country", sa.String(length=2), nullable=False),
    ]


def _create_tables() -> None:
    op.create_table(
        "shipping_methods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("free_over_cents", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *timestamps(),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_shipping_methods_price_cents_not_negative")),
        sa.CheckConstraint(
            "free_over_cents IS NULL OR free_over_cents >= 0",
            name=op.f("ck_shipping_methods_free_over_cents_not_negative"),
        ),
        sa.CheckConstraint("length(code) >= 1", name=op.f("ck_shipping_methods_code_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_methods")),
        sa.UniqueConstraint("code", name=op.f("uq_shipping_methods_code")),
    )
    op.create_table(
        "shop_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), server_default="0", nullable=False),
        sa.Column("bank_transfer_details", sa.Text(), server_default="", nullable=False),
        *timestamps(),
        sa.CheckConstraint("id = 1", name=op.f("ck_shop_settings_one_row")),
        sa.CheckConstraint(
            "tax_rate_bp BETWEEN 0 AND 10000", name=op.f("ck_shop_settings_tax_rate_bp_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_settings")),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        *address_columns(),
        *timestamps(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_addresses_user_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index("ix_addresses_user_id", "addresses", ["user_id", "id"])
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.CheckConstraint(f"to_status IN ({_statuses()})", name=op.f("ck_order_events_to_status")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_order_events_actor_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id", "id"])


def _seed_settings() -> None:
    op.execute("INSERT INTO shop_settings (id, tax_rate_bp, bank_transfer_details) VALUES (1, 0, '')")
    op.execute(
        "INSERT INTO shipping_methods (code, name, price_cents, free_over_cents, position) VALUES "
        "('standard', 'Standard delivery (3-5 working days)', 495, 5000, 1), "
        "('express', 'Express delivery (next working day)', 1295, NULL, 2)"
    )


def _number_existing_orders(bind) -> None:
    """A random number for every order there is, one UPDATE per batch."""
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM orders ORDER BY id"))]
    used: set[str] = set()
    rows = []
    for order_id in ids:
        number = "".join(secrets.choice(ALPHABET) for _ in range(10))
        while number in used:
            number = "".join(secrets.choice(ALPHABET) for _ in range(10))
        used.add(number)
        rows.append({"id": order_id, "number": number})
    for start in range(0, len(rows), 5_000):
        bind.execute(
            sa.text("UPDATE orders SET number = :number WHERE id = :id"),
            rows[start : start + 5_000],
        )


def _audit_subjects(subjects: str) -> None:
    """The audit trail's CHECK on what an event is about. On SQLite the table
    is rebuilt (it has no triggers there; PostgreSQL's guard stays put)."""
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint(op.f("ck_audit_events_subject_type"), type_="check")
        batch.create_check_constraint("subject_type", f"subject_type IN ({subjects})")


def upgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    _create_tables()
    _seed_settings()
    _audit_subjects("'item', 'user', 'shipping', 'settings'")

    for name, definition in ORDER_COLUMNS:
        op.execute(f"ALTER TABLE orders ADD COLUMN {name} {definition}")
    _number_existing_orders(bind)
    op.execute(
        "UPDATE orders SET subtotal_cents = total_cents, "
        "email = (SELECT email FROM users WHERE users.id = orders.user_id)"
    )
    for name, definition in ORDER_COLUMNS_AFTER_BACKFILL:
        op.execute(f"ALTER TABLE orders ADD COLUMN {name} {definition}")
    op.execute(
        "UPDATE orders SET ship_name = (SELECT name FROM users WHERE users.id = orders.user_id)"
    )
    op.execute(
        "INSERT INTO order_events (order_id, from_status, to_status, actor_id, note, created_at) "
        "SELECT id, NULL, 'paid', NULL, 'Placed before orders had statuses.', created_at "
        "FROM orders"
    )
    if postgresql:
        for name in POSTGRESQL_DROP_DEFAULTS:
            op.execute(f"ALTER TABLE orders ALTER COLUMN {name} DROP DEFAULT")
    op.drop_index("ix_orders_user_id", table_name="orders")
    op.create_index("uq_orders_number", "orders", ["number"], unique=True)
    op.create_index("ix_orders_created_at", "orders", ["created_at", "id"])
    op.create_index("ix_orders_status_created_at", "orders", ["status", "created_at", "id"])
    op.create_index("ix_orders_user_id_created_at", "orders", ["user_id", "created_at", "id"])

    op.execute("ALTER TABLE user_items ADD COLUMN item_name VARCHAR(200) NOT NULL DEFAULT ''")
    op.execute(
        "UPDATE user_items SET item_name = (SELECT name FROM items WHERE items.id = user_items.item_id)"
    )
    true = "true" if postgresql else "1"
    op.execute(f"ALTER TABLE user_items ADD COLUMN counted BOOLEAN NOT NULL DEFAULT {true}")
    if postgresql:
        op.execute("ALTER TABLE user_items ALTER COLUMN item_name DROP DEFAULT")
        for statement in POSTGRESQL_FUNCTIONS + POSTGRESQL_NEW:
            op.execute(statement)
    else:
        for name in SQLITE_REPLACED:
            op.execute(f"DROP TRIGGER {name}")
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    old = _running_totals_0006()
    if postgresql:
        for statement in POSTGRESQL_DROP_NEW:
            op.execute(statement)
        for statement in old.POSTGRESQL_TRIGGERS:
            if "CREATE FUNCTION user_items_totals_" in statement:
                op.execute(statement.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    else:
        op.execute("DROP TRIGGER IF EXISTS orders_status_counted")
        for name in SQLITE_REPLACED:
            op.execute(f"DROP TRIGGER {name}")
        for statement in old.SQLITE_TRIGGERS:
            if any(f"TRIGGER {name}" in statement for name in SQLITE_REPLACED):
                op.execute(statement)
    # The totals of 0006 count every line, cancelled or not: recount them.
    for statement in old.BACKFILL[1:]:
        op.execute(statement)
    op.execute("ALTER TABLE user_items DROP COLUMN counted")
    op.execute("ALTER TABLE user_items DROP COLUMN item_name")

    op.drop_index("ix_orders_user_id_created_at", table_name="orders")
    op.drop_index("ix_orders_status_created_at", table_name="orders")
    op.drop_index("ix_orders_created_at", table_name="orders")
    op.drop_index("uq_orders_number", table_name="orders")
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
    op.drop_table("order_events")
    # Last added, first dropped: each CHECK goes with the column it is attached
    # to, before any column it names (SQLite refuses to drop a named column).
    for name, _ in reversed(ORDER_COLUMNS + ORDER_COLUMNS_AFTER_BACKFILL):
        op.execute(f"ALTER TABLE orders DROP COLUMN {name}")
    op.drop_table("addresses")
    op.drop_table("shop_settings")
    op.drop_table("shipping_methods")
    # The settings' audit events go with the settings (on PostgreSQL past the
    # append-only guard, which only the table's owner can lift).
    if postgresql:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    op.execute("DELETE FROM audit_events WHERE subject_type IN ('shipping', 'settings')")
    if postgresql:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    _audit_subjects("'item', 'user'")
