"""Alembic migrations: up, down and up again on a fresh database, with no drift.

Each test gets its own empty database of the run's type: a temporary SQLite file,
or a new PostgreSQL database (dropped afterwards) when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask

from app.extensions import db
from config import ROOT
from tests.helpers import build_app, dispose, fresh_database

# The tables each migration since 0006 adds: a downgrade past it drops them.
TABLES_ADDED = {
    "0007": {"order_events", "shipping_methods", "shop_settings", "addresses"},
    "0008": {"outbox"},
    "0009": {"payments", "payment_events"},
    "0010": {"reviews", "wishlist_items", "restocks"},
    "0011": {"categories", "item_images"},
    "0012": set(),
    "0013": {"content_pages"},
    "0014": {"page_versions"},
}
# The columns each adds to tables that were there before it.
COLUMNS_ADDED = {
    "0010": {
        ("items", "rating_count"),
        ("items", "rating_sum"),
        ("users", "wishlist_count"),
        ("users", "back_in_stock_emails"),
        ("outbox", "list_unsubscribe"),
    },
    "0011": {("items", "category_id")},
    "0012": {("audit_events", "request_id"), ("outbox", "request_id")},
}
STORE_TABLES = {
    "store_totals",
    "users",
    "items",
    "orders",
    "user_items",
    "audit_events",
    "item_imports",
}.union(*TABLES_ADDED.values())
# The tables migration 0007 adds.
ORDER_TABLES = TABLES_ADDED["0007"]
PAYMENT_TABLES = TABLES_ADDED["0009"]
# The flask command of the environment running the tests (.venv/bin/flask).
FLASK = Path(sys.executable).with_name("flask")


@pytest.fixture
def fresh_app(fresh_database_url: str) -> Iterator[Flask]:
    """An app on this test's own empty database, not migrated yet."""
    app = build_app(fresh_database_url)
    yield app
    dispose(app)


def flask_db(app: Flask, *args: str) -> str:
    """Run `flask db ...` through the app's CLI; fail the test if it fails."""
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output
    return result.output


def table_names(url: str) -> set[str]:
    """The store's tables, leaving out SQLite's FTS5 search tables (items_search*)."""
    from app.models import SEARCH_OBJECTS

    engine = sa.create_engine(url)
    try:
        names = sa.inspect(engine).get_table_names()
        return {name for name in names if not name.startswith(SEARCH_OBJECTS)}
    finally:
        engine.dispose()


def column_names(url: str, table: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).scalar()
    finally:
        engine.dispose()


def head_revision() -> str:
    return ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def test_upgrade_downgrade_upgrade_round_trips(fresh_app, fresh_database_url):
    assert table_names(fresh_database_url) == set()

    flask_db(fresh_app, "upgrade")
    assert table_names(fresh_database_url) == STORE_TABLES | {"alembic_version"}
    assert current_revision(fresh_database_url) == head_revision() == max(TABLES_ADDED)

    # Down one migration at a time to 0006: each drops exactly the tables it
    # added (and its columns: the next upgrade would fail on a leftover one).
    dropped: set[str] = set()
    scripts = ScriptDirectory(str(ROOT / "migrations"))
    for revision in sorted(TABLES_ADDED, reverse=True):
        below = scripts.get_revision(revision).down_revision
        flask_db(fresh_app, "downgrade", below)
        dropped |= TABLES_ADDED[revision]
        assert table_names(fresh_database_url) == STORE_TABLES - dropped | {
            "alembic_version"
        }, revision
        assert current_revision(fresh_database_url) == below
        for table, column in COLUMNS_ADDED.get(revision, ()):
            assert column not in column_names(fresh_database_url, table), revision
    flask_db(fresh_app, "upgrade")
    assert table_names(fresh_database_url) == STORE_TABLES | {"alembic_version"}

    flask_db(fresh_app, "downgrade", "base")
    assert table_names(fresh_database_url) == {"alembic_version"}
    assert current_revision(fresh_database_url) is None

    flask_db(fresh_app, "upgrade")
    assert table_names(fresh_database_url) == STORE_TABLES | {"alembic_version"}
    assert current_revision(fresh_database_url) == head_revision()


def test_the_models_do_not_drift_from_the_migrations(fresh_app):
    flask_db(fresh_app, "upgrade")
    flask_db(fresh_app, "check")  # exits 1 on any difference (see the next test)


