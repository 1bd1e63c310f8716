"""`make explain`: every SQL statement of the benchmarked pages, with its plan.

Run after `make bench`, on the large stores it left (bench-results/store_bench.db,
and the store_bench database on the PostgreSQL server that TEST_DATABASE_URL or
DATABASE_URL names). Each page is served once in-process, as the shopper or
admin the benchmark signs in; every statement it runs is recorded and planned
again: EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL
(plain EXPLAIN for statements that write). The plans go to docs/query-plans.md.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import Config, database_url  # noqa: E402

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def pages(conn: sa.Connection) -> list[tuple[str, str, str | None]]:
    """(title, path, who) for each benchmarked page: who is None, "shopper",
    "cart" (a shopper with three items in the cart) or "admin"."""
    best_item = conn.execute(
        sa.text("SELECT id FROM items ORDER BY sales_lines DESC, id LIMIT 1")
    ).scalar()
    return [
        ("Catalogue page 1", "/items/", None),
        ("Catalogue page 200", "/items/?page=200", None),
        ("Search ?q=oak", "/items/?q=oak", None),
        ("Sort by price", "/items/?sort=price", None),
        ("Item page (best seller)", f"/items/{best_item}", None),
        ("Purchase history (the user with the most lines)", "/purchases/", "shopper"),
        (
            "Admin: the best seller's page with its buyers",
            f"/items/{best_item}",
            "admin",
        ),
        ("Checkout page (3 items in the cart)", "/purchases/checkout", "cart"),
        ("Admin: the order list", "/purchases/orders/", "admin"),
    ]


def sign_in(client, email: str, password: str) -> None:
    """Through the real form, as the benchmark does."""
    html = client.get("/users/login").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    response = client.post(
        "/users/login", data={"csrf_token": token, "email": email, "password": password}
    )
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {email}: {response.status_code}")


def accounts(conn: sa.Connection) -> dict[str, tuple[str, str]]:
    """(email, password) of the shopper with the most lines, of the last
    shopper (the benchmark's checkout page's) and of the bench admin."""
    shopper = conn.execute(
        sa.text(
            "SELECT email FROM users WHERE NOT is_admin "
            "ORDER BY purchase_lines DESC, id LIMIT 1"
        )
    ).scalar()
    cart = conn.execute(
        sa.text("SELECT email FROM users WHERE NOT is_admin ORDER BY id DESC LIMIT 1")
    ).scalar()
    return {
        "shopper": (shopper, "demo-shopper-pass"),
        "cart": (cart, "demo-shopper-pass"),
        "admin": ("bench-admin@example.com", "bench-admin-pass"),
    }


def cart_items(conn: sa.Connection) -> list[int]:
    """Three items in stock, as the benchmark's cart holds (not the item its
    checkout loop buys, the last one)."""
    return list(
        conn.execute(
            sa.text(
                "SELECT id FROM items WHERE archived_at IS NULL AND stock > 0 "
                "AND id <> (SELECT max(id) FROM items WHERE archived_at IS NULL) "
                "ORDER BY id LIMIT 3"
            )
        ).scalars()
    )


def fill_cart(client, item_ids: list[int]) -> None:
    """Each item through its page's add-to-cart form, as the benchmark does."""
    for item_id in item_ids:
        html = client.get(f"/items/{item_id}").get_data(as_text=True)
        token = CSRF_RE.search(html).group(1)
        response = client.post(
            "/purchases/cart",
            data={"csrf_token": token, "item_id": item_id, "quantity": 1},
        )
        if response.status_code != 302:
            raise SystemExit(f"could not add item {item_id}: {response.status_code}")


def plan(conn: sa.Connection, statement: str, params, engine: str) -> str:
    writes = not statement.lstrip().upper().startswith(("SELECT", "WITH"))
    if engine == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
        return "\n".join(row[-1] for row in rows)
    prefix = "EXPLAIN " if writes else "EXPLAIN (ANALYZE, BUFFERS) "
    rows = conn.exec_driver_sql(prefix + statement, params).all()
    if writes:
        conn.rollback()
    return "\n".join(row[0] for row in rows)


def page_plans(
    bind: sa.Engine, engine: str, heading: str, status: int, statements: list
) -> list[str]:
    """A page's section: each statement it ran, and its plan."""
    out = [f"### {heading} ({status}, {len(statements)} statements)", ""]
    with bind.connect() as conn:
        for statement, params in statements:
            text = plan(conn, statement, params, engine)
            out += [
                "```sql",
                " ".join(statement.split()),
                "```",
                "```",
                text,
                "```",
                "",
            ]
    return out


def explain_engine(url: str, engine: str) -> list[str]:
    from app import create_app
    from app.extensions import cache, db

    class ExplainConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        POPULAR_CACHE_SECONDS = 0  # every page runs all its statements
        ALSO_BOUGHT_CACHE_SECONDS = 0
        SEARCH_COUNT_CACHE_SECONDS = 0

    app = create_app(ExplainConfig)
    recorded: list[tuple[str, object]] = []
    out = [f"## {engine}", ""]
    with app.app_context():
        cache.clear()
        bind = db.engine
    with bind.connect() as conn:
        logins = accounts(conn)
        page_list = pages(conn)
        in_cart = cart_items(conn)
    # Requests run outside any app context of ours, each in its own, as served.
    sa.event.listen(
        bind,
        "before_cursor_execute",
        lambda _c, _cur, statement, params, _ctx, _many: recorded.append(
            (statement, params)
        ),
    )
    for title, path, who in page_list:
        client = app.test_client()
        if who:
            sign_in(client, *logins[who])
        if who == "cart":
            fill_cart(client, in_cart)
            client.get("/purchases/cart")  # shows, and so clears, the "Added" notes
        recorded.clear()
        status = client.get(path).status_code
        statements = [
            (s, p)
            for s, p in recorded
            if not s.lstrip().upper().startswith(TRANSACTION_CONTROL)
        ]
        out += page_plans(bind, engine, f"{title}: `GET {path}`", status, statements)
    print(f"{engine}: {len(page_list)} pages planned", flush=True)
    return out


def main() -> None:
    results = ROOT / "bench-results"
    sqlite_db = results / "store_bench.db"
    if not sqlite_db.exists():
        raise SystemExit(
            "Run `make bench` first: it leaves the large stores this reads."
        )
    lines = [
        "# Query plans of the benchmarked pages",
        "",
        "Written by `make explain` (bench/explain.py) from the large stores of the "
        "last `make bench` (100,000 items, 1,000,000 purchase lines). Each page was "
        "served once with its caches off, so every statement it can run is here. "
        "SQLite: EXPLAIN QUERY PLAN. PostgreSQL: EXPLAIN (ANALYZE, BUFFERS), with "
        "the real timings of that run.",
        "",
    ]
    lines += explain_engine(f"sqlite:///{sqlite_db}", "sqlite")
    server = os.environ.get("DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if server and server.startswith("postgres"):
        url = sa.engine.make_url(database_url(server)).set(database="store_bench")
        lines += explain_engine(url.render_as_string(hide_password=False), "postgresql")
    target = ROOT / "docs" / "query-plans.md"
    target.write_text("\n".join(lines) + "\n")
    print(f"written to {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
