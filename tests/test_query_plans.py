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
def catalogue(make_user, make_item, make_purchase):
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
    return {"best": items[0], "shopper": shopper}


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
    count = plan_of(found, "count(*)")
    if engine_name == "sqlite":
        assert "items_search VIRTUAL TABLE INDEX" in page
        assert "items_search VIRTUAL TABLE INDEX" in count
    else:
        # Either index serves ILIKE '%oak%' on PostgreSQL: pg_trgm's, or a walk
        # of the name index filtering each entry. Which is cheaper turns on the
        # statistics (README, "Benchmarks"); neither reads the table's rows.
        for plan in (page, count):
            assert "ix_items_name_trgm" in plan or "ix_items_live_name" in plan
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
