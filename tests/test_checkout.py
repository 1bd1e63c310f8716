"""Checkout and history: all-or-nothing purchases at the server's price, for the
signed-in user only, once per cart; the confirmation and history pages."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Order, UserItem, utcnow
from tests.helpers import (
    add_to_cart,
    cart_count,
    checkout,
    checkout_form,
    client_for,
    count,
    csrf_token_from,
    db_state,
    html_of,
    item_ids_linked,
    minutes_ago,
    post_form,
    session_cart,
    set_item,
    sign_in,
    stock_of,
    the_only,
)


@pytest.fixture
def kettle(make_item) -> int:
    return make_item(name="Copper Kettle", price_cents=4500, stock=5)


@pytest.fixture
def mug(make_item) -> int:
    return make_item(name="Blue Mug", price_cents=1250, stock=10)


def follow(client, response) -> str:
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    return html_of(page)


def lines(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            db.select(
                UserItem.user_id,
                UserItem.item_id,
                UserItem.quantity,
                UserItem.unit_price_cents,
            ).order_by(UserItem.item_id)
        ).all()


# --- who may check out ------------------------------------------------------------


def test_anonymous_checkout_goes_to_login_and_writes_nothing(app, client, kettle):
    add_to_cart(client, kettle, 2)
    before = db_state(app)

    response = checkout(client)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/users/login"
    assert parse_qs(location.query) == {"next": ["/purchases/cart"]}
    assert db_state(app) == before
    assert session_cart(client) == {str(kettle): 2}
    assert "Please sign in to check out." in follow(client, response)


def test_checkout_by_get_is_not_allowed(app, client, shopper, kettle):
    add_to_cart(client, kettle, 1)
    assert client.get("/purchases/checkout").status_code == 405
    assert count(app, Order) == 0


def test_checkout_without_csrf_token_is_400_and_writes_nothing(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    before = db_state(app)

    response = client.post("/purchases/checkout", data={"token": form["token"]})

    assert response.status_code == 400
    assert db_state(app) == before
    assert session_cart(client) == {str(kettle): 2}


def test_checkout_with_a_wrong_csrf_token_is_400_and_writes_nothing(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    before = db_state(app)
    form["csrf_token"] = form["csrf_token"][:-4] + "AAAA"
    assert client.post("/purchases/checkout", data=form).status_code == 400
    assert db_state(app) == before


# --- a good checkout --------------------------------------------------------------


def test_checkout_buys_every_line_at_the_current_price(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 2)
    add_to_cart(client, mug, 3)
    set_item(app, mug, price_cents=1100)  # a price change before checkout counts

    response = checkout(client)

    assert response.status_code == 302
    order = the_only(app, Order)
    assert response.headers["Location"] == f"/purchases/orders/{order.id}"
    assert count(app, Order) == 1
    assert (order.user_id, order.total_cents) == (shopper, 2 * 4500 + 3 * 1100)
    assert lines(app) == [(shopper, kettle, 2, 4500), (shopper, mug, 3, 1100)]
    assert (stock_of(app, kettle), stock_of(app, mug)) == (3, 7)
    assert session_cart(client) == {}

    html = follow(client, response)
    assert "Thank you! Your order is placed." in html
    assert cart_count(html) == 0
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    kettle_row = next(row for row in rows if "Copper Kettle" in row)
    mug_row = next(row for row in rows if "Blue Mug" in row)
    for row, cells in (
        (kettle_row, ("2", "$45.00", "$90.00")),
        (mug_row, ("3", "$11.00", "$33.00")),
    ):
        for cell in cells:
            assert f'<td class="num">{cell}</td>' in row
    assert "<strong>$123.00</strong>" in html
    assert "Your cart is empty." in html_of(client.get("/purchases/cart"))


def test_checkout_of_an_empty_cart_writes_nothing(app, client, shopper, kettle):
    before = db_state(app)
    form = checkout_form_empty(client)
    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 302
    assert "Your cart is empty." in follow(client, response)
    assert db_state(app) == before


def checkout_form_empty(client) -> dict:
    """An empty cart has no checkout button; post its token as a script would."""
    html = html_of(client.get("/purchases/cart"))
    with client.session_transaction() as session:
        token = session.get("checkout_token", "")
    return {"csrf_token": csrf_token_from(html), "token": token}


def test_checkout_can_buy_the_last_unit(app, client, shopper, make_item):
    last = make_item(name="Last one", stock=1)
    add_to_cart(client, last, 1)
    assert checkout(client).status_code == 302
    assert stock_of(app, last) == 0
    assert count(app, UserItem) == 1
    assert "Out of stock" in html_of(client.get(f"/items/{last}"))


# --- all or nothing ---------------------------------------------------------------


def test_checkout_beyond_stock_writes_nothing(app, client, shopper, kettle, mug):
    add_to_cart(client, kettle, 2)
    add_to_cart(client, mug, 4)
    set_item(app, mug, stock=3)  # someone else bought some meanwhile
    before = db_state(app)

    response = checkout(client)

    assert response.status_code == 302
    assert response.headers["Location"] == "/purchases/cart"
    assert db_state(app) == before
    assert (stock_of(app, kettle), stock_of(app, mug)) == (5, 3)
    html = follow(client, response)
    assert "Not enough stock for: Blue Mug. Nothing was bought." in html
    assert "Copper Kettle." not in html.split("Not enough stock for:")[1][:40]
    assert "Only 3 left: lower the quantity." in html
    assert session_cart(client) == {str(kettle): 2, str(mug): 4}


def test_checkout_names_every_short_item(app, client, shopper, kettle, mug):
    add_to_cart(client, kettle, 2)
    add_to_cart(client, mug, 4)
    set_item(app, mug, stock=0)
    set_item(app, kettle, stock=1)
    before = db_state(app)
    html = follow(client, checkout(client))
    assert "Not enough stock for: Blue Mug, Copper Kettle. Nothing was bought." in html
    assert db_state(app) == before


def test_checkout_with_an_archived_item_buys_nothing_and_says_why(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    add_to_cart(client, mug, 1)
    form = checkout_form(client)  # the shopper has the cart page open...
    set_item(app, mug, archived_at=datetime(2024, 1, 1))  # ...when an admin archives
    before = db_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 302
    assert db_state(app) == before
    html = follow(client, response)
    assert "Blue Mug is no longer sold. Nothing was bought." in html
    assert "Not enough stock" not in html
    assert item_ids_linked(html.split("<tbody>")[1]) == [kettle]


@pytest.mark.parametrize("token", ["", "nonsense", "\x00", "x" * 10_000])
def test_checkout_with_a_bad_checkout_token_buys_nothing(
    app, client, shopper, kettle, token
):
    add_to_cart(client, kettle, 1)
    form = checkout_form(client)
    before = db_state(app)

    response = client.post("/purchases/checkout", data={**form, "token": token})

    assert response.status_code == 302
    assert response.headers["Location"] == "/purchases/cart"
    assert db_state(app) == before
    assert "Your cart changed since you opened it." in follow(client, response)


def test_checkout_after_the_cart_changed_elsewhere_buys_nothing(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    stale = checkout_form(client)
    add_to_cart(client, mug, 1)  # e.g. in another tab
    before = db_state(app)

    response = client.post("/purchases/checkout", data=stale)

    assert response.status_code == 302
    assert response.headers["Location"] == "/purchases/cart"
    assert db_state(app) == before
    assert "Your cart changed since you opened it." in follow(client, response)


# --- once only, server prices, the signed-in user ----------------------------------


def test_double_submitted_checkout_buys_once(app, client, shopper, kettle):
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)

    first = client.post("/purchases/checkout", data=form)
    second = client.post("/purchases/checkout", data=form)

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert count(app, Order) == 1
    assert count(app, UserItem) == 1
    assert stock_of(app, kettle) == 3
    assert "This order was already placed." in follow(client, second)


def test_checkout_ignores_price_total_and_user_fields(
    app, client, shopper, kettle, make_user
):
    other = make_user("Somebody Else", "else@example.com")
    add_to_cart(client, kettle, 2)

    response = checkout(
        client,
        price="0.01",
        unit_price_cents="1",
        total="1",
        total_cents="1",
        user_id=str(other),
    )

    assert response.status_code == 302
    assert lines(app) == [(shopper, kettle, 2, 4500)]
    order = the_only(app, Order)
    assert (order.user_id, order.total_cents) == (shopper, 9000)


def test_recorded_price_survives_a_later_price_change(app, client, shopper, kettle):
    add_to_cart(client, kettle, 2)
    order_url = checkout(client).headers["Location"]
    set_item(app, kettle, price_cents=9999)

    assert lines(app) == [(shopper, kettle, 2, 4500)]
    order_page = html_of(client.get(order_url))
    assert '<td class="num">$45.00</td>' in order_page
    assert "$99.99" not in order_page
    history = html_of(client.get("/purchases/"))
    assert '<td class="num">$45.00</td>' in history
    assert '<td class="num">$90.00</td>' in history
    assert "$99.99" not in history


# --- history --------------------------------------------------------------------


def history_rows(html: str) -> list[str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [row for row in body.split("</tr>") if "<td" in row]


def test_history_lists_lines_newest_first_with_details(
    client, shopper, kettle, mug, make_purchase
):
    make_purchase(shopper, kettle, 1, 4000, when=datetime(2024, 3, 1, 9, 30))
    make_purchase(shopper, mug, 3, 1250, when=datetime(2024, 4, 2, 17, 5))

    html = html_of(client.get("/purchases/"))

    rows = history_rows(html)
    assert len(rows) == 2
    newest, oldest = rows
    assert "2024-04-02 17:05" in newest
    assert f'<a href="/items/{mug}">Blue Mug</a>' in newest
    for cell in ("3", "$12.50", "$37.50"):
        assert f'<td class="num">{cell}</td>' in newest
    assert "2024-03-01 09:30" in oldest
    assert f'<a href="/items/{kettle}">Copper Kettle</a>' in oldest
    for cell in ("1", "$40.00"):
        assert f'<td class="num">{cell}</td>' in oldest


def test_history_is_paginated_20_a_page(client, shopper, make_item, make_purchase):
    item_ids = [make_item(name=f"Thing {n:02d}", stock=1) for n in range(25)]
    for age, item_id in enumerate(reversed(item_ids)):
        make_purchase(shopper, item_id, when=minutes_ago(age))

    first = html_of(client.get("/purchases/"))
    assert item_ids_linked("".join(history_rows(first))) == item_ids[::-1][:20]
    assert 'href="/purchases/?page=2"' in first

    second = html_of(client.get("/purchases/?page=2"))
    assert item_ids_linked("".join(history_rows(second))) == item_ids[::-1][20:]
    assert client.get("/purchases/?page=3").status_code == 404
    for page in ("0", "-1", "abc", str(10**30)):
        assert client.get(f"/purchases/?page={page}").status_code in (200, 404)


def test_history_marks_archived_items_without_a_link(
    app, client, shopper, kettle, make_purchase
):
    make_purchase(shopper, kettle, 1, 4500)
    set_item(app, kettle, archived_at=datetime(2024, 1, 1))
    html = html_of(client.get("/purchases/"))
    assert "Copper Kettle <small" in html
    assert "(no longer sold)" in html
    assert f'href="/items/{kettle}"' not in html


def test_history_requires_sign_in(client):
    response = client.get("/purchases/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login?next=%2Fpurchases%2F"


# --- other shoppers' orders -------------------------------------------------------


@pytest.fixture
def theirs(app, make_user, make_item, make_purchase) -> tuple[int, int]:
    """Another shopper's order of a "Secret Gift"; returns (user id, order id)."""
    them = make_user("Other Shopper", "other@example.com")
    gift = make_item(name="Secret Gift", price_cents=777)
    line = make_purchase(them, gift, 2, 777)
    with app.app_context():
        return them, db.session.get(UserItem, line).order_id


