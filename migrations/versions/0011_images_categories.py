"""Item images, a category tree, and search by words.

- item_images: an item's pictures in order (`position`, unique per item),
  with their alt text, the upright size of the largest copy, and the
  content-hash `key` their stored files are named from (`widths` lists the
  widths made, each in WebP and JPEG).
- categories: a tree by `parent_id` (no nested sets); `slug` unique; a
  category with subcategories cannot be deleted (the key's NO ACTION is
  checked at the statement's end, so one DELETE may remove a whole tree). A
  trigger on each engine refuses an update that would make a category its
  own ancestor (the CHECK covers its own parent), so no cycle can exist
  whatever writes the row.
- items.category_id -> categories (NULL for none; a category with items
  cannot be deleted), added with ALTER TABLE
  on both engines (a batch rebuild on SQLite would drop earlier triggers),
  and a partial index (category_id, price_cents, stock, archived_at) of
  live items that answers the catalogue's per-category counts from the
  index alone (SQLite takes a partial index as covering only when it holds
  the column of its WHERE).
- Search by words: SQLite gets a second FTS5 table, items_words (name and
  description, porter stemmer), kept in step by triggers like 0002's
  trigram table; PostgreSQL a partial GIN index on the english tsvector of
  name and description. The trigram indexes of 0002 stay for substrings
  and, on PostgreSQL, typos.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

NOW = sa.text("CURRENT_TIMESTAMP")
LIVE = sa.text("archived_at IS NULL")

# The ancestors of NEW.parent_id, NEW.parent_id included: the new parent
# must not be the category itself nor one of its descendants.
ANCESTORS = (
    "WITH RECURSIVE up(id) AS (SELECT NEW.parent_id "
    "UNION ALL SELECT categories.parent_id FROM categories JOIN up "
    "ON categories.id = up.id WHERE categories.parent_id IS NOT NULL) "
    "SELECT id FROM up"
)
SQLITE_CYCLE_TRIGGER = (
    "CREATE TRIGGER categories_no_cycle BEFORE UPDATE OF parent_id ON categories "
    "WHEN NEW.parent_id IS NOT NULL BEGIN "
    f"SELECT RAISE(ABORT, 'category_cycle') WHERE NEW.id IN ({ANCESTORS}); END"
)
POSTGRES_CYCLE_TRIGGER = [
    "CREATE FUNCTION categories_no_cycle() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    f"IF NEW.parent_id IS NOT NULL AND NEW.id IN ({ANCESTORS}) THEN "
    "RAISE EXCEPTION 'category_cycle' USING ERRCODE = 'check_violation'; "
    "END IF; RETURN NEW; END $$",
    "CREATE TRIGGER categories_no_cycle BEFORE UPDATE OF parent_id ON categories "
    "FOR EACH ROW EXECUTE FUNCTION categories_no_cycle()",
]

SQLITE_WORDS = [
    "CREATE VIRTUAL TABLE items_words USING fts5(name, description, "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "INSERT INTO items_words (rowid, name, description) "
    "SELECT id, name, description FROM items WHERE archived_at IS NULL",
    "CREATE TRIGGER items_words_insert AFTER INSERT ON items "
    "WHEN new.archived_at IS NULL BEGIN "
    "INSERT INTO items_words (rowid, name, description) "
    "VALUES (new.id, new.name, new.description); END",
    "CREATE TRIGGER items_words_delete AFTER DELETE ON items BEGIN "
    "DELETE FROM items_words WHERE rowid = old.id; END",
    "CREATE TRIGGER items_words_update AFTER UPDATE OF name, description, "
    "archived_at ON items BEGIN "
    "DELETE FROM items_words WHERE rowid = old.id; "
    "INSERT INTO items_words (rowid, name, description) "
    "SELECT new.id, new.name, new.description WHERE new.archived_at IS NULL; END",
]
POSTGRES_WORDS = (
    "CREATE INDEX ix_items_words ON items USING gin "
    "(to_tsvector('english'::regconfig, name || ' ' || description)) "
    "WHERE archived_at IS NULL"
)


def upgrade():
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "length(name) BETWEEN 1 AND 80", name=op.f("ck_categories_name_length")
        ),
        sa.CheckConstraint(
            "length(slug) BETWEEN 1 AND 100 AND slug = lower(slug)",
            name=op.f("ck_categories_slug_lower_case"),
        ),
        sa.CheckConstraint(
            "parent_id <> id", name=op.f("ck_categories_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["categories.id"],
            name=op.f("fk_categories_parent_id_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
    )
    op.create_index(
        "ix_categories_parent_id_position", "categories", ["parent_id", "position"]
    )

    op.create_table(
        "item_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("alt", sa.String(length=200), server_default="", nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("widths", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.Column("updated_at", sa.DateTime(), server_default=NOW, nullable=False),
        sa.CheckConstraint(
            "width > 0 AND height > 0", name=op.f("ck_item_images_size_positive")
        ),
        sa.CheckConstraint("length(key) >= 16", name=op.f("ck_item_images_key_length")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name=op.f("fk_item_images_item_id_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_images")),
        sa.UniqueConstraint(
            "item_id", "position", name=op.f("uq_item_images_item_id")
        ),
    )

    # ALTER TABLE on both engines: a batch rebuild on SQLite would drop the
    # triggers of 0002, 0006 and 0007. SQLite takes the key as part of the
    # column (and can drop the column again); PostgreSQL as a named constraint.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "ALTER TABLE items ADD COLUMN category_id INTEGER "
            "CONSTRAINT fk_items_category_id_categories "
            "REFERENCES categories (id)"
        )
    else:
        op.add_column("items", sa.Column("category_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_items_category_id_categories",
            "items",
            "categories",
            ["category_id"],
            ["id"],
        )
    op.create_index(
        "ix_items_live_category",
        "items",
        ["category_id", "price_cents", "stock", "archived_at"],
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )

    if dialect == "sqlite":
        op.execute(SQLITE_CYCLE_TRIGGER)
        for statement in SQLITE_WORDS:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in POSTGRES_CYCLE_TRIGGER:
            op.execute(statement)
        op.execute(POSTGRES_WORDS)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS items_words_{trigger}")
        op.execute("DROP TABLE IF EXISTS items_words")
        op.execute("DROP TRIGGER IF EXISTS categories_no_cycle")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_words")
        op.execute("DROP TRIGGER IF EXISTS categories_no_cycle ON categories")
        op.execute("DROP FUNCTION IF EXISTS categories_no_cycle()")

    op.drop_index("ix_items_live_category", table_name="items")
    if dialect == "sqlite":
        # Its index is gone and its key is part of the column: SQLite drops it.
        op.execute("ALTER TABLE items DROP COLUMN category_id")
    else:
        op.drop_constraint("fk_items_category_id_categories", "items")
        op.drop_column("items", "category_id")
    op.drop_table("item_images")
    op.drop_index("ix_categories_parent_id_position", table_name="categories")
    op.drop_table("categories")
