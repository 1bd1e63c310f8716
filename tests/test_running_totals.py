"""The running totals the database keeps (migration 0006): the live-item count
the catalogue shows, each item's sales (lines, units, revenue at the price
paid, customers) and each user's count of purchase lines.

They are kept by triggers, so every way rows are written is covered here: the
admin's forms and the shopper's checkout through HTTP, bulk inserts and
deletes in SQL (the migration's backfill of a store that already has rows is
in test_migrations.py).
Each test checks the totals against the rows, counted again from scratch.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Item, StoreTotals, User, UserItem
from tests.helpers import (
    GOOD_ITEM,
    add_to_cart,
    assert_totals_match_rows,
    checkout,
    checkout_form,
    checkout_problems,
    minutes_ago,
    post_form,
    set_item,
    sign_in,
    stock_of,
)

TOTAL_RE = re.compile(r'<p class="muted">(\d+) items?')


def live_items(app) -> int:
    with app.app_context():
        return db.session.get(StoreTotals, 1).live_items


def sales(app, item_id: int) -> tuple[int, int, int, int]:
    with app.app_context():
        item = db.session.get(Item, item_id)
        return item.sales_lines, item.units_sold, item.revenue_cents, item.customers


def lines_of(app, user_id: int) -> int:
    with app.app_context():
        return db.session.get(User, user_id).purchase_lines


def catalogue_total(client) -> int:
    return int(TOTAL_RE.search(client.get("/items/").get_data(as_text=True)).group(1))


# --- the live-item count ------------------------------------------------------------


def test_live_items_follow_the_admin_forms(app, client, admin, make_item):
    make_item(name="Already Here")
    assert live_items(app) == catalogue_total(client) == 1

    assert post_form(client, "/items/new", GOOD_ITEM).status_code == 302
    with app.app_context():
        new_id = db.session.scalar(
            sa.select(Item.id).where(Item.name == GOOD_ITEM["name"])
        )
    assert live_items(app) == catalogue_total(client) == 2

    response = post_form(client, f"/items/{new_id}/archive", page=f"/items/{new_id}")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert live_items(app) == catalogue_total(client) == 1
    post_form(client, f"/items/{new_id}/archive", page=f"/items/{new_id}")  # again
    assert live_items(app) == 1

    post_form(client, f"/items/{new_id}/restore", page=f"/items/{new_id}")
    assert live_items(app) == catalogue_total(client) == 2
    # An edit that is not an archive or a restore leaves the count alone.
    data = {**GOOD_ITEM, "name": "Walnut Tray, large"}
    assert post_form(client, f"/items/{new_id}/edit", data).status_code == 302
    assert live_items(app) == 2
    assert_totals_match_rows(app)


def test_live_items_follow_bulk_inserts_updates_and_deletes(app, app_context):
    db.session.execute(
        sa.insert(Item),
        [
            {"name": f"Bulk {n}", "price_cents": 100, "stock": 1,
             "archived_at": minutes_ago(1) if n % 3 == 0 else None}
            for n in range(30)
        ],
    )  # fmt: skip
    db.session.commit()
    assert live_items(app) == 20
    db.session.execute(
        sa.update(Item)
        .where(Item.name.in_(["Bulk 1", "Bulk 2"]))
        .values(archived_at=minutes_ago(1))
    )
    db.session.execute(
        sa.update(Item).where(Item.name == "Bulk 3").values(archived_at=None)
    )
    db.session.execute(sa.update(Item).values(stock=Item.stock + 1))  # not a flip
    db.session.commit()
    assert live_items(app) == 19
    db.session.execute(sa.delete(Item).where(Item.name.in_(["Bulk 4", "Bulk 6"])))
    db.session.commit()
    assert live_items(app) == 18  # one live, one archived went
    assert_totals_match_rows(app)


# --- sales: checkout ------------------------------------------------------------------


def test_checkout_adds_to_the_item_and_user_totals(app, make_item, make_user):
    lamp = make_item(name="Lamp", price_cents=1000, stock=20)
    rug = make_item(name="Rug", price_cents=250, stock=20)
    ann = make_user("Ann", "ann@example.com")
    bob = make_user("Bob", "bob@example.com")
    ann_client, bob_client = app.test_client(), app.test_client()
    sign_in(ann_client, "ann@example.com")
    sign_in(bob_client, "bob@example.com")

    add_to_cart(ann_client, lamp, 2)
    add_to_cart(ann_client, rug, 1)
    assert checkout(ann_client).status_code == 302
    set_item(app, lamp, price_cents=1200)  # later buyers pay the new price
    add_to_cart(ann_client, lamp, 1)  # Ann again: not a new customer
    assert checkout(ann_client).status_code == 302
    add_to_cart(bob_client, lamp, 3)
    assert checkout(bob_client).status_code == 302

    assert sales(app, lamp) == (3, 6, 2 * 1000 + 1200 + 3 * 1200, 2)
    assert sales(app, rug) == (1, 1, 250, 1)
    assert (lines_of(app, ann), lines_of(app, bob)) == (3, 1)
    assert_totals_match_rows(app)


def test_a_checkout_that_fails_changes_no_total(app, make_item, make_user):
    lamp = make_item(name="Lamp", stock=5)
    short = make_item(name="Short", stock=1)
    user_id = make_user("Ann", "ann@example.com")
    client = app.test_client()
    sign_in(client, "ann@example.com")
    add_to_cart(client, lamp, 1)
    add_to_cart(client, short, 1)
    form = checkout_form(client)
    set_item(app, short, stock=0)  # sold out while the checkout page was open

    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 409
    assert checkout_problems(response.get_data(as_text=True)) == [
        "Short sold out: remove it from your cart."
    ]
    assert stock_of(app, lamp) == 5  # the lamp's unit, taken, was put back
    assert sales(app, lamp) == sales(app, short) == (0, 0, 0, 0)
    assert lines_of(app, user_id) == 0
    assert_totals_match_rows(app)


def test_totals_show_on_the_pages_that_read_them(
    app, client, admin, make_item, make_purchase, make_user
):
    lamp = make_item(name="Lamp", price_cents=1000)
    buyer = make_user("Ann", "ann@example.com")
    make_purchase(buyer, lamp, 2, 1000)
    make_purchase(buyer, lamp, 1, 900)
    html = client.get(f"/items/{lamp}").get_data(as_text=True)
    assert "3 units sold" in html
    assert "to 1 customer" in html
    assert "in 2 purchases" in html
    assert "$29.00" in html
    assert_totals_match_rows(app)


# --- sales: lines written or removed in SQL ---------------------------------------------


def test_lines_inserted_in_bulk_and_deleted_are_counted(
    app, app_context, make_user, make_item
):
    lamp, rug = make_item(price_cents=1000), make_item(price_cents=500)
    ann = make_user("Ann", "ann@example.com")
    bob = make_user("Bob", "bob@example.com")
    rows = [
        {"user_id": user, "item_id": item, "quantity": q, "unit_price_cents": p}
        for user, item, q, p in [
            (ann, lamp, 1, 1000),
            (ann, lamp, 2, 1000),
            (bob, lamp, 1, 900),
            (bob, rug, 4, 500),
        ]
    ]
    db.session.execute(sa.insert(UserItem), rows)  # one statement, four lines
    db.session.commit()
    assert sales(app, lamp) == (3, 4, 3900, 2)
    assert sales(app, rug) == (1, 4, 2000, 1)
    assert (lines_of(app, ann), lines_of(app, bob)) == (2, 2)

    # Ann's first lamp line goes: she still has another, so she stays a customer.
    first = db.session.scalar(
        sa.select(sa.func.min(UserItem.id)).where(UserItem.user_id == ann)
    )
    db.session.execute(sa.delete(UserItem).where(UserItem.id == first))
    db.session.commit()
    assert sales(app, lamp) == (2, 3, 2900, 2)
    # Bob's lines all go, in one statement.
    db.session.execute(sa.delete(UserItem).where(UserItem.user_id == bob))
    db.session.commit()
    assert sales(app, lamp) == (1, 2, 2000, 1)
    assert sales(app, rug) == (0, 0, 0, 0)
    assert (lines_of(app, ann), lines_of(app, bob)) == (1, 0)
    assert_totals_match_rows(app)


def test_a_new_line_by_a_returning_customer_is_not_a_new_customer(
    app, make_item, make_purchase, make_user
):
    lamp = make_item()
    ann = make_user("Ann", "ann@example.com")
    for _ in range(3):
        make_purchase(ann, lamp)
    assert sales(app, lamp)[3] == 1
    assert_totals_match_rows(app)


def test_a_line_corrected_in_place_moves_its_totals(
    app, app_context, make_user, make_item, make_purchase
):
    """An UPDATE of a line (a correction in SQL) takes its old values out of the
    totals and puts its new ones in; the buyer moves only with the line."""
    lamp, rug = make_item(price_cents=1000), make_item(price_cents=500)
    ann = make_user("Ann", "ann@example.com")
    bob = make_user("Bob", "bob@example.com")
    first = make_purchase(ann, lamp, 1, 1000)
    make_purchase(ann, lamp, 2, 1000)
    only = make_purchase(bob, lamp, 1, 1000)

    def update(line_id: int, **values) -> None:
        db.session.execute(
            sa.update(UserItem).where(UserItem.id == line_id).values(**values)
        )
        db.session.commit()

    update(first, quantity=3, unit_price_cents=900)  # same item, same buyer
    assert sales(app, lamp) == (3, 6, 2700 + 2000 + 1000, 2)
    update(only, item_id=rug)  # Bob's only lamp line becomes a rug line
    assert sales(app, lamp) == (2, 5, 4700, 1)
    assert sales(app, rug) == (1, 1, 1000, 1)
    update(first, user_id=bob)  # Ann keeps her other lamp line; Bob gains the lamp
    assert sales(app, lamp)[3] == 2
    assert (lines_of(app, ann), lines_of(app, bob)) == (1, 2)
    db.session.execute(sa.update(UserItem).values(quantity=UserItem.quantity + 1))
    db.session.commit()  # every line at once, in one statement
    assert sales(app, lamp)[:2] == (2, 7)
    assert_totals_match_rows(app)


def test_truncating_the_lines_zeroes_the_totals(
    app, app_context, make_user, make_item, make_purchase, engine_name
):
    if engine_name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    lamp = make_item()
    ann = make_user("Ann", "ann@example.com")
    make_purchase(ann, lamp, 2)
    db.session.execute(sa.text("TRUNCATE user_items"))
    db.session.commit()
    assert sales(app, lamp) == (0, 0, 0, 0)
    assert lines_of(app, ann) == 0
    assert_totals_match_rows(app)
