"""The page version: a number the database bumps on every write that changes
what an anonymous page shows.

The anonymous page cache (app/page_cache.py) keys each rendered page by this
number, so a write in any process, or in psql, is seen at once by every
process: the next view reads the new number and draws the page again.

The number is the sum of the `version` column of a few rows (PAGE_SHARDS).
A bump adds one to one row inside the writing transaction, so the new number
becomes visible exactly when the write does (a sequence would show it before
the commit, and a reader could then keep the old rows under the new number).
On PostgreSQL the triggers run once per statement, whatever the rows, and a
connection bumps the row of its backend's pid, so concurrent checkouts on
different connections rarely wait on the same row; SQLite has one writer at
a time and bumps row 0 per row written.

A table whose rows show on an anonymous page gets the triggers by adding its
name to SHOWN_TABLES (a table added by a later migration: one call of
`page_version_triggers(name)` in that migration's upgrade, and
`drop_page_version_triggers(name)` in its downgrade).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PAGE_SHARDS = 8
# Every table an anonymous page reads: the catalogue and item pages (items:
# name, price, stock, archiving, sales that rank "Popular"), and the shop's
# settings and delivery methods, the items' pictures, categories (the
# catalogue's tree and counts) and reviews (the item page, the averages).
SHOWN_TABLES = (
    "items",
    "shop_settings",
    "shipping_methods",
    "item_images",
    "categories",
    "reviews",
)

PG_FUNCTION = f"""
CREATE FUNCTION page_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE page_versions SET version = version + 1
    WHERE id = pg_backend_pid() % {PAGE_SHARDS};
    RETURN NULL;
END
$$
"""


def page_version_triggers(table: str) -> None:
    """Bump the page version on every insert, update and delete of `table`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_page_version "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION page_version_bump()"
        )
        return
    for event in ("insert", "update", "delete"):
        op.execute(
            f"CREATE TRIGGER {table}_page_version_{event} "
            f"AFTER {event.upper()} ON {table} BEGIN "
            "UPDATE page_versions SET version = version + 1 WHERE id = 0; END"
        )


def drop_page_version_triggers(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_page_version ON {table}")
        return
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_page_version_{event}")


def upgrade():
    table = op.create_table(
        "page_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            f"id >= 0 AND id < {PAGE_SHARDS}", name=op.f("ck_page_versions_shard")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_versions")),
    )
    op.bulk_insert(table, [{"id": shard, "version": 0} for shard in range(PAGE_SHARDS)])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
    for name in SHOWN_TABLES:
        page_version_triggers(name)


def downgrade():
    for name in SHOWN_TABLES:
        drop_page_version_triggers(name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS page_version_bump()")
    op.drop_table("page_versions")
