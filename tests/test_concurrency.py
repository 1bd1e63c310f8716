"""Many shoppers pressing "Place order" on their checkout pages at the same
moment for the last units (SECURITY 15): orders equal the units there were,
stock ends at zero, never below, every other shopper gets the page back (409)
saying what sold out, and nobody gets a 500 or a "busy" 503 — on SQLite (BEGIN
IMMEDIATE, WAL) and on PostgreSQL. The same race across gunicorn's worker
processes is in test_production_server.py."""

from __future__ import annotations

import threading

from app.extensions import db
from app.models import Item, Order, UserItem
from tests.helpers import (
    add_to_cart,
    assert_totals_match_rows,
    checkout_form,
    checkout_problems,
    client_for,
    count,
    html_of,
    order_number,
    row_of,
    stock_of,
)

BUYERS = 24


def shoppers_with_carts(
    app, make_users, cart: dict[int, int]
) -> list[tuple[int, object, dict]]:
    """BUYERS signed-in clients, each with `cart` in its cart and the form of
    its own checkout page, filled in (CSRF, the cart's token, the prices seen,
    an address, delivery and payment)."""
    shoppers = []
    for user_id, email in make_users(BUYERS):
        client = client_for(app, email)
        for item_id, quantity in cart.items():
            assert add_to_cart(client, item_id, quantity).status_code == 302
        shoppers.append((user_id, client, checkout_form(client)))
    return shoppers


def check_out_together(shoppers) -> list:
    """Every shopper presses "Place order" at once; returns each response (or error)."""
    barrier = threading.Barrier(len(shoppers))
    results: list = [None] * len(shoppers)

    def buy(index: int, client, form: dict) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = client.post("/purchases/checkout", data=form)
        except BaseException as error:  # reported by the assertions below
            results[index] = error

    threads = [
        threading.Thread(target=buy, args=(i, client, form))
        for i, (_, client, form) in enumerate(shoppers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads), "a checkout hung"
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = sorted({r.status_code for r in results})
    assert set(statuses) <= {302, 409}, (
        f"statuses {statuses}: a checkout is placed (302) or refused with the "
        "page (409), never a 500 or a busy 503"
    )
    return results


def winners_and_losers(shoppers, results) -> tuple[set[int], list]:
    """The buyers whose order was placed, and (client, refused page) of the rest."""
    winners, losers = set(), []
    for (user_id, client, _), response in zip(shoppers, results, strict=True):
        if response.status_code == 302:
            order_number(response)  # the order's page, nothing else
            winners.add(user_id)
        else:
            assert response.status_code == 409
            losers.append((client, html_of(response)))
    return winners, losers


def bought_by(app) -> list[int]:
    with app.app_context():
        return db.session.scalars(db.select(UserItem.user_id)).all()


def test_last_five_units_go_to_exactly_five_of_many_buyers(app, make_item, make_users):
    lamp = make_item(name="Last Lamp", price_cents=999, stock=5)
    shoppers = shoppers_with_carts(app, make_users, {lamp: 1})

    results = check_out_together(shoppers)

    winners, losers = winners_and_losers(shoppers, results)
    assert len(winners) == 5
    assert len(losers) == BUYERS - 5
    assert stock_of(app, lamp) == 0
    assert count(app, Order) == 5
    assert count(app, UserItem) == 5
    assert sorted(bought_by(app)) == sorted(winners)
    for client, page in losers:
        assert checkout_problems(page) == [
            "Last Lamp sold out: remove it from your cart."
        ]
        assert "very busy" not in page
        html = client.get("/purchases/cart").get_data(as_text=True)
        assert "Last Lamp" in html  # the cart is kept for another try
        assert "Only 0 left: lower the quantity." in html
    assert_totals_match_rows(app)


def test_racing_multi_line_carts_are_all_or_nothing(app, make_item, make_users):
    """Each buyer wants one of each; the scarcer item decides, and the losers'
    units of the plentiful item are put back."""
    plenty = make_item(name="Plenty", stock=BUYERS)
    scarce = make_item(name="Scarce", stock=3)
    shoppers = shoppers_with_carts(app, make_users, {plenty: 1, scarce: 1})

    results = check_out_together(shoppers)

    winners, losers = winners_and_losers(shoppers, results)
    assert len(winners) == 3
    assert (stock_of(app, scarce), stock_of(app, plenty)) == (0, BUYERS - 3)
    assert count(app, Order) == 3
    assert count(app, UserItem) == 6
    assert sorted(bought_by(app)) == sorted(2 * list(winners))
    for _, page in losers:  # the scarce item is named, the plentiful one is not
        assert checkout_problems(page) == ["Scarce sold out: remove it from your cart."]
    assert_totals_match_rows(app)


def test_same_checkout_sent_many_times_at_once_buys_once(app, make_item, make_users):
    """A double (or eightfold) click: one browser session, one checkout token."""
    kettle = make_item(name="Kettle", stock=10)
    [(user_id, email)] = make_users(1)
    first = client_for(app, email)
    add_to_cart(first, kettle, 2)
    form = checkout_form(first)
    cookie = first.get_cookie("session").value
    clicks = []
    for _ in range(8):
        client = app.test_client()
        client.set_cookie("session", cookie)
        clicks.append((user_id, client, form))

    results = check_out_together(clicks)

    assert count(app, Order) == 1
    assert count(app, UserItem) == 1
    assert stock_of(app, kettle) == 8
    with app.app_context():
        number = db.session.scalar(db.select(Order.number))
    # Every click lands on the one order, none on an error, the cart or the page.
    assert {r.status_code for r in results} == {302}
    assert {r.headers["Location"] for r in results} == {f"/purchases/orders/{number}"}
    assert_totals_match_rows(app)


def test_one_shopper_checking_out_in_many_tabs_is_one_customer(
    app, make_item, make_users
):
    """The same account buys the same item from eight sessions at once (eight
    carts, eight tokens): eight orders, and the item counts one customer. The
    "new customer" check runs after the item's row is locked, so no two
    checkouts can both find the shopper new."""
    kettle = make_item(name="Kettle", stock=20)
    [(user_id, email)] = make_users(1)
    tabs = []
    for _ in range(8):
        client = client_for(app, email)
        assert add_to_cart(client, kettle, 1).status_code == 302
        tabs.append((user_id, client, checkout_form(client)))

    results = check_out_together(tabs)

    assert {r.status_code for r in results} == {302}
    assert count(app, Order) == 8
    assert stock_of(app, kettle) == 12
    item = row_of(app, Item, kettle)
    assert (item.sales_lines, item.units_sold, item.customers) == (8, 8, 1)
    assert_totals_match_rows(app)
