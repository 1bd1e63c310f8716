"""Helpers for the store's tests; the fixtures are in conftest.py.

Pages and forms through HTTP with real CSRF tokens, signing in, snapshots of
what the database holds, and the databases and apps the fixtures build.

No app context is kept pushed during a test: each request of the test client
runs in its own, as in production. A helper that reads or writes the database
takes the app and opens a short app context of its own, so what it reads is
what the database holds now, never a snapshot from earlier in the test.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import functools
import html as html_module
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2.bccache import Bucket, BytecodeCache
from werkzeug.security import generate_password_hash

from app import create_app, page_cache
from app.extensions import db
from app.mail import outbox
from app.mail.restocks import notify_restocks
from app.media.images import process
from app.media.storage import FolderStorage
from app.models import (
    Address,
    AuditEvent,
    Category,
    Item,
    ItemImage,
    ItemImport,
    Order,
    OrderEvent,
    OutboxMessage,
    Restock,
    Review,
    StoreTotals,
    User,
    UserItem,
    WishlistItem,
    utcnow,
)
from config import ROOT, TestingConfig, database_url

TEST_PASSWORD = "correct-horse-battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# An <input> tag, and a name="..."/value="..." attribute inside one.
INPUT_RE = re.compile(r"<input\b[^>]*>")
ATTRIBUTE_RE = re.compile(r'\b(name|value|type)="([^"]*)"')
CHECKOUT_HIDDEN = ("csrf_token", "token", "seen_prices", "seen_shipping", "seen_tax")
# The first delivery method the checkout page offers.
SHIPPING_RE = re.compile(r'name="shipping" value="([^"]+)"')
# The checkout page's list of what changed when it refused an order.
CHANGES_RE = re.compile(r'<section[^>]*id="changes"[^>]*>(.*?)</section>', re.S)
# The hidden "token" field of the checkout and import forms.
TOKEN_RE = re.compile(r'name="token"[^>]*value="([^"]+)"')
PLAN_RE = re.compile(r'name="plan"[^>]*value="([^"]+)"')
CART_COUNT_RE = re.compile(r'Cart <span class="badge">(\d+)</span>')
ITEM_LINK_RE = re.compile(r'href="/items/(\d+)"')
PASSWORD_HASH_MARKERS = ("scrypt:", "pbkdf2:", "$2b$", "argon2")
# What an error page must never show.
LEAKS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "SELECT ",
    str(ROOT),
)
# Statements that are transaction control, not queries of ours (the BEGIN the
# SQLite engine issues itself): query budgets leave them out.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
# The admin's item form, filled in well.
GOOD_ITEM = {
    "name": "Walnut Tray",
    "description": "Oiled.",
    "price": "12.50",
    "stock": "7",
}
# Text that breaks out of its element or its attribute unless escaped.
HOSTILE = '<script>alert(1)</script> "onmouseover=alert(2) x="'
# A request from another site, as a browser sends it before a cross-origin POST.
CROSS_ORIGIN = {
    "Origin": "https://evil.example",
    "Access-Control-Request-Method": "POST",
}
# Project files that must never be served, however the path is spelled.
NEVER_SERVED = [
    "/.env",
    "/config.py",
    "/wsgi.py",
    "/.git/config",
    "/.git/HEAD",
    "/instance/store.db",
    "/static/../config.py",
    "/static/%2e%2e/config.py",
    "/static/..%2fconfig.py",
    "/static/..%5cconfig.py",
    "/static/../instance/store.db",
    "/static/../.env",
    "/requirements.txt",
    "/migrations/env.py",
    "/app/__init__.py",
    "/templates/base.html",
]
TABLES = (
    "payment_events",
    "payments",
    "item_images",
    "outbox",
    "restocks",
    "reviews",
    "wishlist_items",
    "audit_events",
    "item_imports",
    "order_events",
    "addresses",
    "user_items",
    "orders",
    "items",
    "categories",
    "users",
)
# PostgreSQL refuses DELETE on the audit trail and the order events
# (migrations 0004, 0007): TRUNCATE them.
APPEND_ONLY = ("audit_events", "order_events")
# Rows the migrations write (the shop's settings and shipping methods): put
# back as they were after every test.
SEEDED_TABLES = ("shipping_methods", "shop_settings", "content_pages")
_seeded_rows: dict[str, list[dict]] = {}
# Where a test order ships when the test does not care.
TEST_ADDRESS = {
    "name": "Sam Shopper",
    "line1": "1 Test Street",
    "line2": "",
    "city": "Testville",
    "postcode": "12345",
    "country": "US",
}


# --- apps and databases ------------------------------------------------------------


class _SharedBytecode(BytecodeCache):
    """Compiled templates kept for the whole run: every test builds a new app,
    and compiling the templates again for each one is most of a test's time."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_BYTECODE = _SharedBytecode()


def build_app(uri: str, **overrides) -> Flask:
    """The store in testing mode on database `uri`, with some settings changed."""

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = uri

    for key, value in overrides.items():
        setattr(Config, key, value)
    app = create_app(Config)
    app.jinja_env.bytecode_cache = _BYTECODE
    app.test_cli_runner_class = CommandRunner
    return app


class CommandRunner(FlaskCliRunner):
    """Runs each command in an app context of its own, as the `flask` command
    does (its FlaskGroup pushes one; the test runner alone would not)."""

    def invoke(self, cli=None, args=None, **kwargs):
        with self.app.app_context():
            return super().invoke(cli, args, **kwargs)


def migrate(app: Flask) -> None:
    """Bring the app's database to the newest migration, as `flask db upgrade` does."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            for table in SEEDED_TABLES:
                _seeded_rows[table] = [
                    dict(row._mapping)
                    for row in conn.execute(
                        sa.text(f"SELECT * FROM {table} ORDER BY id")
                    )
                ]
        db.engine.dispose()


def dispose(app: Flask) -> None:
    """Close the app's pooled connections (before its database is dropped)."""
    with app.app_context():
        db.engine.dispose()
    page_cache.dispose(app)


