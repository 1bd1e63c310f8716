"""Catalogue and history indexes; name search by trigrams on both engines.

The catalogue shows live (not archived) items sorted by name, price or age:
partial indexes on exactly those orders let it read 24 rows without sorting
the whole table. History pages read one user's or one item's lines newest
first, so their indexes end in (created_at, id).

Search (`?q=`, a substring of the name, any case) uses trigrams: on SQLite
an FTS5 table (trigram tokenizer) of the live items' names, kept in step by
triggers; on PostgreSQL a partial pg_trgm GIN index. Neither is in the models (they are engine
specific); migrations/env.py leaves them out of `flask db check`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LIVE = sa.text("archived_at IS NULL")
PARTIAL = {"sqlite_where": LIVE, "postgresql_where": LIVE}

# An FTS5 index of live items' names only (so a search counts its matches
# without touching the items table), kept in step by triggers.
SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE items_search USING fts5(name, tokenize='trigram')",
    "INSERT INTO items_search (rowid, name) SELECT id, name FROM items "
    "WHERE archived_at IS NULL",
    "CREATE TRIGGER items_search_insert AFTER INSERT ON items "
    "WHEN new.archived_at IS NULL BEGIN "
    "INSERT INTO items_search (rowid, name) VALUES (new.id, new.name); END",
    "CREATE TRIGGER items_search_delete AFTER DELETE ON items BEGIN "
    "DELETE FROM items_search WHERE rowid = old.id; END",
    "CREATE TRIGGER items_search_update AFTER UPDATE OF name, archived_at ON items BEGIN "
    "DELETE FROM items_search WHERE rowid = old.id; "
    "INSERT INTO items_search (rowid, name) SELECT new.id, new.name "
    "WHERE new.archived_at IS NULL; END",
]


def upgrade():
    op.drop_index("ix_items_archived_at", table_name="items")
    op.drop_index("ix_items_price_cents", table_name="items")
    op.create_index("ix_items_live_name", "items", ["name", "id"], **PARTIAL)
    op.create_index("ix_items_live_price", "items", ["price_cents", "id"], **PARTIAL)
    op.create_index("ix_items_live_newest", "items", ["created_at", "id"], **PARTIAL)
    op.create_index("ix_items_live_stock", "items", ["stock"], **PARTIAL)

    for column in ("user_id", "item_id"):
        name = f"ix_user_items_{column}_created_at"
        op.drop_index(name, table_name="user_items")
        op.create_index(name, "user_items", [column, "created_at", "id"])

    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_items_name_trgm ON items USING gin (name gin_trgm_ops) "
            "WHERE archived_at IS NULL"
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS items_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS items_search")
    elif op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_items_name_trgm")

    for column in ("user_id", "item_id"):
        name = f"ix_user_items_{column}_created_at"
        op.drop_index(name, table_name="user_items")
        op.create_index(name, "user_items", [column, "created_at"])

    for name in ("ix_items_live_stock", "ix_items_live_newest", "ix_items_live_price"):
        op.drop_index(name, table_name="items")
    op.drop_index("ix_items_live_name", table_name="items")
    op.create_index("ix_items_price_cents", "items", ["price_cents"])
    op.create_index("ix_items_archived_at", "items", ["archived_at"])
