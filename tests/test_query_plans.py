"""The benchmarked pages' statements are served by the indexes made for them.

Each page is requested through HTTP, its statements are recorded and planned
again: EXPLAIN QUERY PLAN on SQLite; on PostgreSQL EXPLAIN with sequential
scans and sorts priced out (`enable_seqscan`/`enable_sort` off), so the plan
shows which index can serve the statement rather than what a tiny test table
makes cheapest. A statement no index serves would show a full scan, or a sort
of every row, and fail here. docs/query-plans.md (`make explain`) has the
plans at 100,000 items.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.items.catalogue import TSVECTOR
from app.models import Item
from tests.helpers import TRANSACTION_CONTROL, sign_in


def plans(client, path: str, sort: bool = False) -> list[tuple[str, str]]:
    """(statement, plan) for every statement GET `path` runs; `sort` leaves
    PostgreSQL's sorts priced as usual (for statements that sort only the few
    rows one page holds)."""
    app = client.application
    with app.app_context():
        engine = db.engine
    recorded: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, params, _context, _many):
        recorded.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200, path
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    result = []
    with engine.connect() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")
            if not sort:
                conn.exec_driver_sql("SET enable_sort = off")
        for statement, params in recorded:
            if statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
                continue
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(prefix + statement, params).all()
            result.append((statement, "\n".join(str(row[-1]) for row in rows)))
    return result


def plan_of(found: list[tuple[str, str]], *fragments: str) -> str:
    """The plan of the one statement containing every fragment."""
    matching = [plan for sql, plan in found if all(f in sql for f in fragments)]
    assert len(matching) == 1, (fragments, [sql for sql, _ in found])
    return matching[0]


def assert_no_full_scan(plan: str, table: str) -> None:
    lines = plan.splitlines()
    # SQLite: "SCAN items" (no index); PostgreSQL: "Seq Scan on items".
    assert not any(line.strip() == f"SCAN {table}" for line in lines), plan
    assert f"Seq Scan on {table}" not in plan, plan


@pytest.fixture
def catalogue(app, make_user, make_item, make_purchase):
    """60 items; Ann and Bob bought the first ten."""
    items = [
        make_item(name=f"Oak Board {n:02d}", price_cents=100 + n) for n in range(30)
    ]
    items += [make_item(name=f"Pine Shelf {n:02d}") for n in range(30)]
    shopper = make_user("Ann", "ann@example.com")
    other = make_user("Bob", "bob@example.com")
    for item_id in items[:10]:
        make_purchase(shopper, item_id)
        make_purchase(other, item_id)
    forget_statistics(app, ("items", "item_images", "users", "orders", "user_items"))
    return {"best": items[0], "shopper": shopper}


def forget_statistics(app, tables: tuple[str, ...]) -> None:
    """Planner statistics an earlier test gathered (a seed or an import ANALYZEs
    what it wrote, and a seed's VACUUM marks pages all-visible) describe rows
    long gone: drop them, so these 60 rows are planned as a fresh store's
    are, whatever ran before."""
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # The test run's own database; its role is the server's superuser.
            oids = "ARRAY[" + ", ".join(f"'{t}'::regclass" for t in tables) + "]"
            conn.exec_driver_sql(
                f"DELETE FROM pg_statistic WHERE starelid = ANY ({oids})"
            )
            conn.exec_driver_sql(
                "UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0 "
                f"WHERE oid = ANY ({oids})"
            )
        elif conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first():
            conn.exec_driver_sql("DELETE FROM sqlite_stat1")
            conn.exec_driver_sql("ANALYZE sqlite_schema")  # reload: none kept
        conn.commit()


@pytest.mark.parametrize(
    "sort, index",
    [
        ("name", "ix_items_live_name"),
        ("price", "ix_items_live_price"),
        ("-price", "ix_items_live_price"),
        ("newest", "ix_items_live_newest"),
    ],
)
def test_each_catalogue_order_walks_its_own_index(client, catalogue, sort, index):
    found = plans(client, f"/items/?sort={sort}&page=2")
    page = plan_of(found, "page_keys")
    assert index in page
    assert_no_full_scan(page, "items")
    assert "store_totals" in plan_of(found, "store_totals")


def test_a_search_uses_the_trigram_index(client, catalogue, engine_name):
    found = plans(client, "/items/?q=oak")
    page = plan_of(found, "page_keys")
    count = plan_of(found, "count(*)", "LIMIT")
    if engine_name == "sqlite":
        for plan in (page, count):
            assert "items_search VIRTUAL TABLE INDEX" in plan  # substrings
            assert "items_words VIRTUAL TABLE INDEX" in plan  # words
    else:
        # An index serves ILIKE '%oak%' on PostgreSQL: pg_trgm's, or a walk of
        # one of the live items' partial indexes (by name, or by category)
        # filtering each entry. Which is cheaper turns on the statistics
        # (README, "Benchmarks"); at 60 rows the planner picks any of them.
        live = ("ix_items_name_trgm", "ix_items_live_name", "ix_items_live_category")
        for plan in (page, count):
            assert any(index in plan for index in live), plan
            # The matches first, then the order over them (app/pagination.py's
            # materialized keys): never a walk of the order's index.
            assert "CTE matches" in plan, plan
    assert_no_full_scan(page, "items")
    assert_no_full_scan(count, "items")


def test_the_word_search_uses_its_index(client, catalogue, engine_name):
    """The words of a search (stems, in names and descriptions): SQLite's
    items_words FTS5 table, PostgreSQL's tsvector GIN index."""
    found = plans(client, "/items/?q=oak+boards&sort=price")
    count = plan_of(found, "count(*)", "LIMIT")
    assert_no_full_scan(count, "items")
    if engine_name == "sqlite":
        assert "items_words VIRTUAL TABLE INDEX" in count
        return
    # On a table this small PostgreSQL rather walks another partial index of
    # live items: with those out of the way (in a transaction rolled back),
    # the words' expression must be served by the index made for it, or the
    # plan is a full scan.
    words = sa.select(sa.func.count()).where(
        Item.archived_at.is_(None),
        TSVECTOR.op("@@")(
            sa.func.to_tsquery(sa.literal_column("'english'::regconfig"), "oak:*")
        ),
    )
    others = sa.text(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'items' "
        "AND indexname <> 'ix_items_words' AND indexdef LIKE '%archived_at IS NULL%'"
    )
    with client.application.app_context(), db.engine.connect() as conn:
        for name in conn.execute(others).scalars().all():
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        sql = str(words.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
        conn.rollback()
    assert "ix_items_words" in plan, plan


@pytest.fixture
def shelves(app, catalogue, make_category):
    """Home > Boards, Home > Shelves: the catalogue's items on them."""
    from tests.helpers import set_item

    home = make_category("Home")
    boards = make_category("Boards", parent_id=home)
    shelves = make_category("Shelves", parent_id=home)
    with app.app_context():
        ids = db.session.scalars(sa.select(Item.id).order_by(Item.id)).all()
    for n, item_id in enumerate(ids):
        set_item(app, item_id, category_id=boards if n < 30 else shelves)
    return {"home": home}


def test_category_counts_come_from_the_category_index(client, shelves, engine_name):
    """The counts of the child categories, the other filters applied, read
    the (category_id, price_cents, stock) index of live items, not the table."""
    for path in ("/items/", "/items/?category=home&in_stock=1&min_price=1.01"):
        found = plans(client, path, sort=True)
        counts = plan_of(found, "per_category", "sum(")
        if engine_name == "sqlite":
            assert "USING COVERING INDEX ix_items_live_category" in counts, counts
        assert_no_full_scan(counts, "items")
        page = plan_of(found, "page_keys")
        assert_no_full_scan(page, "items")


def test_the_history_walks_the_users_orders_index(client, catalogue):
    """The page of orders and their count walk the user's orders index; the
    page's lines are found by their orders' ids (sorting only those lines)."""
    sign_in(client, "ann@example.com")
    found = plans(client, "/purchases/")
    page = plan_of(found, "FROM orders", "ORDER BY orders.created_at DESC")
    assert "ix_orders_user_id_created_at" in page
    assert_no_full_scan(page, "orders")
    counted = plan_of(found, "count(*)", "FROM orders")
    assert "ix_orders_user_id_created_at" in counted
    assert_no_full_scan(counted, "orders")
    assert not any(
        "FROM user_items WHERE user_items.user_id" in sql for sql, _ in found
    )
    lines = plan_of(
        plans(client, "/purchases/", sort=True), "FROM user_items", "order_id IN"
    )
    assert "ix_user_items_order_id" in lines
    assert_no_full_scan(lines, "user_items")


def test_an_items_buyers_walk_the_items_lines_index(client, admin, catalogue):
    found = plans(client, f"/items/{catalogue['best']}")
    buyers = plan_of(found, "FROM user_items JOIN users")
    assert "ix_user_items_item_id_created_at" in buyers
    assert_no_full_scan(buyers, "user_items")
    assert not any("sum(" in sql.lower() for sql, _ in found)  # the running totals
