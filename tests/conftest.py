"""Fixtures: one migrated database per test run (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), emptied after every test; HTTP helpers with real CSRF."""

from __future__ import annotations

import functools
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from jinja2.bccache import Bucket, BytecodeCache
from werkzeug.security import generate_password_hash

from app import create_app
from app.extensions import db, limiter
from app.models import Item, User
from config import TestingConfig, database_url

TABLES = ("audit_events", "item_imports", "user_items", "orders", "items", "users")
# PostgreSQL refuses DELETE on the audit trail (migration 0004): TRUNCATE it.
APPEND_ONLY = ("audit_events",)
TEST_PASSWORD = "correct-horse-battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _create_postgres_database(server_url: str) -> tuple[str, str]:
    """A fresh database on the test server for this run; returns (url, name)."""
    url = sa.engine.make_url(database_url(server_url))
    name = f"store_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(server_url: str, name: str) -> None:
    url = sa.engine.make_url(database_url(server_url))
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def database_uri() -> Iterator[str]:
    """The run's database, migrated by Alembic exactly as `flask db upgrade` does."""
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        uri, name = _create_postgres_database(server)
    else:
        folder = Path(tempfile.mkdtemp(prefix="store-test-"))
        uri, name = f"sqlite:///{folder / 'test.db'}", None
    app = _make_app(uri)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield uri
    if name:
        _drop_postgres_database(server, name)


class IsolatedClient(FlaskClient):
    """Each request (and each redirect it follows) runs in its own app context.

    That is how production serves requests. The `app` fixture keeps one app
    context pushed for the whole test, and Flask would reuse it for requests
    made inside it, so `g` (where Flask-Login caches the signed-in user) and
    the database session would leak from one request, and from one client, to
    the next: a fresh client would appear signed in.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


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


def _make_app(uri: str, **overrides) -> Flask:
    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = uri

    for key, value in overrides.items():
        setattr(Config, key, value)
    app = create_app(Config)
    app.test_client_class = IsolatedClient
    app.jinja_env.bytecode_cache = _BYTECODE
    return app


@pytest.fixture
def make_app(database_uri: str, app: Flask):
    """Build another app on the run's database with some settings changed.

    It depends on `app` so the test has an app context and its rows are
    emptied afterwards like any other test's."""
    made: list[Flask] = []

    def factory(**overrides) -> Flask:
        app = _make_app(database_uri, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(database_uri: str) -> Iterator[Flask]:
    app = _make_app(database_uri)
    with app.app_context():
        limiter.reset()
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def _empty_tables() -> None:
    # DELETE, children first, then restart the ids: on these small tables it is
    # ~20x faster than TRUNCATE, which rewrites every table on each test.
    with db.engine.begin() as conn:
        for table in TABLES:
            if table in APPEND_ONLY and conn.dialect.name == "postgresql":
                # Only when it has rows: TRUNCATE costs more than an empty DELETE.
                if conn.exec_driver_sql(
                    f"SELECT EXISTS (SELECT 1 FROM {table})"
                ).scalar():
                    conn.exec_driver_sql(f"TRUNCATE {table}")
                continue
            conn.exec_driver_sql(f"DELETE FROM {table}")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "SELECT "
                + ", ".join(
                    f"setval(pg_get_serial_sequence('{table}', 'id'), 1, false)"
                    for table in TABLES
                )
            )


@pytest.fixture
def engine_name(app: Flask) -> str:
    return db.engine.dialect.name


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


# --- factories: insert a row, return its id --------------------------------


@functools.cache
def password_hash(password: str) -> str:
    """Hashing is slow on purpose: hash each test password once per run."""
    return generate_password_hash(password)


@pytest.fixture
def make_user(app: Flask):
    counter = iter(range(1, 10_000))

    def factory(
        name: str = "Shopper",
        email: str | None = None,
        password: str = TEST_PASSWORD,
        is_admin: bool = False,
    ) -> int:
        user = User(
            name=name,
            email=(email or f"user{next(counter)}@example.com").lower(),
            is_admin=is_admin,
        )
        user.password_hash = password_hash(password)
        db.session.add(user)
        db.session.commit()
        return user.id

    return factory


@pytest.fixture
def make_item(app: Flask):
    counter = iter(range(1, 100_000))

    def factory(
        name: str | None = None,
        price_cents: int = 1250,
        stock: int = 10,
        description: str = "A fine thing.",
        archived: bool = False,
    ) -> int:
        from app.models import utcnow

        item = Item(
            name=name or f"Item {next(counter):05d}",
            price_cents=price_cents,
            stock=stock,
            description=description,
            archived_at=utcnow() if archived else None,
        )
        db.session.add(item)
        db.session.commit()
        return item.id

    return factory


# --- HTTP helpers: real pages, real CSRF tokens -----------------------------


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


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


def login(client: FlaskClient, email: str, password: str = TEST_PASSWORD):
    return post_form(client, "/users/login", {"email": email, "password": password})


@pytest.fixture
def shopper(client: FlaskClient, make_user) -> int:
    """A signed-in shopper on `client`; returns the user id."""
    user_id = make_user(name="Sam Shopper", email="sam@example.com")
    response = login(client, "sam@example.com")
    assert response.status_code == 302, response.get_data(as_text=True)
    return user_id


@pytest.fixture
def admin(client: FlaskClient, make_user) -> int:
    """A signed-in admin on `client`; returns the user id."""
    user_id = make_user(name="Alex Admin", email="admin@example.com", is_admin=True)
    response = login(client, "admin@example.com")
    assert response.status_code == 302, response.get_data(as_text=True)
    return user_id


def count_rows(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run inside the block (query budgets)."""
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
