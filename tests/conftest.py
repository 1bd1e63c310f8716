"""Fixtures: one migrated database per test run (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), emptied after every test; an app per test; factories
that insert a row and return its id. Helpers are in tests/helpers.py.

No app context stays pushed during a test: each request the test client makes
runs in its own, as in production. Fixtures and helpers that touch the database
open a short one themselves; `app_context` pushes one for the tests of code
that runs inside the app without a request (the models, the running totals).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db, limiter
from app.models import Item, User, UserItem, utcnow
from tests.helpers import (
    TEST_PASSWORD,
    LocalStripe,
    SmtpServer,
    add_picture,
    build_app,
    dispose,
    empty_tables,
    fresh_database,
    make_category_row,
    migrate,
    order_row,
    password_hash,
    set_item,
    sign_in,
)


@pytest.fixture(scope="session")
def database_uri() -> Iterator[str]:
    """The run's database, migrated by Alembic exactly as `flask db upgrade` does."""
    with fresh_database(Path(tempfile.mkdtemp(prefix="store-test-"))) as uri:
        migrate(build_app(uri))
        yield uri


@pytest.fixture
def app(database_uri: str, tmp_path: Path) -> Iterator[Flask]:
    # Each test's pictures in a folder of its own.
    app = build_app(database_uri, MEDIA_ROOT=str(tmp_path / "media"))
    with app.app_context():
        limiter.reset()
    yield app
    empty_tables(app)
    dispose(app)


@pytest.fixture
def make_app(database_uri: str, app: Flask):
    """Build another app on the run's database with some settings changed.

    It depends on `app` so the rows the test writes are emptied afterwards
    like any other test's."""
    made: list[Flask] = []

    def factory(**overrides) -> Flask:
        other = build_app(database_uri, **overrides)
        made.append(other)
        return other

    yield factory
    for other in made:
        dispose(other)


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    """An app context for the whole test, for tests of code that runs inside
    the app without a request. Not for tests that make requests: a request
    made inside it would share its `g` and database session."""
    with app.app_context():
        yield


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def engine_name(database_uri: str) -> str:
    return sa.engine.make_url(database_uri).get_backend_name()


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the run's engine for this test alone (not migrated)."""
    with fresh_database(tmp_path / "store") as url:
        yield url


@pytest.fixture
def fresh_store(fresh_database_url: str):
    """Build an app, some settings changed, on this test's own fresh database,
    migrated to the newest revision (for tests that take the database away)."""
    made: list[Flask] = []

    def factory(**overrides) -> Flask:
        fresh = build_app(fresh_database_url, **overrides)
        if not made:
            migrate(fresh)
        made.append(fresh)
        return fresh

    yield factory
    for fresh in made:
        dispose(fresh)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port for this test."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailer(make_app, smtp: SmtpServer) -> Flask:
    """The worker's app: the run's database, sending to the test's SMTP server."""
    return make_app(**smtp.settings())


# --- factories: insert a row, return its id ---------------------------------------


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[LocalStripe]:
    """localstripe on a loopback port for the whole run (started on first use)."""
    server = LocalStripe().start()
    yield server
    server.stop()


@pytest.fixture
def local_stripe(stripe_server: LocalStripe) -> LocalStripe:
    """The local Stripe server, emptied for this test."""
    stripe_server.reset()
    return stripe_server


@pytest.fixture
def card_app(make_app, local_stripe: LocalStripe) -> Flask:
    """The store taking cards through the local Stripe server."""
    return make_app(**local_stripe.settings())


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
            password_hash=password_hash(password),
        )
        with app.app_context():
            db.session.add(user)
            db.session.commit()
            return user.id

    return factory