def test_another_shoppers_order_page_is_404(client, shopper, theirs):
    _, their_order = theirs
    response = client.get(f"/purchases/orders/{their_order}")
    assert response.status_code == 404
    html = html_of(response)
    assert "Secret Gift" not in html
    assert "Other Shopper" not in html


def test_another_shoppers_lines_never_appear_in_my_history(
    client, shopper, theirs, kettle, make_purchase
):
    make_purchase(shopper, kettle, 1, 4500)
    html = html_of(client.get("/purchases/"))
    assert "Copper Kettle" in html
    assert "Secret Gift" not in html
    assert len(history_rows(html)) == 1
    # ...nor a user_id in the query string.
    them, _ = theirs
    html = html_of(client.get(f"/purchases/?user_id={them}"))
    assert "Secret Gift" not in html


def test_unknown_order_is_404(client, shopper):
    for order_id in ("999999", str(2**31), str(10**30)):
        assert client.get(f"/purchases/orders/{order_id}").status_code == 404


def test_order_page_requires_sign_in(client, theirs):
    _, their_order = theirs
    response = client.get(f"/purchases/orders/{their_order}")
    assert response.status_code == 302
    assert re.match(r"/users/login\?next=", response.headers["Location"])


def test_login_in_the_middle_of_checkout_keeps_the_cart(app, client, make_user, kettle):
    make_user("Late Login", "late@example.com")
    add_to_cart(client, kettle, 2)
    assert checkout(client).status_code == 302
    sign_in(client, "late@example.com")
    response = checkout(client)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/purchases/orders/")
    assert count(app, UserItem) == 1
    assert stock_of(app, kettle) == 3