def create_postgres_database(server_url: str) -> tuple[str, str]:
    """A new database on the test server; returns (url, name)."""
    url = sa.engine.make_url(database_url(server_url))
    name = f"store_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def drop_postgres_database(server_url: str, name: str) -> None:
    url = sa.engine.make_url(database_url(server_url))
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@contextmanager
def fresh_database(folder: Path | None = None) -> Iterator[str]:
    """An empty database of the run's engine, dropped afterwards; yields its URL:
    a new SQLite file in `folder` (a new temporary folder if none), or a new
    PostgreSQL database when TEST_DATABASE_URL names a server."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        folder = folder or Path(tempfile.mkdtemp(prefix="store-test-"))
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / 'store.db'}"
        return
    url, name = create_postgres_database(server)
    try:
        yield url
    finally:
        drop_postgres_database(server, name)


def empty_tables(app: Flask) -> None:
    """Delete every row a test wrote and restart the ids."""
    # DELETE, children first, then restart the ids: on these small tables it is
    # ~20x faster than TRUNCATE, which rewrites every table on each test.
    with app.app_context(), db.engine.begin() as conn:
        for table in TABLES:
            if table in APPEND_ONLY and conn.dialect.name == "postgresql":
                # Only when it has rows: TRUNCATE costs more than an empty DELETE.
                if conn.exec_driver_sql(
                    f"SELECT EXISTS (SELECT 1 FROM {table})"
                ).scalar():
                    conn.exec_driver_sql(f"TRUNCATE {table}")
                continue
            conn.exec_driver_sql(f"DELETE FROM {table}")
        for table, rows in _seeded_rows.items():
            conn.exec_driver_sql(f"DELETE FROM {table}")
            if rows:
                conn.execute(sa.table(table, *map(sa.column, rows[0])).insert(), rows)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT "
                + ", ".join(
                    f"setval(pg_get_serial_sequence('{table}', 'id'), 1, false)"
                    for table in TABLES
                )
            )


@functools.cache
def password_hash(password: str) -> str:
    """The run's hashing algorithm, made cheap: signing in stays fast. Each
    password is hashed once per run."""
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


def run_python(code: str, unset: tuple[str, ...] = (), **env: str):
    """`python -c code` from the project root, as a fresh process would see the
    store (wsgi.py, config.py), without the `unset` settings and with `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- pages and forms -----------------------------------------------------------------


def order_row(
    user_id: int, email: str, total_cents: int, token: str, **overrides
) -> Order:
    """A paid order as checkout would have written it, not yet added (for
    tests that write their lines straight to the database)."""
    values = {
        "user_id": user_id,
        "email": email,
        "token": token,
        "status": "paid",
        "subtotal_cents": total_cents,
        "total_cents": total_cents,
        "payment_method": "bank_transfer",
        "shipping_method": "standard",
        "shipping_method_name": "Standard delivery",
        **{f"ship_{key}": value for key, value in TEST_ADDRESS.items()},
    }
    values.update(overrides)
    return Order(**values)


def html_of(response) -> str:
    return response.get_data(as_text=True)


def get_html(client: FlaskClient, url: str) -> str:
    """GET `url`, which must answer 200; its HTML."""
    response = client.get(url)
    assert response.status_code == 200, url
    return html_of(response)


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def valid_csrf(client: FlaskClient) -> str:
    """A CSRF token this client's session accepts, from a page of the store."""
    response = client.get("/users/login")
    if response.status_code == 302:  # signed in: the nav's sign-out form has one
        response = client.get("/items/")
    return csrf_token_from(html_of(response))


def post_form(
    client: FlaskClient,
    url: str,
    data: dict | None = None,
    *,
    page: str | None = None,
    **kw,
):
    """GET the page the form lives on, take its CSRF token, POST the form."""
    html = client.get(page or url).get_data(as_text=True)
    payload = {"csrf_token": csrf_token_from(html), **(data or {})}
    return client.post(url, data=payload, **kw)


def sign_in(
    client: FlaskClient,
    email: str,
    password: str = TEST_PASSWORD,
    *,
    remember: bool = False,
):
    """Sign in through the sign-in form, which must succeed; returns its answer."""
    form = {"email": email, "password": password}
    if remember:
        form["remember"] = "y"
    response = post_form(client, "/users/login", form)
    assert response.status_code == 302, html_of(response)
    return response


def sign_out(client: FlaskClient):
    """Press the nav's "Sign out" button."""
    return post_form(client, "/users/logout", page="/items/")


def client_for(app: Flask, email: str | None = None, *, remember: bool = False):
    """A new browser; signed in as `email` (password TEST_PASSWORD) when given."""
    client = app.test_client()
    if email:
        sign_in(client, email, remember=remember)
    return client


def is_signed_in(client: FlaskClient) -> bool:
    """The signed-in-only history page answers a shopper, and sends an admin to
    every purchase, instead of sending us to sign in."""
    response = client.get("/purchases/")
    return response.status_code == 200 or (
        response.status_code == 302 and response.location == "/purchases/all"
    )


def add_to_cart(client: FlaskClient, item_id: int, quantity=1, **extra):
    """Submit the item page's add-to-cart form."""
    data = {"item_id": item_id, "quantity": quantity, **extra}
    return post_form(client, "/purchases/cart", data, page=f"/items/{item_id}")


def checkout_form(client: FlaskClient) -> dict[str, str]:
    """The checkout page's form as a shopper fills it in: its hidden fields
    (the cart's token, the prices the page shows), a new address, the first
    delivery method and bank transfer."""
    return checkout_fields(client.get("/purchases/checkout").get_data(as_text=True))


def checkout_fields(html: str) -> dict[str, str]:
    """The form of this checkout page (its HTML), filled in as checkout_form does."""
    hidden = hidden_fields(html)
    assert "token" in hidden, "the checkout page has no checkout form"
    shipping = SHIPPING_RE.search(html)
    return {
        **{name: hidden[name] for name in CHECKOUT_HIDDEN},
        "address_id": "",
        **TEST_ADDRESS,
        "shipping": shipping.group(1) if shipping else "standard",
        "payment": "bank_transfer",
    }


def hidden_fields(html: str) -> dict[str, str]:
    """name -> value of every hidden input on the page (the first of a name)."""
    found: dict[str, str] = {}
    for tag in INPUT_RE.findall(html):
        attributes = dict(ATTRIBUTE_RE.findall(tag))
        if attributes.get("type") == "hidden" and "name" in attributes:
            found.setdefault(
                attributes["name"], html_module.unescape(attributes.get("value", ""))
            )
    return found


def checkout(client: FlaskClient, **extra):
    """Open the checkout page, fill it in and press Place order."""
    return client.post("/purchases/checkout", data={**checkout_form(client), **extra})


def order_number(response) -> str:
    """The number of the order a checkout answer redirects to."""
    location = response.headers["Location"]
    assert location.startswith("/purchases/orders/"), location
    return location.rsplit("/", 1)[1]


def checkout_problems(html: str) -> list[str]:
    """What the checkout page says changed when it refuses an order (its
    "nothing was bought" list), as text; [] when it lists nothing."""
    section = CHANGES_RE.search(html)
    if not section:
        return []
    return [
        html_module.unescape(re.sub(r"<[^>]+>", "", item)).strip()
        for item in re.findall(r"<li>(.*?)</li>", section.group(1), re.S)
    ]


def checkout_state(app: Flask) -> dict:
    """db_state plus what only a checkout writes: order events, saved addresses."""
    with app.app_context():
        extra = {
            "events": db.session.scalar(sa.select(sa.func.count(OrderEvent.id))),
            "addresses": db.session.execute(
                sa.select(Address.id, Address.user_id, Address.line1).order_by(
                    Address.id
                )
            ).all(),
        }
    return {**db_state(app), **extra}


def order_of(app: Flask, number: str) -> Order:
    """The order with this number, its lines and events loaded (detached)."""
    with app.app_context():
        return db.session.scalars(
            sa.select(Order)
            .where(Order.number == number)
            .options(so.selectinload(Order.lines), so.selectinload(Order.events))
        ).one()


def upload(client: FlaskClient, content: bytes | str, filename: str = "items.csv"):
    """Submit the import page's upload form with this file."""
    if isinstance(content, str):
        content = content.encode()
    html = client.get("/items/import").get_data(as_text=True)
    return client.post(
        "/items/import",
        data={
            "csrf_token": csrf_token_from(html),
            "file": (io.BytesIO(content), filename),
        },
        content_type="multipart/form-data",
    )


def preview(client: FlaskClient, content: bytes | str) -> str:
    """Upload a clean file and follow the redirect to its preview page."""
    response = upload(client, content)
    assert response.status_code == 303, html_of(response)
    assert response.headers["Location"].startswith("/items/import?token=")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return html_of(page)


def press_apply(client: FlaskClient, html: str, **override):
    """Press the import preview's Apply button (optionally with altered fields)."""
    data = {
        "csrf_token": csrf_token_from(html),
        "token": TOKEN_RE.search(html).group(1),
        "plan": PLAN_RE.search(html).group(1),
        **override,
    }
    return client.post("/items/import", data=data)


def import_file(client: FlaskClient, content: bytes | str):
    """Upload a file, preview it and apply it, as an admin does."""
    response = press_apply(client, preview(client, content))
    assert response.status_code == 302, html_of(response)
    return response


def session_cart(client: FlaskClient) -> dict:
    """The cart as the client's session cookie holds it."""
    with client.session_transaction() as session:
        return dict(session.get("cart") or {})


def cart_count(html: str) -> int:
    match = CART_COUNT_RE.search(html)
    assert match, "the page has no cart count in the nav"
    return int(match.group(1))


def item_ids_linked(html: str) -> list[int]:
    """Item ids in the order the page links to them (first link of each)."""
    seen: list[int] = []
    for match in ITEM_LINK_RE.finditer(html):
        if int(match.group(1)) not in seen:
            seen.append(int(match.group(1)))
    return seen


def table_rows(html: str) -> list[list[str]]:
    """Each table row with cells, as the cells' text (tags out, spaces collapsed)."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        cells = [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if cells:
            rows.append(cells)
    return rows


class _Attributes(HTMLParser):
    """Every (tag, attribute, value) of a page, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.found.extend((tag, name, value) for name, value in attrs)


def attributes(html: str) -> list[tuple[str, str, str | None]]:
    parser = _Attributes()
    parser.feed(html)
    return parser.found


def set_cookies(response) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name, whole (value and flags)."""
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def cookie_flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def assert_no_hash(html: str) -> None:
    for marker in PASSWORD_HASH_MARKERS:
        assert marker not in html, f"a password hash ({marker}) leaked into the page"


def assert_local(location: str) -> None:
    """A redirect that stays on the store."""
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    assert location.startswith("/"), location
    assert not location.startswith(("//", "/\\")), location


def assert_plain_error_page(response, status: int) -> str:
    """An error page of `status` that shows nothing of the code or the database."""
    assert response.status_code == status
    html = html_of(response)
    for leak in LEAKS:
        assert leak not in html, f"the {status} page shows {leak!r}"
    return html


def assert_security_headers(headers, where: str) -> None:
    assert headers.get("Content-Type") == "text/html; charset=utf-8", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy"), where
    csp = headers.get("Content-Security-Policy")
    directives = {
        part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()
    }
    assert directives["default-src"] == ["'self'"], where
    assert directives["frame-ancestors"] == ["'none'"], where
    assert "'unsafe-inline'" not in directives.get("script-src", ["'self'"]), where
    assert "'unsafe-inline'" not in directives["default-src"], where


def rules_of(app: Flask) -> list:
    """The app's routes, in URL order."""
    return sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)


def url_for_rule(rule, store: dict[str, int], user_id: int | None = None) -> str:
    """The rule's URL with real rows of the `store` fixture: its lamp (the
    retired item for a restore), Olive's order, and `user_id` (Sam's if None)."""
    values = {
        "item_id": store["retired"]
        if rule.endpoint == "items.restore"
        else store["lamp"],
        "user_id": store["sam"] if user_id is None else user_id,
        "order_id": store["olive_order"],
        "message_id": 1,
        "review_id": 1,
        "token": "not-a-real-token",
        "filename": "css/store.css",
        "image_id": store["lamp_image"],
        "category_id": store["lighting"],
        "key": f"{store['lamp_image_key']}-160.webp",
        "slug": "shipping",
        "number": store["olive_number"],
        "part": 1,
    }
    return rule.build({name: values[name] for name in rule.arguments})[1]


# --- the database, read afresh ------------------------------------------------------------


def count(app: Flask, model) -> int:
    """Rows of a model (or a table) in the database now."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def row_of(app: Flask, model, row_id: int):
    """One row as the database holds it now (detached: read its columns only)."""
    with app.app_context():
        return db.session.get(model, row_id)


def the_only(app: Flask, model):
    """The one row of a model (the test expects exactly one), detached."""
    with app.app_context():
        return db.session.scalars(sa.select(model)).one()


def stock_of(app: Flask, item_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Item.stock).where(Item.id == item_id))


_ITEM_COLUMNS = (
    Item.id,
    Item.name,
    Item.description,
    Item.price_cents,
    Item.stock,
    Item.archived_at,
)


def item_rows(app: Flask) -> list[tuple]:
    """Every item's editable columns, by id: what an admin's write could change."""
    with app.app_context():
        return db.session.execute(sa.select(*_ITEM_COLUMNS).order_by(Item.id)).all()


def audit_events(app: Flask) -> list[AuditEvent]:
    """The audit trail, oldest first."""
    with app.app_context():
        return db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()


def db_state(app: Flask) -> dict:
    """Every row a request could write, to compare before and after it."""
    with app.app_context():
        rows = db.session.execute
        return {
            "users": rows(
                sa.select(
                    User.id,
                    User.email,
                    User.name,
                    User.is_admin,
                    User.is_enabled,
                    User.session_token,
                    User.password_hash,
                ).order_by(User.id)
            ).all(),
            "items": rows(sa.select(*_ITEM_COLUMNS).order_by(Item.id)).all(),
            "orders": rows(
                sa.select(
                    Order.id, Order.user_id, Order.token, Order.total_cents
                ).order_by(Order.id)
            ).all(),
            "lines": rows(
                sa.select(
                    UserItem.id,
                    UserItem.user_id,
                    UserItem.item_id,
                    UserItem.order_id,
                    UserItem.quantity,
                    UserItem.unit_price_cents,
                ).order_by(UserItem.id)
            ).all(),
            "audit": db.session.scalar(sa.select(sa.func.count(AuditEvent.id))),
            "imports": db.session.scalar(sa.select(sa.func.count(ItemImport.id))),
        }


def set_item(app: Flask, item_id: int, **values) -> None:
    """Change an item behind the shopper's back (an admin, another buyer)."""
    with app.app_context():
        db.session.execute(sa.update(Item).where(Item.id == item_id).values(**values))
        db.session.commit()


def assert_totals_match_rows(app: Flask) -> None:
    """The running totals the database keeps (migrations 0006, 0007) equal the
    rows they summarise, worked out again from scratch: only the lines that
    still count as purchases (not those of cancelled or refunded orders)."""
    from app.orders.statuses import NOT_COUNTED

    with app.app_context():
        live = db.session.scalar(
            sa.select(sa.func.count(Item.id)).where(Item.archived_at.is_(None))
        )
        assert db.session.get(StoreTotals, 1).live_items == live
        # A line counts while its order is neither cancelled nor refunded
        # (lines written outside checkout have no order, and count).
        miscounted = db.session.execute(
            sa.select(UserItem.id, UserItem.counted, Order.status)
            .outerjoin(Order, Order.id == UserItem.order_id)
            .where(
                UserItem.counted
                != sa.func.coalesce(Order.status.not_in(NOT_COUNTED), sa.true())
            )
        ).all()
        assert miscounted == [], miscounted
        sales = {
            row.item_id: tuple(row[1:])
            for row in db.session.execute(
                sa.select(
                    UserItem.item_id,
                    sa.func.count(),
                    sa.func.sum(UserItem.quantity),
                    sa.func.sum(
                        sa.cast(UserItem.quantity, sa.BigInteger)
                        * UserItem.unit_price_cents
                    ),
                    sa.func.count(sa.distinct(UserItem.user_id)),
                )
                .where(UserItem.counted)
                .group_by(UserItem.item_id)
            )
        }
        for item in db.session.scalars(sa.select(Item)):
            kept = (
                item.sales_lines,
                item.units_sold,
                item.revenue_cents,
                item.customers,
            )
            assert kept == sales.get(item.id, (0, 0, 0, 0)), item
        lines = dict(
            db.session.execute(
                sa.select(UserItem.user_id, sa.func.count())
                .where(UserItem.counted)
                .group_by(UserItem.user_id)
            ).all()
        )
        for user in db.session.scalars(sa.select(User)):
            assert user.purchase_lines == lines.get(user.id, 0), user


def minutes_ago(n: int) -> datetime:
    """`n` minutes before the tests' clock (2024-05-01 12:00)."""
    return datetime(2024, 5, 1, 12, 0) - timedelta(minutes=n)


@contextmanager
def count_queries(app: Flask) -> Iterator[list[str]]:
    """Collect the SQL statements `app` runs inside the block (query budgets)."""
    with app.app_context():  # the app's engine, and the page version's own
        engines = [db.engine, *filter(None, [page_cache.version_engine()])]
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", record)


def ours(statements: list[str]) -> list[str]:
    """The statements that are queries of ours, not transaction control."""
    return [
        statement
        for statement in statements
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL)
    ]


def queries(client: FlaskClient, url: str) -> int:
    """SQL statements of ours run to serve GET `url` (which must answer 200)."""
    with count_queries(client.application) as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ours(statements))


# --- email: a real SMTP server on a loopback port, and the outbox -----------------

LINK_RE = re.compile(r"https?://[^\s<>\"]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_server() -> Iterator[int]:
    """A server on a free loopback port that accepts every connection and
    never answers (a database or Redis that hangs); yields its port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:  # the timeout: look at `done` again
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


@contextmanager
def timed() -> Iterator[list[float]]:
    """Measure a block: the list holds its seconds once the block ends."""
    seconds: list[float] = []
    started = time.monotonic()
    try:
        yield seconds
    finally:
        seconds.append(time.monotonic() - started)


@dataclass
class Received:
    """One email as the SMTP server took it."""

    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> str:
        return str(self.message["To"])

    def part(self, subtype: str) -> str:
        found = self.message.get_body(preferencelist=(subtype,))
        assert found is not None, f"no text/{subtype} part"
        return found.get_content()

    @property
    def text(self) -> str:
        return self.part("plain")

    @property
    def html(self) -> str:
        return self.part("html")

    def links(self) -> list[str]:
        return LINK_RE.findall(self.text)


@dataclass
class SmtpServer:
    """aiosmtpd on 127.0.0.1: keeps what it accepts, and can be told to
    refuse the next sends (`refuse(n, "451 ...")`), refuse a recipient, or
    stall before answering (`stall_after = n`: the n+1th message hangs)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    refused_recipients: dict[str, str] = field(default_factory=dict)
    stall_after: int | None = None
    stall_seconds: float = 60.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused_recipients:
            return self.refused_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refusals:
                return self.refusals.pop(0)
            stall = (
                self.stall_after is not None and len(self.received) >= self.stall_after
            )
        if stall:
            await asyncio.sleep(self.stall_seconds)  # cancelled if the client dies
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw)
            )
        return "250 Message accepted for delivery"

    def refuse(self, times: int, reply: str = "451 4.3.0 Try again later") -> None:
        with self.lock:
            self.refusals.extend([reply] * times)

    def start(self) -> SmtpServer:
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages() if address in m.rcpt_tos]

    def settings(self) -> dict:
        """The app settings that send to this server."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_TIMEOUT": 5}


def outbox_rows(app: Flask, kind: str | None = None) -> list[OutboxMessage]:
    """The outbox as the database holds it now, oldest first (detached)."""
    with app.app_context():
        select = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            select = select.where(OutboxMessage.kind == kind)
        return db.session.scalars(select).all()


def deliver(app: Flask, now: datetime | None = None, worker: str | None = None):
    """One pass of the worker (`flask outbox run --once` without the CLI):
    restocks into emails, then one batch sent."""
    with app.app_context():
        notify_restocks()
        clock = (lambda: now) if now else outbox.utcnow
        return outbox.deliver_due(worker, now=clock)


def send_all(app: Flask) -> None:
    """Run the worker until nothing is due."""
    with app.app_context():
        notify_restocks()
        while outbox.deliver_due().claimed:
            pass


def the_link(message: Received, path: str) -> str:
    """The one link in an email whose path starts with `path`, made local."""
    found = [link for link in message.links() if urlsplit(link).path.startswith(path)]
    assert len(found) == 1, message.links()
    parts = urlsplit(found[0])
    return parts.path + (f"?{parts.query}" if parts.query else "")


# The flask command of the environment running the tests (.venv/bin/flask).
FLASK = Path(sys.executable).with_name("flask")


def flask_process(database: str, *args: str, **env: str) -> subprocess.Popen:
    """`flask <args>` as its own process from the project root on `database`
    (a worker, as an operator starts it), with the settings in `env`."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLASK_APP", "STORE_ENV", "TEST_DATABASE_URL")
        and not k.startswith(("MAIL_", "OUTBOX_"))
    }
    return subprocess.Popen(
        [str(FLASK), *args],
        cwd=ROOT,
        env={**clean, "DATABASE_URL": database, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def worker_env(smtp: SmtpServer, **settings) -> dict[str, str]:
    """The environment of a worker process sending to `smtp`."""
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "MAIL_TIMEOUT": "5",
        **{key: str(value) for key, value in settings.items()},
    }


def queue_emails(app: Flask, n: int, kind: str = "order_paid", **values) -> list[int]:
    """`n` emails straight into the outbox, as a status change would; their ids."""
    with app.app_context():
        for i in range(n):
            outbox.queue(
                kind,
                values.get("recipient", f"buyer{i}@example.com"),
                values.get("subject", f"Email {i}"),
                f"Body {i}",
                f"<p>Body {i}</p>",
                dedupe_key=f"test:{kind}:{i}",
            )
        db.session.commit()
        return list(
            db.session.scalars(sa.select(OutboxMessage.id).order_by(OutboxMessage.id))
        )


# --- orders after checkout: their pages, moves, refunds and what they wrote -------------

# A flash message of the layout: its category and its text.
FLASH_RE = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)


def flashes(html: str) -> list[str]:
    """The flash messages a page shows, as text."""
    return [
        html_module.unescape(re.sub(r"<[^>]+>", "", text)).strip()
        for _, text in FLASH_RE.findall(html)
    ]


def order_url(number: str, action: str = "") -> str:
    """An order's page, or one of its forms' URLs (cancel, status, refund)."""
    return f"/purchases/orders/{number}" + (f"/{action}" if action else "")


def place_order(client: FlaskClient, lines: dict[int, int]) -> str:
    """A signed-in shopper puts {item_id: quantity} in the cart and places the
    order on the checkout page (bank transfer); the order's number."""
    for item_id, quantity in lines.items():
        added = add_to_cart(client, item_id, quantity)
        assert added.status_code == 302, html_of(added)
    response = checkout(client)
    assert response.status_code == 302, html_of(response)
    return order_number(response)


def _order_form_token(client: FlaskClient, number: str) -> str:
    """The CSRF token of the order's page, or of the store's pages when the
    order's page is not this client's to see."""
    response = client.get(order_url(number))
    if response.status_code == 200:
        return csrf_token_from(html_of(response))
    return valid_csrf(client)


def move_order(client: FlaskClient, number: str, status: str, **fields: str):
    """An admin presses the order page's button for `status` (with a tracking
    number or a note); a status the page offers no button for is posted all
    the same, as a forged form would be."""
    data = {"csrf_token": _order_form_token(client, number), "status": status}
    return client.post(order_url(number, "status"), data={**data, **fields})


def refund_order(client: FlaskClient, number: str, amount: str, note: str = ""):
    """An admin fills in the order page's refund form."""
    data = {
        "csrf_token": _order_form_token(client, number),
        "amount": amount,
        "note": note,
    }
    return client.post(order_url(number, "refund"), data=data)


def cancel_order(client: FlaskClient, number: str):
    """A shopper presses "Cancel this order" on the order's page."""
    data = {"csrf_token": _order_form_token(client, number)}
    return client.post(order_url(number, "cancel"), data=data)


def after_redirect(client: FlaskClient, response) -> str:
    """The page a form's redirect leads to (which must answer 200), its HTML."""
    assert response.status_code in (302, 303), html_of(response)
    return get_html(client, response.headers["Location"])


def order_id_of(app: Flask, number: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Order.id).where(Order.number == number))


def number_of(app: Flask, order_id: int) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(Order.number).where(Order.id == order_id))


def order_events_of(app: Flask, number: str) -> list[tuple]:
    """(from_status, to_status, actor_id, note) of the order's events, oldest first."""
    with app.app_context():
        return db.session.execute(
            sa.select(
                OrderEvent.from_status,
                OrderEvent.to_status,
                OrderEvent.actor_id,
                OrderEvent.note,
            )
            .join(Order, Order.id == OrderEvent.order_id)
            .where(Order.number == number)
            .order_by(OrderEvent.id)
        ).all()


def order_status(app: Flask, number: str) -> tuple[str, int, int, str | None]:
    """(status, refunded_cents, total_cents, tracking_number) of the order now."""
    with app.app_context():
        return tuple(
            db.session.execute(
                sa.select(
                    Order.status,
                    Order.refunded_cents,
                    Order.total_cents,
                    Order.tracking_number,
                ).where(Order.number == number)
            ).one()
        )


def set_order(app: Flask, number: str, **values) -> None:
    """Change an order behind the store's back (its age, for expiry)."""
    with app.app_context():
        db.session.execute(
            sa.update(Order).where(Order.number == number).values(**values)
        )
        db.session.commit()


def store_state(app: Flask) -> dict:
    """db_state plus everything an order's move, a refund or the shop's settings
    could write: every order column that changes, the events, each line's
    `counted`, the running totals, the shipping methods and the settings row."""
    with app.app_context():
        rows = db.session.execute
        orders = Order.__table__.c
        extra = {
            "order_rows": rows(
                sa.select(
                    orders.id,
                    orders.number,
                    orders.status,
                    orders.refunded_cents,
                    orders.tracking_number,
                    orders.updated_at,
                ).order_by(orders.id)
            ).all(),
            "events": rows(
                sa.select(OrderEvent.__table__).order_by(OrderEvent.id)
            ).all(),
            "counted": rows(
                sa.select(UserItem.id, UserItem.counted).order_by(UserItem.id)
            ).all(),
            "totals": rows(
                sa.select(
                    Item.id,
                    Item.sales_lines,
                    Item.units_sold,
                    Item.revenue_cents,
                    Item.customers,
                ).order_by(Item.id)
            ).all(),
            "purchase_lines": rows(
                sa.select(User.id, User.purchase_lines).order_by(User.id)
            ).all(),
            # reviews, wishlists and their totals (migration 0010)
            "reviews": rows(sa.select(Review.__table__).order_by(Review.id)).all(),
            "wishes": rows(
                sa.select(WishlistItem.user_id, WishlistItem.item_id).order_by(
                    WishlistItem.id
                )
            ).all(),
            "restocks": rows(sa.select(Restock.__table__).order_by(Restock.id)).all(),
            "ratings": rows(
                sa.select(Item.id, Item.rating_count, Item.rating_sum).order_by(Item.id)
            ).all(),
            "wishers": rows(
                sa.select(
                    User.id, User.wishlist_count, User.back_in_stock_emails
                ).order_by(User.id)
            ).all(),
        }
        for table in SEEDED_TABLES:
            extra[table] = rows(sa.text(f"SELECT * FROM {table} ORDER BY id")).all()
        extra["item_categories"] = rows(
            sa.select(Item.id, Item.category_id).order_by(Item.id)
        ).all()
        for model in (ItemImage, Category):
            extra[model.__tablename__] = rows(
                sa.select(model.__table__).order_by(model.id)
            ).all()
    extra["media"] = media_files(app)
    return {**db_state(app), **extra}


# --- pictures and categories ---------------------------------------------------------


def picture_bytes(
    format_: str = "JPEG",
    size: tuple[int, int] = (800, 600),
    color: tuple[int, int, int] = (200, 120, 40),
    exif: dict[int, object] | None = None,
) -> bytes:
    """A picture drawn with Pillow: a colour with a dark band along its top
    edge (so a turned picture can be told apart), with EXIF tags if given."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", size, color)
    ImageDraw.Draw(picture).rectangle((0, 0, size[0], size[1] // 8), fill=(0, 0, 0))
    out = io.BytesIO()
    options = {}
    if exif:
        tags = Image.Exif()
        for tag, value in exif.items():
            tags[tag] = value
        options["exif"] = tags
    picture.save(out, format_, **options)
    return out.getvalue()


def media_files(app: Flask) -> list[str]:
    """The names of every file under the app's MEDIA_ROOT, hidden ones too."""
    root = Path(app.config["MEDIA_ROOT"])
    if not root.exists():
        return []
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def add_picture(app: Flask, item_id: int, alt: str = "", **picture) -> tuple[int, str]:
    """A picture for an item as an upload would make it (files and row),
    without HTTP: returns the row's id and its key."""
    processed = process(picture_bytes(size=(320, 240), **picture))
    files = FolderStorage(app.config["MEDIA_ROOT"])
    for key, data in processed.files.items():
        files.save(key, data)
    with app.app_context():
        position = db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(ItemImage.position) + 1, 0)).where(
                ItemImage.item_id == item_id
            )
        )
        image = ItemImage(
            item_id=item_id,
            position=position,
            alt=alt,
            width=processed.width,
            height=processed.height,
            key=processed.key,
            widths=" ".join(str(w) for w in processed.widths),
        )
        db.session.add(image)
        db.session.commit()
        return image.id, processed.key


def make_category_row(
    app: Flask, name: str, parent_id: int | None = None, slug: str | None = None
) -> int:
    with app.app_context():
        category = Category(
            name=name, slug=slug or name.lower().replace(" ", "-"), parent_id=parent_id
        )
        db.session.add(category)
        db.session.commit()
        return category.id


def url_for_route(
    app: Flask, rule, store: dict[str, int], user_id: int | None = None
) -> str:
    """url_for_rule, and for the routes that name an order by its number
    (/purchases/orders/<number>/...): Olive's order's number."""
    if "number" in rule.arguments:
        return rule.build({"number": number_of(app, store["olive_order"])})[1]
    return url_for_rule(rule, store, user_id)


# --- card payments: a real local server that speaks Stripe's API ----------------------

STRIPE_TEST_KEY = "sk_test_store_local"
STRIPE_TEST_PUBLISHABLE = "pk_test_store_local"
WEBHOOK_SECRET = "whsec_store_test_secret"
VISA = "4242424242424242"  # Stripe's test card that pays
# localstripe declines this one when charging (Stripe's "charge declined"
# test number 4000000000000002 is, there, refused only when saved to a customer).
DECLINED = "4000000000000341"


@dataclass
class LocalStripe:
    """localstripe (an aiohttp server speaking Stripe's API and serving a
    stand-in for js.stripe.com/v3/) in its own process on a loopback port."""

    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalStripe:
        self.port = free_port()
        folder = Path(tempfile.mkdtemp(prefix="localstripe-"))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localstripe",
                "--port",
                str(self.port),
                "--from-scratch",
            ],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=(folder / "log.txt").open("wb"),
        )
        deadline = datetime.now() + timedelta(seconds=30)
        while datetime.now() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("localstripe did not start") from None
                threading.Event().wait(0.1)
        raise RuntimeError("localstripe did not answer within 30 seconds")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def reset(self) -> None:
        """Forget every object and webhook (between tests)."""
        self._request("DELETE", "/_config/data")
        self.webhook("store", "http://127.0.0.1:9/nowhere")

    def webhook(self, name: str, url: str, secret: str = WEBHOOK_SECRET) -> None:
        """Have the server sign and POST its events to `url`."""
        self._request(
            "POST", f"/_config/webhooks/{name}", {"url": url, "secret": secret}
        )

    def settings(self) -> dict:
        """The app settings that point the store at this server."""
        return {
            "STRIPE_SECRET_KEY": STRIPE_TEST_KEY,
            "STRIPE_PUBLISHABLE_KEY": STRIPE_TEST_PUBLISHABLE,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": self.url,
            "STRIPE_JS_URL": f"{self.url}/js.stripe.com/v3/",
        }

    def sdk(self):
        """Stripe's SDK pointed at this server, as the store's is."""
        import stripe

        return stripe.StripeClient(
            STRIPE_TEST_KEY, base_addresses={"api": self.url}, max_network_retries=0
        )

    def card(self, number: str = VISA) -> str:
        """What Stripe's script gives the store for a card: its id, never its number."""
        method = self.sdk().v1.payment_methods.create(
            params={
                "type": "card",
                "card": {
                    "number": number,
                    "exp_month": 12,
                    "exp_year": 2034,
                    "cvc": "123",
                },
            }
        )
        return method.id

    def intent(self, intent_id: str):
        return self.sdk().v1.payment_intents.retrieve(intent_id)

    def refunds(self, intent_id: str) -> list:
        return list(
            self.sdk().v1.refunds.list(params={"payment_intent": intent_id}).data
        )

    def _request(self, method: str, path: str, data: dict | None = None) -> None:
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.url + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def signed_event(
    event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, str]:
    """A webhook body and its `Stripe-Signature` header, signed exactly as
    Stripe signs them: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    import hashlib
    import hmac
    import json
    import time

    body = json.dumps(event).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return body, f"t={stamp},v1={mac.hexdigest()}"


def intent_event(intent, kind: str = "payment_intent.succeeded", **changes) -> dict:
    """An event of `kind` about `intent` (a PaymentIntent as the SDK returns it,
    or a dict), with some of its fields changed."""
    obj = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
    obj.update(changes)
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": kind,
        "data": {"object": obj},
    }


def post_webhook(client: FlaskClient, event: dict, **sign):
    body, header = signed_event(event, **sign)
    return client.post(
        "/purchases/payments/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def place_card_order(client: FlaskClient, lines: dict[int, int]) -> str:
    """A signed-in shopper places an order to pay by card; lands on the card step."""
    for item_id, quantity in lines.items():
        added = add_to_cart(client, item_id, quantity)
        assert added.status_code == 302, html_of(added)
    response = checkout(client, payment="card")
    assert response.status_code == 302, html_of(response)
    location = response.headers["Location"]
    assert location.startswith("/purchases/payments/"), location
    return location.split("/")[3]


def pay_by_card(client: FlaskClient, number: str, card: str):
    """Open the card step (its intent made) and post the card's id as the
    step's script does."""
    page = client.get(f"/purchases/payments/{number}/card")
    assert page.status_code == 200, html_of(page)
    return client.post(
        f"/purchases/payments/{number}/card",
        data={"csrf_token": csrf_token_from(html_of(page)), "payment_method": card},
    )


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """`app` under werkzeug's threaded server on a loopback port; yields its URL."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def silent_url() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers: a hung provider."""
    with silent_server() as port:
        yield f"http://127.0.0.1:{port}"


# --- reviews and the wishlist -----------------------------------------------------


def review_form(rating="5", title="Bright and sturdy", body="Lights the room.") -> dict:
    return {"rating": rating, "title": title, "body": body}


def post_review(client: FlaskClient, item_id: int, **fields):
    """The review form on the item page, posted with its CSRF token."""
    return post_form(
        client,
        f"/items/{item_id}/reviews",
        review_form(**fields),
        page=f"/items/{item_id}",
    )


def edit_review(client: FlaskClient, item_id: int, **fields):
    url = f"/items/{item_id}/reviews/edit"
    return post_form(client, url, review_form(**fields))


def wish(client: FlaskClient, item_id: int, **extra):
    """Press the item page's wishlist button (adds, or removes if there)."""
    return post_form(
        client, f"/items/{item_id}/wishlist", extra, page=f"/items/{item_id}"
    )


def write_review_row(
    app: Flask, user_id: int, item_id: int, rating: int, hidden: bool = False
) -> int:
    """A review written straight to the database (as a fix in psql would):
    the triggers keep the item's totals all the same."""
    with app.app_context():
        review = Review(
            user_id=user_id,
            item_id=item_id,
            rating=rating,
            title=f"Rated {rating}",
            body="Written for the test.",
            hidden_at=utcnow() if hidden else None,
        )
        db.session.add(review)
        db.session.commit()
        return review.id


def write_wish_row(app: Flask, user_id: int, item_id: int) -> None:
    with app.app_context():
        db.session.add(WishlistItem(user_id=user_id, item_id=item_id))
        db.session.commit()


def rating_totals(app: Flask, item_id: int) -> tuple[int, int]:
    """The item's (rating_count, rating_sum) as the database keeps them."""
    with app.app_context():
        return tuple(
            db.session.execute(
                sa.select(Item.rating_count, Item.rating_sum).where(Item.id == item_id)
            ).one()
        )


def assert_ratings_match_reviews(app: Flask) -> None:
    """Every item's running rating totals equal its visible reviews, recounted."""
    with app.app_context():
        visible = (
            sa.select(
                Review.item_id,
                sa.func.count(Review.id).label("n"),
                sa.func.coalesce(sa.func.sum(Review.rating), 0).label("total"),
            )
            .where(Review.hidden_at.is_(None))
            .group_by(Review.item_id)
            .subquery()
        )
        wrong = db.session.execute(
            sa.select(Item.id, Item.rating_count, Item.rating_sum, visible.c.n)
            .outerjoin(visible, visible.c.item_id == Item.id)
            .where(
                sa.or_(
                    Item.rating_count != sa.func.coalesce(visible.c.n, 0),
                    Item.rating_sum != sa.func.coalesce(visible.c.total, 0),
                )
            )
        ).all()
        assert not wrong, wrong
        counts = (
            sa.select(WishlistItem.user_id, sa.func.count().label("n"))
            .group_by(WishlistItem.user_id)
            .subquery()
        )
        wrong_wishes = db.session.execute(
            sa.select(User.id, User.wishlist_count)
            .outerjoin(counts, counts.c.user_id == User.id)
            .where(User.wishlist_count != sa.func.coalesce(counts.c.n, 0))
        ).all()
        assert not wrong_wishes, wrong_wishes


# --- the planner's statistics --------------------------------------------------------


def forget_statistics(app: Flask) -> None:
    """SQLite: drop what ANALYZE kept (sqlite_stat1), so a later ANALYZE shows."""
    with app.app_context(), db.engine.begin() as conn:
        if (
            conn.dialect.name == "sqlite"
            and conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).first()
        ):
            conn.exec_driver_sql("DELETE FROM sqlite_stat1")


def statistics_marks(app: Flask) -> dict[str, object]:
    """Per table, a mark of the planner's statistics: the time of the last
    ANALYZE on PostgreSQL, SQLite's sqlite_stat1 rows for it."""
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT relname, last_analyze FROM pg_stat_user_tables"
            )
            return {name: when for name, when in rows if when is not None}
        if not conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first():
            return {}
        rows = conn.exec_driver_sql("SELECT tbl, idx, stat FROM sqlite_stat1")
        marks: dict[str, object] = {}
        for table, index, stat in rows:
            marks.setdefault(table, []).append((index, stat))
        return marks


def rows_per_table(app: Flask) -> dict[str, int]:
    """Every table of the store's, with its number of rows."""
    return {table.name: count(app, table) for table in db.metadata.sorted_tables}


def redis_or_skip(url: str):
    """A connection to the Redis at `url`; the test is skipped without one,
    except in CI, where a missing Redis fails it."""
    import redis

    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis at {url}")
    return connection