@pytest.fixture
def make_users(app: Flask):
    """`n` users named "Buyer 0"... (buyer0@example.com...) in one commit, who
    sign in with TEST_PASSWORD; returns [(id, email)]."""

    def factory(n: int, prefix: str = "buyer") -> list[tuple[int, str]]:
        users = [
            User(
                name=f"{prefix.title()} {i}",
                email=f"{prefix}{i}@example.com",
                password_hash=password_hash(TEST_PASSWORD),
            )
            for i in range(n)
        ]
        with app.app_context():
            db.session.add_all(users)
            db.session.commit()
            return [(user.id, user.email) for user in users]

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
        category_id: int | None = None,
    ) -> int:
        item = Item(
            name=name or f"Item {next(counter):05d}",
            price_cents=price_cents,
            stock=stock,
            description=description,
            archived_at=utcnow() if archived else None,
            category_id=category_id,
        )
        with app.app_context():
            db.session.add(item)
            db.session.commit()
            return item.id

    return factory


@pytest.fixture
def make_items(app: Flask):
    """`n` items named "Item 001"... (or "{prefix} 001"...), priced 101, 102...
    cents, in one commit; returns their ids."""

    def factory(n: int, prefix: str = "Item", stock: int = 10, **values) -> list[int]:
        items = [
            Item(name=f"{prefix} {i:03d}", price_cents=100 + i, stock=stock, **values)
            for i in range(1, n + 1)
        ]
        with app.app_context():
            db.session.add_all(items)
            db.session.commit()
            return [item.id for item in items]

    return factory


@pytest.fixture
def make_purchase(app: Flask):
    """A past purchase line in an order of its own, written straight to the
    database; returns the line's id."""
    tokens = iter(range(1, 1_000_000))

    def factory(
        user_id: int,
        item_id: int,
        quantity: int = 1,
        unit_price_cents: int = 1250,
        when=None,
    ) -> int:
        with app.app_context():
            email = db.session.get(User, user_id).email
        order = order_row(
            user_id,
            email,
            quantity * unit_price_cents,
            f"seeded-{user_id}-{item_id}-{next(tokens)}",
        )
        line = UserItem(
            user_id=user_id,
            item_id=item_id,
            quantity=quantity,
            unit_price_cents=unit_price_cents,
            order=order,
        )
        if when is not None:
            order.created_at = line.created_at = when
        with app.app_context():
            db.session.add_all([order, line])
            db.session.commit()
            return line.id

    return factory


# --- a store to test against --------------------------------------------------------


@pytest.fixture
def shopper(client: FlaskClient, make_user) -> int:
    """A signed-in shopper on `client`; returns the user id."""
    user_id = make_user(name="Sam Shopper", email="sam@example.com")
    sign_in(client, "sam@example.com")
    return user_id


@pytest.fixture
def admin(client: FlaskClient, make_user) -> int:
    """A signed-in admin on `client`; returns the user id."""
    user_id = make_user(name="Alex Admin", email="admin@example.com", is_admin=True)
    sign_in(client, "admin@example.com")
    return user_id


@pytest.fixture
def store(app: Flask, make_user, make_item, make_purchase) -> dict[str, int]:
    """A small store, nobody signed in: two shoppers (Sam, and Olive who bought a
    lamp), an admin, three items (one archived). Returns the ids by name."""
    ids = {
        "sam": make_user("Sam Shopper", "sam@example.com"),
        "olive": make_user("Olive Other", "olive@example.com"),
        "admin": make_user("Alex Admin", "admin@example.com", is_admin=True),
        "lamp": make_item(name="Lamp", price_cents=1999, stock=4),
        "mug": make_item(name="Mug", price_cents=450, stock=2),
        "retired": make_item(name="Retired", price_cents=100, stock=9, archived=True),
    }
    line = make_purchase(ids["olive"], ids["lamp"], 1, 1999)
    with app.app_context():
        order = db.session.get(UserItem, line).order
        ids["olive_order"], ids["olive_number"] = order.id, order.number
    ids["home"] = make_category_row(app, "Home")
    ids["lighting"] = make_category_row(app, "Lighting", parent_id=ids["home"])
    set_item(app, ids["lamp"], category_id=ids["lighting"])
    ids["lamp_image"], ids["lamp_image_key"] = add_picture(app, ids["lamp"], "A lamp")
    return ids


@pytest.fixture
def make_category(app: Flask):
    """A category (name, parent_id, slug): returns its id."""

    def factory(name: str, parent_id: int | None = None, slug: str | None = None):
        return make_category_row(app, name, parent_id, slug)

    return factory
