"""Helpers for the shopper-store tests: isolated requests, cart and checkout
through HTTP with real tokens, and snapshots of what the database holds."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import Item, Order, StoreTotals, User, UserItem
from tests.conftest import TEST_PASSWORD, csrf_token_from, post_form

CHECKOUT_TOKEN_RE = re.compile(r'name="token"[^>]*value="([^"]+)"')
CART_COUNT_RE = re.compile(r'Cart <span class="badge">(\d+)</span>')
ITEM_LINK_RE = re.compile(r'href="/items/(\d+)"')
# The run's hashing algorithm, made cheap: for tests that need many accounts.
CHEAP_HASH = generate_password_hash(TEST_PASSWORD, method="pbkdf2:sha256:1000")
PASSWORD_HASH_MARKERS = ("scrypt:", "pbkdf2:", "$2b$", "argon2")


# --- reading the database from the test --------------------------------------


def fresh() -> None:
    """End the test's own transaction, so the next read sees what requests wrote
    (SQLite keeps a read snapshot for as long as a transaction is open)."""
    db.session.rollback()


def count(model) -> int:
    fresh()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def stock_of(item_id: int) -> int:
    fresh()
    return db.session.scalar(sa.select(Item.stock).where(Item.id == item_id))


def item_rows() -> list[tuple]:
    """Every item's editable columns, by id: what an admin's write could change."""
    return db.session.execute(
        sa.select(
            Item.id,
            Item.name,
            Item.description,
            Item.price_cents,
            Item.stock,
            Item.archived_at,
        ).order_by(Item.id)
    ).all()


def db_state() -> dict:
    """Everything a shopper request could write: row counts and every stock level."""
    fresh()
    return {
        "users": count(User),
        "items": count(Item),
        "orders": count(Order),
        "user_items": count(UserItem),
        "stock": dict(db.session.execute(sa.select(Item.id, Item.stock)).all()),
        "prices": dict(db.session.execute(sa.select(Item.id, Item.price_cents)).all()),
    }


def assert_totals_match_rows() -> None:
    """The running totals the database keeps (migration 0006) equal the rows
    they summarise, worked out again from scratch."""
    fresh()
    live = db.session.scalar(
        sa.select(sa.func.count(Item.id)).where(Item.archived_at.is_(None))
    )
    assert db.session.get(StoreTotals, 1).live_items == live
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
            ).group_by(UserItem.item_id)
        )
    }
    for item in db.session.scalars(sa.select(Item)):
        kept = (item.sales_lines, item.units_sold, item.revenue_cents, item.customers)
        assert kept == sales.get(item.id, (0, 0, 0, 0)), item
    lines = dict(
        db.session.execute(
            sa.select(UserItem.user_id, sa.func.count()).group_by(UserItem.user_id)
        ).all()
    )
    for user in db.session.scalars(sa.select(User)):
        assert user.purchase_lines == lines.get(user.id, 0), user
    fresh()


def set_item(item_id: int, **values) -> None:
    """Change an item behind the shopper's back (an admin, another buyer)."""
    fresh()
    db.session.execute(sa.update(Item).where(Item.id == item_id).values(**values))
    db.session.commit()


def cheap_user(name: str, email: str, is_admin: bool = False) -> int:
    """Like conftest's make_user, but quick to sign in: for tests not about hashing."""
    user = User(name=name, email=email, password_hash=CHEAP_HASH, is_admin=is_admin)
    db.session.add(user)
    db.session.commit()
    return user.id


def sign_in(client: FlaskClient, email: str) -> None:
    response = post_form(
        client, "/users/login", {"email": email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def cheap_users(count_: int, prefix: str = "buyer") -> list[tuple[int, str]]:
    """`count_` users who sign in with TEST_PASSWORD; a cheap hash keeps this fast."""
    users = [
        User(
            name=f"{prefix.title()} {n}",
            email=f"{prefix}{n}@example.com",
            password_hash=CHEAP_HASH,
        )
        for n in range(count_)
    ]
    db.session.add_all(users)
    db.session.commit()
    return [(user.id, user.email) for user in users]


def record_purchase(
    user_id: int,
    item_id: int,
    quantity: int = 1,
    unit_price_cents: int = 1250,
    when: datetime | None = None,
) -> int:
    """A past purchase line in its own order, written straight to the database."""
    order = Order(
        user_id=user_id,
        token=f"seeded-{user_id}-{item_id}-{count(Order)}",
        total_cents=quantity * unit_price_cents,
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
    db.session.add_all([order, line])
    db.session.commit()
    return line.id


def minutes_ago(n: int) -> datetime:
    return datetime(2024, 5, 1, 12, 0) - timedelta(minutes=n)


# --- pages and forms -----------------------------------------------------------


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


def add_to_cart(client: FlaskClient, item_id: int, quantity=1, **extra):
    """Submit the item page's add-to-cart form."""
    data = {"item_id": item_id, "quantity": quantity, **extra}
    return post_form(client, "/purchases/cart", data, page=f"/items/{item_id}")


def checkout_form(client: FlaskClient) -> dict[str, str]:
    """The checkout form's hidden fields, as the cart page serves them."""
    html = client.get("/purchases/cart").get_data(as_text=True)
    match = CHECKOUT_TOKEN_RE.search(html)
    assert match, "the cart page has no checkout form"
    return {"csrf_token": csrf_token_from(html), "token": match.group(1)}


def checkout(client: FlaskClient, **extra):
    """Open the cart page and press its checkout button."""
    return client.post("/purchases/checkout", data={**checkout_form(client), **extra})


def assert_no_hash(html: str) -> None:
    for marker in PASSWORD_HASH_MARKERS:
        assert marker not in html, f"a password hash ({marker}) leaked into the page"
