"""Reviews from buyers, wishlists, and a record of each restock.

- reviews: one per user and item (a unique key), rating 1–5 (a CHECK),
  title and body (CHECKed lengths), `hidden_at` for an admin's hiding;
- items.rating_count, items.rating_sum: the visible reviews' count and sum
  of ratings, kept by triggers on reviews (insert, delete, and an update of
  the rating, the item or the hidden flag) on both engines, so the average
  is exact and no review's write touches the item's other columns;
- wishlist_items: users × items, a unique pair; users.wishlist_count kept
  by triggers as wishes come and go;
- restocks: a trigger on items writes one row whenever an item's stock goes
  from 0 to more while someone wishes for it, whatever statement did it (the
  item form, a CSV import, a cancellation's restock, psql), in that
  statement's transaction. The outbox worker turns each row into one email
  per wisher (dedupe key `back_in_stock:<restock id>:<user id>`);
- users.back_in_stock_emails (the unsubscribe link clears it) and
  outbox.list_unsubscribe (the email's List-Unsubscribe address).

Columns are added with ALTER TABLE on both engines, as in 0006–0008: a
batch rebuild on SQLite would drop the earlier migrations' triggers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")
PENDING_RESTOCKS = sa.text("notified_at IS NULL")

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER reviews_rating_insert AFTER INSERT ON reviews
    WHEN NEW.hidden_at IS NULL BEGIN
        UPDATE items SET rating_count = rating_count + 1,
                         rating_sum = rating_sum + NEW.rating
        WHERE id = NEW.item_id;
    END
    """,
    """
    CREATE TRIGGER reviews_rating_delete AFTER DELETE ON reviews
    WHEN OLD.hidden_at IS NULL BEGIN
        UPDATE items SET rating_count = rating_count - 1,
                         rating_sum = rating_sum - OLD.rating
        WHERE id = OLD.item_id;
    END
    """,
    """
    CREATE TRIGGER reviews_rating_update
    AFTER UPDATE OF rating, item_id, hidden_at ON reviews BEGIN
        UPDATE items SET rating_count = rating_count - 1,
                         rating_sum = rating_sum - OLD.rating
        WHERE id = OLD.item_id AND OLD.hidden_at IS NULL;
        UPDATE items SET rating_count = rating_count + 1,
                         rating_sum = rating_sum + NEW.rating
        WHERE id = NEW.item_id AND NEW.hidden_at IS NULL;
    END
    """,
    """
    CREATE TRIGGER wishlist_items_count_insert AFTER INSERT ON wishlist_items BEGIN
        UPDATE users SET wishlist_count = wishlist_count + 1 WHERE id = NEW.user_id;
    END
    """,
    """
    CREATE TRIGGER wishlist_items_count_delete AFTER DELETE ON wishlist_items BEGIN
        UPDATE users SET wishlist_count = wishlist_count - 1 WHERE id = OLD.user_id;
    END
    """,
    """
    CREATE TRIGGER items_restocked AFTER UPDATE OF stock ON items
    WHEN OLD.stock = 0 AND NEW.stock > 0
         AND EXISTS (SELECT 1 FROM wishlist_items WHERE item_id = NEW.id) BEGIN
        INSERT INTO restocks (item_id, stock, created_at, updated_at)
        VALUES (NEW.id, NEW.stock, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
    END
    """,
]
SQLITE_TRIGGER_NAMES = [
    "reviews_rating_insert",
    "reviews_rating_delete",
    "reviews_rating_update",
    "wishlist_items_count_insert",
    "wishlist_items_count_delete",
    "items_restocked",
]

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION reviews_rating_totals() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.hidden_at IS NULL THEN
            UPDATE items SET rating_count = rating_count - 1,
                             rating_sum = rating_sum - OLD.rating
            WHERE id = OLD.item_id;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.hidden_at IS NULL THEN
            UPDATE items SET rating_count = rating_count + 1,
                             rating_sum = rating_sum + NEW.rating
            WHERE id = NEW.item_id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER reviews_rating_insert AFTER INSERT ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_rating_totals()
    """,
    """
    CREATE TRIGGER reviews_rating_delete AFTER DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION reviews_rating_totals()
    """,
    """
    CREATE TRIGGER reviews_rating_update AFTER UPDATE OF rating, item_id, hidden_at
    ON reviews FOR EACH ROW EXECUTE FUNCTION reviews_rating_totals()
    """,
    """
    CREATE FUNCTION wishlist_items_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE users SET wishlist_count = wishlist_count + 1 WHERE id = NEW.user_id;
        ELSE
            UPDATE users SET wishlist_count = wishlist_count - 1 WHERE id = OLD.user_id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER wishlist_items_count_insert AFTER INSERT ON wishlist_items
    FOR EACH ROW EXECUTE FUNCTION wishlist_items_count()
    """,
    """
    CREATE TRIGGER wishlist_items_count_delete AFTER DELETE ON wishlist_items
    FOR EACH ROW EXECUTE FUNCTION wishlist_items_count()
    """,
    """
    CREATE FUNCTION items_restocked() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM wishlist_items WHERE item_id = NEW.id) THEN
            INSERT INTO restocks (item_id, stock, created_at, updated_at)
            VALUES (NEW.id, NEW.stock, now(), now());
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER items_restocked AFTER UPDATE OF stock ON items
    FOR EACH ROW WHEN (OLD.stock = 0 AND NEW.stock > 0)
    EXECUTE FUNCTION items_restocked()
    """,
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS items_restocked ON items",
    "DROP FUNCTION IF EXISTS items_restocked()",
    "DROP TRIGGER IF EXISTS wishlist_items_count_delete ON wishlist_items",
    "DROP TRIGGER IF EXISTS wishlist_items_count_insert ON wishlist_items",
    "DROP FUNCTION IF EXISTS wishlist_items_count()",
    "DROP TRIGGER IF EXISTS reviews_rating_update ON reviews",
    "DROP TRIGGER IF EXISTS reviews_rating_delete ON reviews",
    "DROP TRIGGER IF EXISTS reviews_rating_insert ON reviews",
    "DROP FUNCTION IF EXISTS reviews_rating_totals()",
]


def upgrade():
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hidden_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")
        ),
        sa.CheckConstraint(
            "length(title) BETWEEN 1 AND 120", name=op.f("ck_reviews_title_length")
        ),
        sa.CheckConstraint(
            "length(body) BETWEEN 1 AND 5000", name=op.f("ck_reviews_body_length")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_reviews_item_id_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reviews_user_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint(
            "user_id", "item_id", name=op.f("uq_reviews_user_id_item_id")
        ),
    )
    op.create_index(
        "ix_reviews_item_id_created_at", "reviews", ["item_id", "created_at", "id"]
    )
    op.create_table(
        "wishlist_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_wishlist_items_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_wishlist_items_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishlist_items")),
        sa.UniqueConstraint(
            "user_id", "item_id", name=op.f("uq_wishlist_items_user_id_item_id")
        ),
    )
    op.create_index(
        "ix_wishlist_items_item_id", "wishlist_items", ["item_id", "user_id"]
    )
    op.create_table(
        "restocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_restocks_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restocks")),
    )
    op.create_index("ix_restocks_item_id", "restocks", ["item_id"])
    op.create_index(
        "ix_restocks_pending",
        "restocks",
        ["id"],
        sqlite_where=PENDING_RESTOCKS,
        postgresql_where=PENDING_RESTOCKS,
    )
    for name in ("rating_count", "rating_sum"):
        op.add_column(
            "items", sa.Column(name, sa.Integer(), server_default="0", nullable=False)
        )
    op.add_column(
        "users",
        sa.Column("wishlist_count", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "users",
        sa.Column(
            "back_in_stock_emails",
            sa.Boolean(),
            server_default=sa.true(),
            nullable=False,
        ),
    )
    op.add_column(
        "outbox", sa.Column("list_unsubscribe", sa.String(length=500), nullable=True)
    )
    # The tables are new: every total starts at zero, as the defaults say.
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
    op.execute("ALTER TABLE outbox DROP COLUMN list_unsubscribe")
    op.execute("ALTER TABLE users DROP COLUMN back_in_stock_emails")
    op.execute("ALTER TABLE users DROP COLUMN wishlist_count")
    op.execute("ALTER TABLE items DROP COLUMN rating_sum")
    op.execute("ALTER TABLE items DROP COLUMN rating_count")
    op.drop_index("ix_restocks_pending", table_name="restocks")
    op.drop_index("ix_restocks_item_id", table_name="restocks")
    op.drop_table("restocks")
    op.drop_index("ix_wishlist_items_item_id", table_name="wishlist_items")
    op.drop_table("wishlist_items")
    op.drop_index("ix_reviews_item_id_created_at", table_name="reviews")
    op.drop_table("reviews")