# --- forged fields, unsold items, all or nothing (SECURITY 9, 10, 14) ---------------


def test_s09_price_total_and_user_fields_from_the_client_are_ignored(app, store):
    sam = client_for(app, "sam@example.com")
    forged = {
        "price": "0",
        "price_cents": "0",
        "unit_price_cents": "1",
        "total": "0",
        "total_cents": "0",
        "user_id": str(store["olive"]),
    }
    assert add_to_cart(sam, store["mug"], 2, **forged).status_code == 302
    response = checkout(sam, **forged)
    assert response.headers["Location"].startswith("/purchases/orders/")
    with app.app_context():
        line = db.session.scalars(
            sa.select(UserItem).where(UserItem.item_id == store["mug"])
        ).one()
        assert (line.user_id, line.quantity, line.unit_price_cents) == (
            store["sam"],
            2,
            450,
        )
        assert line.order.total_cents == 900
        assert line.order.user_id == store["sam"]


def test_s10_unknown_or_archived_items_cannot_be_bought(app, store):
    client = client_for(app, "sam@example.com")
    before = db_state(app)
    for item_id in (999_999, 2**31, store["retired"]):
        response = post_form(
            client,
            "/purchases/cart",
            {"item_id": item_id, "quantity": 1},
            page="/items/",
        )
        assert response.status_code == 404, item_id
    assert client.get(f"/items/{store['retired']}").status_code == 404
    assert db_state(app) == before
    # Archived after it went into the cart: checkout buys nothing and says why.
    assert add_to_cart(client, store["mug"]).status_code == 302
    form = checkout_form(client)
    set_item(app, store["mug"], archived_at=utcnow())
    before = db_state(app)
    response = client.post("/purchases/checkout", data=form)
    assert response.headers["Location"] == "/purchases/cart"
    html = html_of(client.get("/purchases/cart"))
    assert "no longer sold" in html
    assert "Nothing was bought" in html
    assert db_state(app) == before


def test_s14_checkout_is_all_or_nothing(app, store):
    client = client_for(app, "sam@example.com")
    assert add_to_cart(client, store["lamp"], 2).status_code == 302
    assert add_to_cart(client, store["mug"], 2).status_code == 302
    set_item(app, store["mug"], stock=1)  # another buyer took one
    before = db_state(app)
    response = checkout(client)
    assert response.headers["Location"] == "/purchases/cart"
    assert "Not enough stock for: Mug. Nothing was bought." in html_of(
        client.get("/purchases/cart")
    )
    assert db_state(app) == before  # not even the lamps