def test_flask_db_check_notices_drift(fresh_app, fresh_database_url):
    """The check above can fail: take an index away and it reports the change."""
    flask_db(fresh_app, "upgrade")
    with fresh_app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_items_name")
    result = fresh_app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code != 0
    assert "ix_items_name" in result.output


def flask_db_command(url: str, *args: str) -> str:
    """The real `flask db ...` from the project root on database `url`, with no
    flags and no FLASK_APP (.flaskenv names wsgi.py); fail the test if it fails."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLASK_APP", "STORE_ENV", "SECRET_KEY", "TEST_DATABASE_URL")
    }
    env["DATABASE_URL"] = url
    result = subprocess.run(
        [str(FLASK), "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_flask_db_upgrade_runs_from_the_project_root(fresh_database_url):
    """No flags and no FLASK_APP: .flaskenv names wsgi.py, DATABASE_URL the db."""
    flask_db_command(fresh_database_url, "upgrade")
    assert table_names(fresh_database_url) == STORE_TABLES | {"alembic_version"}
    assert current_revision(fresh_database_url) == head_revision()


@pytest.mark.slow
def test_s36_migrations_round_trip_and_check(fresh_database_url):
    """The real `flask db` commands, from the project root, on a new database."""
    url = fresh_database_url
    store_tables = set(db.metadata.tables) | {"alembic_version"}
    flask_db_command(url, "upgrade")
    assert table_names(url) == store_tables
    flask_db_command(url, "downgrade", "base")
    assert table_names(url) == {"alembic_version"}
    flask_db_command(url, "upgrade")
    assert table_names(url) == store_tables
    assert "No new upgrade operations detected" in flask_db_command(url, "check")


# --- what the migration creates ------------------------------------------------


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> Iterator[sa.Inspector]:
    """The schema `flask db upgrade` builds in a fresh database (one per module)."""
    with fresh_database(tmp_path_factory.mktemp("schema")) as url:
        app = build_app(url)
        flask_db(app, "upgrade")
        dispose(app)
        engine = sa.create_engine(url)
        yield sa.inspect(engine)
        engine.dispose()


def test_named_check_constraints_exist(schema):
    checks = {
        table: {c["name"] for c in schema.get_check_constraints(table)}
        for table in STORE_TABLES
    }
    assert {"ck_users_email_lower_case", "ck_users_name_not_empty"} <= checks["users"]
    assert {
        "ck_items_name_length",
        "ck_items_price_cents_not_negative",
        "ck_items_stock_not_negative",
    } <= checks["items"]
    assert {
        "ck_user_items_quantity_positive",
        "ck_user_items_unit_price_cents_not_negative",
    } <= checks["user_items"]
    assert {
        "ck_orders_total_cents_not_negative",
        "ck_orders_status",
        "ck_orders_subtotal_cents_not_negative",
        "ck_orders_shipping_cents_not_negative",
        "ck_orders_tax_cents_not_negative",
        "ck_orders_total_adds_up",
        "ck_orders_refund_within_total",
        "ck_orders_number_length",
    } <= checks["orders"]
    assert "ck_order_events_to_status" in checks["order_events"]
    assert {
        "ck_shipping_methods_price_cents_not_negative",
        "ck_shipping_methods_free_over_cents_not_negative",
        "ck_shipping_methods_code_not_empty",
    } <= checks["shipping_methods"]
    assert {
        "ck_shop_settings_one_row",
        "ck_shop_settings_tax_rate_bp_range",
    } <= checks["shop_settings"]
    assert "ck_audit_events_subject_type" in checks["audit_events"]


def test_foreign_keys_are_named_and_restrict_deletes(schema):
    fks = {fk["name"]: fk for fk in schema.get_foreign_keys("user_items")}
    assert set(fks) == {
        "fk_user_items_user_id_users",
        "fk_user_items_item_id_items",
        "fk_user_items_order_id_orders",
    }
    assert fks["fk_user_items_user_id_users"]["referred_table"] == "users"
    assert fks["fk_user_items_item_id_items"]["referred_table"] == "items"
    for fk in fks.values():
        assert fk["options"].get("ondelete") == "RESTRICT", fk["name"]
    (orders_fk,) = schema.get_foreign_keys("orders")
    assert orders_fk["name"] == "fk_orders_user_id_users"
    events = {fk["name"]: fk for fk in schema.get_foreign_keys("order_events")}
    assert set(events) == {
        "fk_order_events_order_id_orders",
        "fk_order_events_actor_id_users",
    }
    (address_fk,) = schema.get_foreign_keys("addresses")
    assert address_fk["name"] == "fk_addresses_user_id_users"
    for fk in (orders_fk, address_fk, *events.values()):
        assert fk["options"].get("ondelete") == "RESTRICT", fk["name"]


def test_primary_unique_keys_and_indexes_are_named(schema):
    for table in STORE_TABLES:
        assert schema.get_pk_constraint(table)["name"] == f"pk_{table}"
    uniques = {
        (table, u["name"])
        for table in ("users", "orders", "shipping_methods", "outbox", *PAYMENT_TABLES)
        for u in schema.get_unique_constraints(table)
    }
    assert {
        ("payments", "uq_payments_order_id"),
        ("payments", "uq_payments_intent_id"),
        ("payment_events", "uq_payment_events_event_id"),
        ("users", "uq_users_email"),
        ("orders", "uq_orders_token"),
        ("shipping_methods", "uq_shipping_methods_code"),
        ("outbox", "uq_outbox_dedupe_key"),
    } <= uniques
    indexes = {
        i["name"]: i for table in STORE_TABLES for i in schema.get_indexes(table)
    }
    assert {
        "ix_items_name",
        "ix_items_live_name",
        "ix_items_live_price",
        "ix_items_live_newest",
        "ix_items_live_stock",
        "ix_orders_user_id_created_at",
        "ix_orders_created_at",
        "ix_orders_status_created_at",
        "uq_orders_number",
        "ix_order_events_order_id",
        "ix_addresses_user_id",
        "ix_user_items_order_id",
        "ix_outbox_due",
        "ix_outbox_status_created_at",
        "ix_user_items_user_id_created_at",
        "ix_user_items_item_id_created_at",
    } <= set(indexes)
    # 0007 replaced the orders' user_id index with one that also sorts by time.
    assert "ix_orders_user_id" not in indexes
    assert indexes["uq_orders_number"]["unique"]
    assert indexes["uq_orders_number"]["column_names"] == ["number"]


def test_required_columns_are_not_null(schema):
    nullable = {
        (table, c["name"]): c["nullable"]
        for table in STORE_TABLES
        for c in schema.get_columns(table)
    }
    # store_totals and page_versions are counters kept by triggers: they have
    # no timestamps; an order's events are written once, with the time of the move.
    for table in STORE_TABLES - {"store_totals", "page_versions", "order_events"}:
        for column in ("id", "created_at", "updated_at"):
            if (table, column) != ("order_events", "updated_at"):
                assert nullable[(table, column)] is False, (table, column)
    for column in (
        ("store_totals", "live_items"),
        ("items", "sales_lines"),
        ("items", "units_sold"),
        ("items", "revenue_cents"),
        ("items", "customers"),
        ("users", "purchase_lines"),
        ("users", "email"),
        ("users", "password_hash"),
        ("items", "name"),
        ("items", "price_cents"),
        ("items", "stock"),
        ("user_items", "user_id"),
        ("user_items", "item_id"),
        ("user_items", "quantity"),
        ("user_items", "unit_price_cents"),
        ("user_items", "item_name"),
        ("user_items", "counted"),
        *(
            ("orders", name)
            for name in (
                "number",
                "email",
                "status",
                "subtotal_cents",
                "shipping_cents",
                "tax_cents",
                "total_cents",
                "refunded_cents",
                "payment_method",
                "shipping_method",
                "ship_name",
                "ship_line1",
                "ship_line2",
                "ship_city",
                "ship_postcode",
                "ship_country",
            )
        ),
        ("order_events", "order_id"),
        ("order_events", "to_status"),
        ("order_events", "created_at"),
        ("shipping_methods", "code"),
        ("shipping_methods", "price_cents"),
        ("shop_settings", "tax_rate_bp"),
        ("outbox", "recipient"),
        ("outbox", "dedupe_key"),
        ("outbox", "status"),
        ("outbox", "next_attempt_at"),
        ("payments", "order_id"),
        ("payments", "amount_cents"),
        ("payments", "currency"),
        ("payments", "status"),
        ("payment_events", "event_id"),
        ("payment_events", "type"),
        ("payment_events", "outcome"),
    ):
        assert nullable[column] is False, column
    assert nullable[("items", "archived_at")] is True
    assert nullable[("users", "deleted_at")] is True
    for column in (
        ("user_items", "order_id"),
        ("orders", "tracking_number"),
        ("order_events", "from_status"),
        ("order_events", "actor_id"),
        ("shipping_methods", "free_over_cents"),
        ("payments", "intent_id"),
        ("payment_events", "order_id"),
    ):
        assert nullable[column] is True, column


# --- 0006: running totals worked out for a store with rows ----------------------------------------------------------


def test_the_migration_works_out_the_totals_of_a_store_with_rows(
    fresh_app, fresh_database_url
):
    """A store upgraded from 0005 with items, users and lines already in it
    gets totals equal to its rows; a downgrade takes them away again."""
    flask_db(fresh_app, "upgrade", "0005")
    engine = sa.create_engine(fresh_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, name, email, password_hash, session_token) "
                "VALUES (1, 'Ann', 'ann@example.com', 'x', 't1'), "
                "(2, 'Bob', 'bob@example.com', 'x', 't2')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO items (id, name, price_cents, stock, archived_at) VALUES "
                "(1, 'Lamp', 1000, 5, NULL), (2, 'Rug', 500, 5, NULL), "
                "(3, 'Old', 100, 0, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO user_items (user_id, item_id, quantity, unit_price_cents) "
                "VALUES (1, 1, 2, 1000), (1, 1, 1, 900), (2, 1, 1, 1000), (2, 3, 4, 100)"
            )
        )
    flask_db(fresh_app, "upgrade")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT live_items FROM store_totals")).all() == [
            (2,)
        ]
        assert conn.execute(
            sa.text(
                "SELECT id, sales_lines, units_sold, revenue_cents, customers "
                "FROM items ORDER BY id"
            )
        ).all() == [(1, 3, 4, 3900, 2), (2, 0, 0, 0, 0), (3, 1, 4, 400, 1)]
        assert conn.execute(
            sa.text("SELECT id, purchase_lines FROM users ORDER BY id")
        ).all() == [(1, 2), (2, 2)]
    flask_db(fresh_app, "downgrade", "0005")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("items")}
    assert "sales_lines" not in columns
    assert "store_totals" not in sa.inspect(engine).get_table_names()
    engine.dispose()


# --- 0007: the orders already there, and the running totals of counted lines ------------

TOTALS = "SELECT id, sales_lines, units_sold, revenue_cents, customers FROM items ORDER BY id"
LINES = "SELECT id, purchase_lines FROM users ORDER BY id"


def test_0007_makes_old_orders_paid_orders_and_counts_only_live_lines(
    fresh_app, fresh_database_url
):
    """A store upgraded from 0006 keeps its orders as paid ones (a number, the
    buyer's email, the old total as the subtotal, one event each) and their
    lines with the item's name; from then on a cancelled order's lines leave
    the running totals. A downgrade counts every line again."""
    flask_db(fresh_app, "upgrade", "0006")
    engine = sa.create_engine(fresh_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, name, email, password_hash, session_token) "
                "VALUES (1, 'Ann', 'ann@example.com', 'x', 't1'), "
                "(2, 'Bob', 'bob@example.com', 'x', 't2')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO items (id, name, price_cents, stock) VALUES "
                "(1, 'Lamp', 1000, 5), (2, 'Rug', 500, 5)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO orders (id, user_id, token, total_cents) VALUES "
                "(1, 1, 'a', 2900), (2, 2, 'b', 1500)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO user_items "
                "(id, user_id, item_id, order_id, quantity, unit_price_cents) VALUES "
                "(1, 1, 1, 1, 2, 1000), (2, 1, 1, 1, 1, 900), "
                "(3, 2, 1, 2, 1, 1000), (4, 2, 2, 2, 1, 500), (5, 1, 2, NULL, 1, 500)"
            )
        )
    every_line = [(1, 3, 4, 3900, 2), (2, 2, 2, 1000, 2)]
    flask_db(fresh_app, "upgrade")
    with engine.connect() as conn:
        orders = conn.execute(
            sa.text(
                "SELECT id, number, email, status, subtotal_cents, shipping_cents, "
                "tax_cents, total_cents, refunded_cents, ship_name FROM orders "
                "ORDER BY id"
            )
        ).all()
        events = conn.execute(
            sa.text(
                "SELECT order_id, from_status, to_status, actor_id FROM order_events "
                "ORDER BY id"
            )
        ).all()
        lines = conn.execute(
            sa.text("SELECT id, item_name, counted FROM user_items ORDER BY id")
        ).all()
        assert conn.execute(sa.text(TOTALS)).all() == every_line
        assert conn.execute(sa.text(LINES)).all() == [(1, 3), (2, 2)]
    assert [order[2:] for order in orders] == [
        ("ann@example.com", "paid", 2900, 0, 0, 2900, 0, "Ann"),
        ("bob@example.com", "paid", 1500, 0, 0, 1500, 0, "Bob"),
    ]
    numbers = [order.number for order in orders]
    assert len(set(numbers)) == 2
    assert all(re.fullmatch(r"[A-HJ-NP-Z2-9]{10}", number) for number in numbers)
    assert events == [(1, None, "paid", None), (2, None, "paid", None)]
    assert [(line.item_name, bool(line.counted)) for line in lines] == [
        ("Lamp", True),
        ("Lamp", True),
        ("Lamp", True),
        ("Rug", True),
        ("Rug", True),
    ]

    # Bob's order cancelled: its lines stay, no longer counted, out of the totals.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE orders SET status = 'cancelled' WHERE id = 2"))
    with engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT id FROM user_items WHERE NOT counted ORDER BY id")
        ).all() == [(3,), (4,)]
        assert conn.execute(sa.text(TOTALS)).all() == [
            (1, 2, 3, 2900, 1),
            (2, 1, 1, 500, 1),
        ]
        assert conn.execute(sa.text(LINES)).all() == [(1, 3), (2, 0)]
    # A line written to a cancelled order does not count either.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO user_items (id, user_id, item_id, order_id, quantity, "
                "unit_price_cents, item_name, counted) "
                "VALUES (6, 2, 2, 2, 1, 500, 'Rug', false)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO audit_events (action, subject_type, subject_id, changes) "
                "VALUES ('shipping.update', 'shipping', 1, '{}'), "
                "('item.update', 'item', 1, '{}')"
            )
        )
    with engine.connect() as conn:
        assert conn.execute(sa.text(TOTALS)).all()[1] == (2, 1, 1, 500, 1)

    flask_db(fresh_app, "downgrade", "0006")
    with engine.connect() as conn:
        # 0006 counts every line, cancelled or not.
        assert conn.execute(sa.text(TOTALS)).all() == [
            (1, 3, 4, 3900, 2),
            (2, 3, 3, 1500, 2),
        ]
        assert conn.execute(sa.text(LINES)).all() == [(1, 3), (2, 3)]
        # The settings' audit events went with the settings; the item's stayed.
        assert conn.execute(
            sa.text("SELECT action FROM audit_events")
        ).scalars().all() == ["item.update"]
    inspector = sa.inspect(engine)
    assert "status" not in {c["name"] for c in inspector.get_columns("orders")}
    assert "counted" not in {c["name"] for c in inspector.get_columns("user_items")}
    flask_db(fresh_app, "upgrade")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM order_events")).scalar() == 2
        assert conn.execute(sa.text(TOTALS)).all() == [
            (1, 3, 4, 3900, 2),
            (2, 3, 3, 1500, 2),
        ]
    engine.dispose()


def test_0007_order_events_are_append_only_on_postgresql(fresh_app, fresh_database_url):
    if sa.engine.make_url(fresh_database_url).get_backend_name() != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's (migration 0007)")
    flask_db(fresh_app, "upgrade")
    engine = sa.create_engine(fresh_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, name, email, password_hash, session_token) "
                "VALUES (1, 'Ann', 'ann@example.com', 'x', 't1')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO orders (id, number, user_id, email, status, token, "
                "subtotal_cents, total_cents, payment_method, shipping_method, "
                "ship_name, ship_line1, ship_city, ship_postcode, ship_country) "
                "VALUES (1, 'ABCDEFGH23', 1, 'ann@example.com', 'paid', 't', 100, "
                "100, 'bank_transfer', 'standard', 'Ann', '1 Road', 'Town', '1', 'US')"
            )
        )
        conn.execute(
            sa.text("INSERT INTO order_events (order_id, to_status) VALUES (1, 'paid')")
        )
    for statement in (
        "UPDATE order_events SET to_status = 'refunded'",
        "DELETE FROM order_events",
    ):
        with (
            pytest.raises(sa.exc.DBAPIError, match="append-only"),
            engine.begin() as conn,
        ):
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT to_status FROM order_events")).all() == [
            ("paid",)
        ]
    engine.dispose()
