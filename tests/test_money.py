"""Money past 32 bits: every page and report that adds up a line's money uses
UserItem.total_cents, a 64-bit product (PostgreSQL's int4 × int4 would fail
past $21,474,836.47 — one line of 1,000 × $22,000 — and 500 the page for good)."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from app.extensions import db
from app.models import Item, Order, ShopSettings, User, UserItem
from tests.helpers import add_to_cart, checkout, order_number, sign_in

PRICE_CENTS = 2_200_000  # $22,000.00
UNITS = 1_000  # the most one cart line holds
TOTAL = "$22,000,000.00"  # 2,200,000,000 cents: past 2**31 - 1


def test_a_22_million_dollar_line_shows_on_every_page(
    app, client, make_user, make_item
):
    item_id = make_item(name="Gold Yacht", price_cents=PRICE_CENTS, stock=UNITS)
    buyer = make_user(name="Rich Buyer", email="rich@example.com")
    make_user(name="Alex Admin", email="admin@example.com", is_admin=True)

    sign_in(client, "rich@example.com")
    assert add_to_cart(client, item_id, UNITS).status_code == 302
    placed = checkout(client)
    assert placed.status_code == 302
    order_page = client.get(placed.headers["Location"])
    assert order_page.status_code == 200
    assert TOTAL in order_page.get_data(as_text=True)

    with app.app_context():
        line = db.session.execute(sa.select(UserItem)).scalar_one()
        assert (line.quantity, line.unit_price_cents) == (UNITS, PRICE_CENTS)
        assert db.session.scalar(sa.select(Order.total_cents)) == 2_200_000_000
        assert db.session.get(Item, item_id).revenue_cents == 2_200_000_000
        # The SQL expression itself, summed, on this engine.
        assert db.session.scalar(sa.select(sa.func.sum(UserItem.total_cents))) == (
            2_200_000_000
        )

    for url in (f"/users/{buyer}", "/purchases/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert TOTAL in response.get_data(as_text=True), url

    admin = app.test_client()
    sign_in(admin, "admin@example.com")
    for url in (
        f"/users/{buyer}",
        "/users/",
        "/users/?sort=spent",
        "/purchases/all",
        f"/purchases/all?user_id={buyer}",
        f"/items/{item_id}",
        placed.headers["Location"],
    ):
        response = admin.get(url)
        assert response.status_code == 200, url
        assert TOTAL in response.get_data(as_text=True), url

    export = admin.get("/purchases/export.csv")
    assert export.status_code == 200
    (row,) = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert (row["unit_price"], row["total"]) == ("22000.00", "22000000.00")


def test_an_orders_tax_and_total_past_32_bits(app, client, make_user, make_item):
    """The order's money columns are 64-bit too: 8.25% tax on $22,000,000.00
    is $1,815,000.00, and the total, $23,815,000.00, is past 2**31 - 1 cents."""
    item_id = make_item(name="Gold Yacht", price_cents=PRICE_CENTS, stock=UNITS)
    make_user(name="Rich Buyer", email="rich@example.com")
    with app.app_context():
        db.session.execute(sa.update(ShopSettings).values(tax_rate_bp=825))
        db.session.commit()
    sign_in(client, "rich@example.com")
    assert add_to_cart(client, item_id, UNITS).status_code == 302

    placed = checkout(client, shipping="express")

    with app.app_context():
        order = db.session.scalars(
            sa.select(Order).where(Order.number == order_number(placed))
        ).one()
        money = (
            order.subtotal_cents,
            order.shipping_cents,
            order.tax_cents,
            order.total_cents,
        )
    assert money == (2_200_000_000, 1295, 181_500_000, 2_381_501_295)
    html = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "$1,815,000.00" in html
    assert "$23,815,012.95" in html
    history = client.get("/purchases/").get_data(as_text=True)
    assert "$23,815,012.95" in history


def test_total_cents_is_one_64_bit_expression(app):
    with app.app_context():
        sql = str(
            sa.select(UserItem.total_cents).compile(dialect=db.engine.dialect)
        ).upper()
    assert "CAST(USER_ITEMS.QUANTITY AS BIGINT)" in sql
    line = UserItem(quantity=UNITS, unit_price_cents=PRICE_CENTS)
    assert line.total_cents == 2_200_000_000


def test_user_and_item_relationships_still_read_the_lines(app, make_user, make_item):
    """The hybrid changes no relationship: user.items / item.users as before."""
    user_id, item_id = make_user(), make_item()
    with app.app_context():
        db.session.add(UserItem(user_id=user_id, item_id=item_id, quantity=2,
                                unit_price_cents=500))  # fmt: skip
        db.session.commit()
        user = db.session.get(User, user_id)
        assert [item.id for item in user.items] == [item_id]
        assert user.user_items[0].total_cents == 1_000
