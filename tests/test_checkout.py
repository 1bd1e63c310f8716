"""Checkout and the shopper's orders: one checkout page (address, delivery,
payment, summary), an order placed all or nothing at the prices the page
showed, for the signed-in user only, once per cart; the order page and the
history of orders.

Every order here is placed through HTTP with real CSRF tokens, and each test
says what was written and what was not.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.forms import CONTROL_CHARACTERS
from app.models import (
    Address,
    Item,
    Order,
    ShippingMethod,
    ShopSettings,
    UserItem,
    utcnow,
)
from app.orders import placing
from tests.helpers import (
    TEST_ADDRESS,
    add_to_cart,
    cart_count,
    checkout,
    checkout_fields,
    checkout_form,
    checkout_problems,
    checkout_state,
    client_for,
    count,
    csrf_token_from,
    get_html,
    hidden_fields,
    html_of,
    item_ids_linked,
    minutes_ago,
    order_number,
    order_of,
    post_form,
    session_cart,
    set_item,
    stock_of,
    table_rows,
    the_only,
)

NUMBER_RE = re.compile(r"^[A-Z0-9]{8,}$")
FIELD_ERROR_RE = re.compile(r'class="field-error">([^<]*)<')
STANDARD = "Standard delivery (3-5 working days)"
EXPRESS = "Express delivery (next working day)"


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


def set_tax_rate(app, rate_bp: int) -> None:
    """The shop's tax rate, changed in its settings row (as the admin's form would)."""
    with app.app_context():
        db.session.execute(sa.update(ShopSettings).values(tax_rate_bp=rate_bp))
        db.session.commit()


def set_shipping(app, code: str, **values) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(ShippingMethod)
            .where(ShippingMethod.code == code)
            .values(**values)
        )
        db.session.commit()


def field_errors(html: str) -> list[str]:
    return [error.strip() for error in FIELD_ERROR_RE.findall(html)]


def table_body(html: str) -> str:
    return html.split("<tbody>")[1].split("</tbody>")[0]


# --- who may check out ------------------------------------------------------------


def test_anonymous_checkout_goes_to_login_and_writes_nothing(app, client, kettle):
    add_to_cart(client, kettle, 2)
    before = checkout_state(app)

    page = client.get("/purchases/checkout")
    pressed = post_form(
        client,
        "/purchases/checkout",
        {"token": "anything", "seen_prices": f"{kettle}:4500", **TEST_ADDRESS},
        page="/purchases/cart",
    )

    for response in (page, pressed):
        assert response.status_code == 302
        location = urlsplit(response.headers["Location"])
        assert location.path == "/users/login"
        assert parse_qs(location.query) == {"next": ["/purchases/checkout"]}
    assert checkout_state(app) == before
    assert session_cart(client) == {str(kettle): 2}
    assert "Please sign in to check out. Your cart is kept." in follow(client, page)
    # The cart page's button for a stranger goes to the same place.
    cart = get_html(client, "/purchases/cart")
    assert 'href="/users/login?next=/purchases/checkout"' in cart.replace("%2F", "/")
    assert "Sign in to check out" in cart


def test_checkout_by_get_draws_the_page_and_buys_nothing(app, client, shopper, kettle):
    add_to_cart(client, kettle, 1)
    before = checkout_state(app)

    response = client.get("/purchases/checkout")

    assert response.status_code == 200
    html = html_of(response)
    assert "<h1>Checkout</h1>" in html
    assert "Place order" in html
    assert checkout_state(app) == before
    assert count(app, Order) == 0
    assert stock_of(app, kettle) == 5
    assert session_cart(client) == {str(kettle): 1}


def test_a_post_without_the_pages_fields_draws_the_page_and_buys_nothing(
    app, client, shopper, kettle
):
    """The cart's old one-button form (a CSRF token and the cart's token): the
    page to check, not a purchase."""
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    before = checkout_state(app)

    response = client.post(
        "/purchases/checkout",
        data={"csrf_token": form["csrf_token"], "token": form["token"]},
    )

    assert response.status_code == 200
    html = html_of(response)
    assert "Place order" in html
    assert set(checkout_fields(html)) >= {"seen_prices", "seen_shipping", "seen_tax"}
    assert checkout_state(app) == before
    assert session_cart(client) == {str(kettle): 2}


def test_checkout_without_csrf_token_is_400_and_writes_nothing(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    before = checkout_state(app)

    without = {name: value for name, value in form.items() if name != "csrf_token"}
    response = client.post("/purchases/checkout", data=without)

    assert response.status_code == 400
    assert checkout_state(app) == before
    assert session_cart(client) == {str(kettle): 2}


def test_checkout_with_a_wrong_csrf_token_is_400_and_writes_nothing(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    before = checkout_state(app)
    form["csrf_token"] = form["csrf_token"][:-4] + "AAAA"
    assert client.post("/purchases/checkout", data=form).status_code == 400
    assert checkout_state(app) == before


def test_checkout_of_an_empty_cart_writes_nothing(app, client, shopper, kettle):
    before = checkout_state(app)
    page = client.get("/purchases/checkout")
    assert page.headers["Location"] == "/purchases/cart"
    assert "Your cart is empty." in follow(client, page)
    response = client.post("/purchases/checkout", data=checkout_form_empty(client))
    assert response.status_code == 302
    assert "Your cart is empty." in follow(client, response)
    assert checkout_state(app) == before


def checkout_form_empty(client) -> dict:
    """An empty cart has no checkout page; post its fields as a script would."""
    html = html_of(client.get("/purchases/cart"))
    with client.session_transaction() as session:
        token = session.get("checkout_token", "")
    return {
        "csrf_token": csrf_token_from(html),
        "token": token,
        "seen_prices": "",
        "seen_shipping": "standard:495",
        "seen_tax": "0",
        **TEST_ADDRESS,
        "shipping": "standard",
        "payment": "bank_transfer",
    }


# --- the checkout page ------------------------------------------------------------


def test_checkout_page_shows_lines_delivery_tax_payment_and_totals(
    app, client, shopper, kettle, mug
):
    set_tax_rate(app, 825)
    add_to_cart(client, mug, 2)  # $25.00: under standard's free-over $50.00
    html = get_html(client, "/purchases/checkout")

    assert table_rows(table_body(html)) == [["Blue Mug", "2", "$25.00"]]
    # Each delivery method with its price, the first one chosen.
    assert re.search(
        r'<input type="radio" id="shipping-standard" name="shipping" '
        r'value="standard" checked>\s*' + re.escape(STANDARD) + r" · <strong>\$4\.95",
        html,
    )
    assert re.search(
        r'value="express">\s*' + re.escape(EXPRESS) + r" · <strong>\$12\.95", html
    )
    assert "(free on orders of $50.00 or more)" in html
    # Tax: 8.25% of $25.00 is $2.0625, rounded to $2.06.
    assert '<dt>Tax (8.25%)</dt><dd id="tax">$2.06</dd>' in html
    assert '<dd id="subtotal">$25.00</dd>' in html
    assert f"{STANDARD}: $4.95</dt>" in html
    assert 'data-shipping="standard">$32.01</strong>' in html  # 25.00 + 4.95 + 2.06
    assert 'data-shipping="express">$40.01</strong>' in html  # 25.00 + 12.95 + 2.06
    # Bank transfer, chosen; the address form with the shopper's name.
    assert 'name="payment" value="bank_transfer" checked>' in html
    assert "Bank transfer" in html
    assert 'id="name" maxlength="100" name="name" type="text" value="Sam Shopper"' in (
        html
    )
    for field in ("line1", "line2", "city", "postcode"):
        assert f'name="{field}"' in html
    assert '<select autocomplete="country" id="country" name="country">' in html
    assert '<option value="US">United States</option>' in html
    # The hidden fields record what the page showed.
    hidden = hidden_fields(html)
    assert hidden["seen_prices"] == f"{mug}:1250"
    assert hidden["seen_shipping"] == "standard:495,express:1295"
    assert hidden["seen_tax"] == "825"
    assert '<button type="submit">Place order</button>' in html


def test_checkout_page_says_free_over_the_threshold(app, client, shopper, kettle):
    add_to_cart(client, kettle, 2)  # $90.00
    html = get_html(client, "/purchases/checkout")
    assert f"{STANDARD} · <strong>Free</strong>" in html
    assert "(free on orders of" not in html  # it is free already
    assert f"{STANDARD}: free</dt>" in html
    assert 'data-shipping="standard">$90.00</strong>' in html
    assert f"{EXPRESS} · <strong>$12.95</strong>" in html
    assert 'data-shipping="express">$102.95</strong>' in html


def test_checkout_page_warns_of_a_short_line_and_cannot_be_sent(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    add_to_cart(client, mug, 4)
    set_item(app, mug, stock=3)
    html = get_html(client, "/purchases/checkout")
    assert "Not enough stock for Blue Mug:" in html
    assert "Copper Kettle:" not in html
    assert '<button type="submit" disabled>Place order</button>' in html


# --- a good checkout --------------------------------------------------------------


def test_placing_an_order_writes_the_whole_order(app, client, shopper, make_item):
    kettle = make_item(name="Copper Kettle", price_cents=4500, stock=5)
    towel = make_item(name="Linen Towel", price_cents=1600, stock=5)
    set_tax_rate(app, 825)
    add_to_cart(client, kettle, 2)
    add_to_cart(client, towel, 1)

    response = checkout(client, shipping="express")

    assert response.status_code == 302
    number = order_number(response)
    assert NUMBER_RE.match(number)
    assert response.headers["Location"] == f"/purchases/orders/{number}"
    order = order_of(app, number)
    assert order.user_id == shopper
    assert order.status == "pending_payment"
    assert order.email == "sam@example.com"
    assert {
        name: getattr(order, f"ship_{name}") for name in TEST_ADDRESS
    } == TEST_ADDRESS
    assert (order.shipping_method, order.shipping_method_name) == ("express", EXPRESS)
    assert order.payment_method == "bank_transfer"
    # Tax: 8.25% of $106.00 is $8.745, rounded half up to $8.75 (not $8.74).
    assert (order.subtotal_cents, order.shipping_cents, order.tax_cents) == (
        10600,
        1295,
        875,
    )
    assert order.tax_rate_bp == 825
    assert order.total_cents == 10600 + 1295 + 875
    assert order.refunded_cents == 0
    assert [
        (line.item_id, line.item_name, line.quantity, line.unit_price_cents)
        for line in order.lines
    ] == [(kettle, "Copper Kettle", 2, 4500), (towel, "Linen Towel", 1, 1600)]
    assert all(line.user_id == shopper and line.counted for line in order.lines)
    [event] = order.events
    assert (event.from_status, event.to_status, event.actor_id) == (
        None,
        "pending_payment",
        shopper,
    )
    assert (stock_of(app, kettle), stock_of(app, towel)) == (3, 4)
    assert count(app, Order) == 1
    assert count(app, Address) == 0  # not asked to save it
    assert session_cart(client) == {}

    html = follow(client, response)
    assert f"Thank you! Your order {number} is placed." in html
    assert f"<h1>Order {number}</h1>" in html
    assert "Awaiting payment" in html
    assert "$127.70" in html  # the total, also the transfer's amount
    assert f"give <strong>{number}</strong> as the reference" in html
    assert "1 Test Street" in html and "Testville" in html
    assert cart_count(html) == 0


def test_checkout_buys_every_line_at_the_current_price(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 2)
    add_to_cart(client, mug, 3)
    set_item(app, mug, price_cents=1100)  # a price change before checkout counts

    response = checkout(client)

    assert response.status_code == 302
    order = the_only(app, Order)
    assert response.headers["Location"] == f"/purchases/orders/{order.number}"
    assert count(app, Order) == 1
    assert (order.user_id, order.subtotal_cents) == (shopper, 2 * 4500 + 3 * 1100)
    assert (order.shipping_cents, order.tax_cents) == (0, 0)  # free over $50
    assert order.total_cents == 12300
    assert lines(app) == [(shopper, kettle, 2, 4500), (shopper, mug, 3, 1100)]
    assert (stock_of(app, kettle), stock_of(app, mug)) == (3, 7)
    assert session_cart(client) == {}

    html = follow(client, response)
    assert f"Thank you! Your order {order.number} is placed." in html
    assert cart_count(html) == 0
    rows = table_body(html).split("</tr>")
    kettle_row = next(row for row in rows if "Copper Kettle" in row)
    mug_row = next(row for row in rows if "Blue Mug" in row)
    for row, cells in (
        (kettle_row, ("2", "$45.00", "$90.00")),
        (mug_row, ("3", "$11.00", "$33.00")),
    ):
        for cell in cells:
            assert f'<td class="num">{cell}</td>' in row
    assert '<strong id="order-total">$123.00</strong>' in html
    assert "Your cart is empty." in html_of(client.get("/purchases/cart"))


def test_checkout_can_buy_the_last_unit(app, client, shopper, make_item):
    last = make_item(name="Last one", stock=1)
    add_to_cart(client, last, 1)
    assert checkout(client).status_code == 302
    assert stock_of(app, last) == 0
    assert count(app, UserItem) == 1
    assert "Out of stock" in html_of(client.get(f"/items/{last}"))


def test_shipping_is_free_when_the_subtotal_reaches_free_over(
    app, client, shopper, make_item
):
    even = make_item(name="Fifty Dollar Lamp", price_cents=2500, stock=10)
    short = make_item(name="Almost Fifty", price_cents=4999, stock=10)

    add_to_cart(client, even, 2)  # exactly $50.00: free
    html = get_html(client, "/purchases/checkout")
    assert f"{STANDARD} · <strong>Free</strong>" in html
    free = order_of(app, order_number(checkout(client, shipping="standard")))
    assert (free.subtotal_cents, free.shipping_cents, free.total_cents) == (
        5000,
        0,
        5000,
    )

    add_to_cart(client, short, 1)  # a cent under: standard's price
    paid = order_of(app, order_number(checkout(client, shipping="standard")))
    assert (paid.subtotal_cents, paid.shipping_cents, paid.total_cents) == (
        4999,
        495,
        5494,
    )
    # Express is never free.
    add_to_cart(client, even, 4)
    express = order_of(app, order_number(checkout(client, shipping="express")))
    assert (express.subtotal_cents, express.shipping_cents) == (10000, 1295)


# --- all or nothing: what changed since the page was drawn -------------------------


def test_checkout_beyond_stock_writes_nothing(app, client, shopper, kettle, mug):
    add_to_cart(client, kettle, 2)
    add_to_cart(client, mug, 4)
    form = checkout_form(client)
    set_item(app, mug, stock=3)  # someone else bought some meanwhile
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    assert checkout_state(app) == before
    assert (stock_of(app, kettle), stock_of(app, mug)) == (5, 3)
    html = html_of(response)
    assert checkout_problems(html) == [
        "Only 3 of Blue Mug left: lower the quantity in your cart."
    ]
    assert "nothing was bought" in html
    assert session_cart(client) == {str(kettle): 2, str(mug): 4}
    # The page drawn again says so and will not send the short cart.
    assert "Not enough stock for Blue Mug:" in html
    assert '<button type="submit" disabled>Place order</button>' in html


def test_checkout_names_every_short_item(app, client, shopper, kettle, mug):
    add_to_cart(client, kettle, 2)
    add_to_cart(client, mug, 4)
    form = checkout_form(client)
    set_item(app, mug, stock=0)
    set_item(app, kettle, stock=1)
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    assert checkout_problems(html_of(response)) == [
        "Blue Mug sold out: remove it from your cart.",
        "Only 1 of Copper Kettle left: lower the quantity in your cart.",
    ]
    assert checkout_state(app) == before


def test_checkout_with_an_archived_item_buys_nothing(app, client, shopper, kettle, mug):
    add_to_cart(client, kettle, 1)
    add_to_cart(client, mug, 1)
    form = checkout_form(client)  # the shopper has the checkout page open...
    set_item(app, mug, archived_at=datetime(2024, 1, 1))  # ...when an admin archives
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    assert checkout_state(app) == before
    html = html_of(response)
    assert "Not enough stock" not in html
    assert table_rows(table_body(html)) == [["Copper Kettle", "1", "$45.00"]]
    assert session_cart(client) == {str(kettle): 1}
    # The page drawn again buys what is left.
    again = client.post("/purchases/checkout", data=checkout_fields(html))
    assert lines(app) == [(shopper, kettle, 1, 4500)]
    assert order_of(app, order_number(again)).subtotal_cents == 4500


def test_checkout_with_an_archived_item_says_which(app, client, shopper, kettle, mug):
    add_to_cart(client, kettle, 1)
    add_to_cart(client, mug, 1)
    form = checkout_form(client)
    set_item(app, mug, archived_at=datetime(2024, 1, 1))
    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 409
    assert "Blue Mug is no longer sold" in html_of(response)


@pytest.mark.parametrize(
    ("token", "status"),
    [("", 409), ("nonsense", 409), ("\x00", 409), ("x" * 10_000, 409)],
    ids=["empty", "unknown", "nul", "huge"],
)
def test_checkout_with_a_bad_checkout_token_buys_nothing(
    app, client, shopper, kettle, token, status
):
    add_to_cart(client, kettle, 1)
    form = checkout_form(client)
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data={**form, "token": token})

    assert response.status_code == status
    assert checkout_state(app) == before
    assert session_cart(client) == {str(kettle): 1}
    if status == 409:
        assert "Your cart changed since you opened this page" in html_of(response)


def test_checkout_after_the_cart_changed_elsewhere_buys_nothing(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    stale = checkout_form(client)
    add_to_cart(client, mug, 1)  # e.g. in another tab
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=stale)

    assert response.status_code == 409
    assert checkout_state(app) == before
    html = html_of(response)
    assert "Your cart changed since you opened this page: check it again." in html
    # The page drawn again shows the whole cart, and buys it.
    assert [row[0] for row in table_rows(table_body(html))] == [
        "Blue Mug",
        "Copper Kettle",
    ]
    fresh = client.post("/purchases/checkout", data=checkout_fields(html))
    assert fresh.status_code == 302
    assert lines(app) == [(shopper, kettle, 1, 4500), (shopper, mug, 1, 1250)]


def test_a_price_changed_after_the_page_was_drawn_buys_nothing(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    add_to_cart(client, mug, 2)
    form = checkout_form(client)  # the page shows the mug at $12.50...
    set_item(app, mug, price_cents=1300)  # ...and then it costs $13.00
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    html = html_of(response)
    assert checkout_problems(html) == [
        "The price of Blue Mug changed from $12.50 to $13.00."
    ]
    assert checkout_state(app) == before
    assert (stock_of(app, kettle), stock_of(app, mug)) == (5, 10)
    # The page drawn again shows today's price, and places the order at it.
    assert '<td class="num">$26.00</td>' in html
    again = client.post("/purchases/checkout", data=checkout_fields(html))
    assert again.status_code == 302
    assert lines(app) == [(shopper, kettle, 1, 4500), (shopper, mug, 2, 1300)]


def test_a_price_lowered_after_the_page_was_drawn_also_buys_nothing(
    app, client, shopper, mug
):
    """The order is charged what the page showed or not placed: a cheaper price
    is news the shopper should see too."""
    add_to_cart(client, mug, 1)
    form = checkout_form(client)
    set_item(app, mug, price_cents=999)
    before = checkout_state(app)
    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 409
    assert checkout_problems(html_of(response)) == [
        "The price of Blue Mug changed from $12.50 to $9.99."
    ]
    assert checkout_state(app) == before


def test_a_delivery_price_changed_after_the_page_was_drawn_buys_nothing(
    app, client, shopper, mug
):
    add_to_cart(client, mug, 1)
    form = checkout_form(client)
    set_shipping(app, "standard", price_cents=595)
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    html = html_of(response)
    assert checkout_problems(html) == [f"{STANDARD} now costs $5.95 (was $4.95)."]
    assert checkout_state(app) == before
    assert stock_of(app, mug) == 10
    again = client.post("/purchases/checkout", data=checkout_fields(html))
    assert order_of(app, order_number(again)).shipping_cents == 595


def test_a_delivery_method_withdrawn_after_the_page_was_drawn_buys_nothing(
    app, client, shopper, mug
):
    add_to_cart(client, mug, 1)
    form = checkout_form(client)
    set_shipping(app, "express", is_active=False)
    before = checkout_state(app)
    response = client.post("/purchases/checkout", data={**form, "shipping": "express"})
    assert response.status_code == 422
    html = html_of(response)
    assert "Choose how to deliver your order." in field_errors(html)
    assert 'value="express"' not in html
    assert checkout_state(app) == before


def test_a_tax_rate_changed_after_the_page_was_drawn_buys_nothing(
    app, client, shopper, mug
):
    add_to_cart(client, mug, 1)
    form = checkout_form(client)
    set_tax_rate(app, 825)
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    html = html_of(response)
    assert checkout_problems(html) == ["The tax rate changed from 0% to 8.25%."]
    assert checkout_state(app) == before
    again = client.post("/purchases/checkout", data=checkout_fields(html))
    order = order_of(app, order_number(again))
    assert (order.tax_rate_bp, order.tax_cents) == (825, 103)  # $1.03125


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda ids: {"seen_prices": f"{ids['kettle']}:1"}, id="price"),
        pytest.param(lambda ids: {"seen_prices": f"{ids['kettle']}:0"}, id="free"),
        pytest.param(lambda ids: {"seen_prices": "999999:1"}, id="other-item"),
        pytest.param(lambda ids: {"seen_prices": "nonsense"}, id="malformed"),
        pytest.param(lambda ids: {"seen_prices": ""}, id="empty"),
        pytest.param(
            lambda ids: {"seen_shipping": "standard:0,express:0"}, id="shipping"
        ),
        pytest.param(lambda ids: {"seen_tax": "0"}, id="tax"),
        pytest.param(lambda ids: {"seen_tax": "-825"}, id="negative-tax"),
    ],
)
def test_forged_seen_prices_buy_nothing(app, client, shopper, kettle, forged):
    """What the page showed is in hidden fields a client can change: the store
    checks them against its own prices, and a lower one buys nothing."""
    set_tax_rate(app, 825)
    add_to_cart(client, kettle, 1)
    form = {**checkout_form(client), **forged({"kettle": kettle})}
    before = checkout_state(app)

    response = client.post("/purchases/checkout", data=form)

    assert response.status_code == 409
    assert checkout_state(app) == before
    assert stock_of(app, kettle) == 5
    assert session_cart(client) == {str(kettle): 1}


def test_a_forged_lower_price_is_named_and_the_real_one_shown(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 1)
    form = {**checkout_form(client), "seen_prices": f"{kettle}:1"}
    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 409
    html = html_of(response)
    assert checkout_problems(html) == [
        "The price of Copper Kettle changed from $0.01 to $45.00."
    ]
    assert hidden_fields(html)["seen_prices"] == f"{kettle}:4500"
    assert count(app, Order) == 0


# --- bad input: 422, nothing written ----------------------------------------------

CONTROL = CONTROL_CHARACTERS


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Enter the name to deliver to."),
        ("name", "   ", "Enter the name to deliver to."),
        ("line1", "", "Enter the street address."),
        ("city", "", "Enter the town or city."),
        ("postcode", "", "Enter the postcode."),
        ("country", "", "Choose a country from the list."),
        ("name", "N" * 101, "Use at most 100 characters."),
        ("line1", "L" * 201, "Use at most 200 characters."),
        ("line2", "L" * 201, "Use at most 200 characters."),
        ("city", "C" * 101, "Use at most 100 characters."),
        ("postcode", "1" * 17, "Use at most 16 characters."),
        ("name", "Sam\x00Shopper", CONTROL),
        ("line1", "1 Test\x1b Street", CONTROL),
        ("line2", "Flat 2\x07", CONTROL),
        ("city", "Test\nville", CONTROL),
        ("country", "XX", "Choose a country from the list."),
        ("country", "us", "Choose a country from the list."),
        ("postcode", "ABC", "Enter a ZIP code like 12345 or 12345-6789."),
        ("postcode", "1234", "Enter a ZIP code like 12345 or 12345-6789."),
        ("shipping", "teleport", "Choose how to deliver your order."),
        ("shipping", "", "Choose how to deliver your order."),
        ("payment", "bitcoin", "Choose how to pay."),
        ("payment", "", "Choose how to pay."),
    ],
)
def test_bad_checkout_input_is_422_and_writes_nothing(
    app, client, shopper, kettle, field, value, message
):
    add_to_cart(client, kettle, 1)
    form = checkout_form(client)
    before = checkout_state(app)

    response = client.post(
        "/purchases/checkout", data={**form, field: value, "save_address": "y"}
    )

    assert response.status_code == 422
    html = html_of(response)
    assert message in field_errors(html)
    assert checkout_state(app) == before
    assert stock_of(app, kettle) == 5
    assert session_cart(client) == {str(kettle): 1}
    # Corrected on the page that came back, the same checkout goes through once.
    fixed = {**checkout_fields(html), field: form[field]}
    assert client.post("/purchases/checkout", data=fixed).status_code == 302
    assert count(app, Order) == 1


def test_a_bad_field_keeps_what_the_shopper_typed(app, client, shopper, kettle):
    add_to_cart(client, kettle, 1)
    response = checkout(client, postcode="ABC", line1="22 Acacia Avenue")
    assert response.status_code == 422
    html = html_of(response)
    assert 'value="22 Acacia Avenue"' in html
    assert 'aria-invalid="true"' in html
    assert '<option value="US" selected>' in html


def save_address(app, user_id: int, line1: str) -> int:
    """A saved address of this user, written straight to the database."""
    with app.app_context():
        address = Address(
            user_id=user_id,
            **{**TEST_ADDRESS, "name": "Someone", "line1": line1},
        )
        db.session.add(address)
        db.session.commit()
        return address.id


@pytest.mark.parametrize("address_id", ["theirs", "999999", "abc", "-1", "1.5"])
def test_an_address_id_not_among_the_shoppers_own_is_422(app, store, address_id):
    their_id = save_address(app, store["olive"], "9 Secret Lane")
    save_address(app, store["sam"], "1 Own Street")
    sam = client_for(app, "sam@example.com")
    add_to_cart(sam, store["mug"], 1)
    page = get_html(sam, "/purchases/checkout")
    assert "1 Own Street" in page
    assert "9 Secret Lane" not in page
    before = checkout_state(app)

    response = checkout(
        sam, address_id=str(their_id) if address_id == "theirs" else address_id
    )

    assert response.status_code == 422
    html = html_of(response)
    assert "Choose one of your saved addresses." in field_errors(html)
    assert "9 Secret Lane" not in html
    assert checkout_state(app) == before


def test_another_shoppers_address_is_refused_to_a_shopper_with_none_saved(app, store):
    their_id = save_address(app, store["olive"], "9 Secret Lane")
    sam = client_for(app, "sam@example.com")
    add_to_cart(sam, store["mug"], 1)
    before = checkout_state(app)
    response = checkout(sam, address_id=str(their_id))
    assert response.status_code == 422
    assert "9 Secret Lane" not in html_of(response)
    assert checkout_state(app) == before


@pytest.mark.parametrize(
    "field, value, status", [("token", "\x00", 409), ("address_id", "7", 422)]
)
def test_a_refused_hidden_field_is_explained(
    app, client, shopper, kettle, field, value, status
):
    add_to_cart(client, kettle, 1)
    response = checkout(client, **{field: value})
    assert response.status_code == status
    html = html_of(response)
    assert field_errors(html) or re.search(r'class="flash flash-(error|warning)"', html)


# --- saved addresses ----------------------------------------------------------------


def test_a_saved_address_is_saved_once_and_offered_next_time(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    assert checkout(client, save_address="y").status_code == 302
    saved = the_only(app, Address)
    assert saved.user_id == shopper
    assert {name: getattr(saved, name) for name in TEST_ADDRESS} == TEST_ADDRESS

    # The same address again, asked to be saved again: still one.
    add_to_cart(client, mug, 1)
    assert checkout(client, save_address="y").status_code == 302
    assert count(app, Address) == 1

    # Next time the page offers it, chosen, and address_id ships there.
    add_to_cart(client, mug, 2)
    html = get_html(client, "/purchases/checkout")
    one_line = "Sam Shopper, 1 Test Street, Testville, 12345, US"
    assert f'<option selected value="{saved.id}">{one_line}</option>' in html
    assert '<option value="">A new address</option>' in html
    blank = dict.fromkeys(TEST_ADDRESS, "")
    response = checkout(client, address_id=str(saved.id), **blank)
    assert response.status_code == 302
    order = order_of(app, order_number(response))
    assert {
        name: getattr(order, f"ship_{name}") for name in TEST_ADDRESS
    } == TEST_ADDRESS
    assert count(app, Address) == 1


def test_a_saved_address_is_used_as_saved_not_as_typed(app, client, shopper, mug):
    add_to_cart(client, mug, 1)
    checkout(client, save_address="y", postcode="12345-6789", line2="Flat 4")
    saved = the_only(app, Address)
    add_to_cart(client, mug, 1)
    response = checkout(
        client, address_id=str(saved.id), line1="Somewhere Else", save_address="y"
    )
    order = order_of(app, order_number(response))
    assert (order.ship_line1, order.ship_line2, order.ship_postcode) == (
        "1 Test Street",
        "Flat 4",
        "12345-6789",
    )
    assert count(app, Address) == 1  # a chosen address is not saved again


def test_a_different_address_is_saved_beside_the_first(app, client, shopper, mug):
    add_to_cart(client, mug, 1)
    checkout(client, save_address="y")
    add_to_cart(client, mug, 1)
    response = checkout(
        client, save_address="y", line1="2 Other Road", postcode="sw1a 1aa",
        country="GB", city="London",
    )  # fmt: skip
    assert response.status_code == 302
    order = order_of(app, order_number(response))
    assert (order.ship_postcode, order.ship_country) == ("SW1A 1AA", "GB")
    with app.app_context():
        saved = db.session.execute(
            sa.select(Address.line1, Address.postcode).order_by(Address.id)
        ).all()
    assert saved == [("1 Test Street", "12345"), ("2 Other Road", "SW1A 1AA")]


# --- once only, server prices, the signed-in user ----------------------------------


def test_double_submitted_checkout_buys_once(app, client, shopper, kettle):
    """A double click: the second request leaves before the first one's answer
    (and its new cookie) comes back, so both carry the same cart and token."""
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    cookie = client.get_cookie("session").value

    first = client.post("/purchases/checkout", data=form)
    client.set_cookie("session", cookie)
    second = client.post("/purchases/checkout", data=form)

    assert first.status_code == second.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert count(app, Order) == 1
    assert count(app, UserItem) == 1
    assert stock_of(app, kettle) == 3
    assert "This order was already placed." in follow(client, second)
    assert session_cart(client) == {}


def test_the_same_checkout_sent_again_later_buys_nothing_more(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 2)
    form = checkout_form(client)
    assert client.post("/purchases/checkout", data=form).status_code == 302
    before = checkout_state(app)
    again = client.post("/purchases/checkout", data=form)  # back, and send again
    assert again.status_code == 302
    assert checkout_state(app) == before
    assert stock_of(app, kettle) == 3


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
        subtotal_cents="1",
        shipping_cents="0",
        tax_cents="0",
        status="paid",
        number="CHOSEN123",
        user_id=str(other),
        email="else@example.com",
    )

    assert response.status_code == 302
    assert lines(app) == [(shopper, kettle, 2, 4500)]
    order = the_only(app, Order)
    assert (order.user_id, order.email) == (shopper, "sam@example.com")
    assert (order.subtotal_cents, order.total_cents) == (9000, 9000)
    assert order.status == "pending_payment"
    assert order.number != "CHOSEN123"


def test_recorded_price_survives_a_later_price_change(app, client, shopper, kettle):
    add_to_cart(client, kettle, 2)
    order_url = checkout(client).headers["Location"]
    set_item(app, kettle, price_cents=9999)

    assert lines(app) == [(shopper, kettle, 2, 4500)]
    order_page = html_of(client.get(order_url))
    assert '<td class="num">$45.00</td>' in order_page
    assert '<td class="num">$90.00</td>' in order_page
    assert "$99.99" not in order_page
    history = html_of(client.get("/purchases/"))
    assert '<td class="num">$90.00</td>' in history
    assert "$99.99" not in history


def test_renaming_an_item_keeps_the_name_it_was_bought_under(
    app, client, shopper, kettle
):
    add_to_cart(client, kettle, 2)
    order_url = checkout(client).headers["Location"]
    set_item(app, kettle, name="Kettle Mk II")

    with app.app_context():
        assert db.session.scalar(sa.select(UserItem.item_name)) == "Copper Kettle"
    order_page = html_of(client.get(order_url))
    assert f'<a href="/items/{kettle}">Copper Kettle</a>' in order_page
    assert "Kettle Mk II" not in order_page
    history = html_of(client.get("/purchases/"))
    assert f'2 × <a href="/items/{kettle}">Copper Kettle</a>' in history
    assert "Kettle Mk II" not in history


def test_an_order_number_collision_is_retried(
    app, client, shopper, kettle, mug, make_purchase, monkeypatch
):
    with app.app_context():
        taken = db.session.get(UserItem, make_purchase(shopper, mug)).order.number
    numbers = iter([taken, "FRESH23456"])
    monkeypatch.setattr(placing, "new_number", lambda: next(numbers))
    add_to_cart(client, kettle, 2)

    response = checkout(client)

    assert order_number(response) == "FRESH23456"
    assert count(app, Order) == 2
    order = order_of(app, "FRESH23456")
    assert [(line.item_id, line.quantity) for line in order.lines] == [(kettle, 2)]
    assert len(order.events) == 1
    assert stock_of(app, kettle) == 3  # taken once, kept through the retry
    earlier = order_of(app, taken)
    assert [line.item_id for line in earlier.lines] == [mug]
    assert next(numbers, None) is None  # two numbers drawn, no more


# --- the shopper's orders -------------------------------------------------------------


def history_rows(html: str) -> list[list[str]]:
    """Each order's cells: number, placed, items, status, total."""
    return table_rows(table_body(html))


def line_order_number(app, line_id: int) -> str:
    with app.app_context():
        return db.session.get(UserItem, line_id).order.number


def test_history_lists_orders_newest_first_with_their_items(
    app, client, shopper, kettle, mug, make_purchase
):
    old = make_purchase(shopper, kettle, 1, 4000, when=datetime(2024, 3, 1, 9, 30))
    new = make_purchase(shopper, mug, 3, 1250, when=datetime(2024, 4, 2, 17, 5))

    html = html_of(client.get("/purchases/"))

    assert "<h1>Your orders</h1>" in html
    assert history_rows(html) == [
        [
            line_order_number(app, new),
            "2024-04-02 17:05 UTC",
            "3 × Blue Mug",
            "Paid",
            "$37.50",
        ],
        [
            line_order_number(app, old),
            "2024-03-01 09:30 UTC",
            "1 × Copper Kettle",
            "Paid",
            "$40.00",
        ],
    ]
    for line in (new, old):
        number = line_order_number(app, line)
        assert f'<a href="/purchases/orders/{number}">{number}</a>' in html


def test_history_shows_a_checkout_with_its_status_and_total(
    app, client, shopper, kettle, mug
):
    add_to_cart(client, kettle, 1)
    add_to_cart(client, mug, 2)
    number = order_number(checkout(client))
    [row] = history_rows(html_of(client.get("/purchases/")))
    assert row[0] == number
    assert row[2] == "1 × Copper Kettle, 2 × Blue Mug"
    assert row[3:] == ["Awaiting payment", "$70.00"]  # free delivery over $50


def test_history_names_three_lines_and_counts_the_rest(
    app, client, shopper, make_items
):
    for item_id in make_items(5, prefix="Bulk"):
        add_to_cart(client, item_id, 1)
    checkout(client)
    [row] = history_rows(html_of(client.get("/purchases/")))
    assert row[2] == "1 × Bulk 001, 1 × Bulk 002, 1 × Bulk 003 and 2 more"


def test_history_is_paginated_20_a_page(client, shopper, make_item, make_purchase):
    item_ids = [make_item(name=f"Thing {n:02d}", stock=1) for n in range(25)]
    for age, item_id in enumerate(reversed(item_ids)):
        make_purchase(shopper, item_id, when=minutes_ago(age))
    newest_first = [f"1 × Thing {n:02d}" for n in reversed(range(25))]

    first = html_of(client.get("/purchases/"))
    assert [row[2] for row in history_rows(first)] == newest_first[:20]
    assert 'href="/purchases/?page=2"' in first

    second = html_of(client.get("/purchases/?page=2"))
    assert [row[2] for row in history_rows(second)] == newest_first[20:]
    assert client.get("/purchases/?page=3").status_code == 404
    for page in ("0", "-1", "abc", str(10**30)):
        assert client.get(f"/purchases/?page={page}").status_code in (200, 404)


def test_archived_items_are_named_without_a_link(
    app, client, shopper, kettle, make_purchase
):
    line = make_purchase(shopper, kettle, 1, 4500)
    set_item(app, kettle, archived_at=datetime(2024, 1, 1))
    order_page = html_of(
        client.get(f"/purchases/orders/{line_order_number(app, line)}")
    )
    assert 'Copper Kettle <small class="muted">(no longer sold)</small>' in order_page
    assert f'href="/items/{kettle}"' not in order_page
    history = html_of(client.get("/purchases/"))
    assert "1 × Copper Kettle" in history
    assert f'href="/items/{kettle}"' not in history


def test_the_order_page_links_items_still_sold(
    app, client, shopper, kettle, make_purchase
):
    line = make_purchase(shopper, kettle, 1, 4500)
    html = html_of(client.get(f"/purchases/orders/{line_order_number(app, line)}"))
    assert item_ids_linked(table_body(html)) == [kettle]


def test_history_requires_sign_in(client):
    response = client.get("/purchases/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login?next=%2Fpurchases%2F"


def test_the_order_page_is_found_by_its_number_in_any_case(
    app, client, shopper, kettle, make_purchase
):
    number = line_order_number(app, make_purchase(shopper, kettle, 1, 4500))
    for typed in (number, number.lower()):
        response = client.get(f"/purchases/orders/{typed}")
        assert response.status_code == 200, typed
        assert f"<h1>Order {number}</h1>" in html_of(response)


# --- other shoppers' orders -------------------------------------------------------


@pytest.fixture
def theirs(app, make_user, make_item, make_purchase) -> tuple[int, str]:
    """Another shopper's order of a "Secret Gift"; returns (user id, order number)."""
    them = make_user("Other Shopper", "other@example.com")
    gift = make_item(name="Secret Gift", price_cents=777)
    line = make_purchase(them, gift, 2, 777)
    return them, line_order_number(app, line)


def test_another_shoppers_order_page_is_404(client, shopper, theirs):
    _, their_number = theirs
    for typed in (their_number, their_number.lower()):
        response = client.get(f"/purchases/orders/{typed}")
        assert response.status_code == 404
        html = html_of(response)
        assert "Secret Gift" not in html
        assert "Other Shopper" not in html
        assert their_number not in html


def test_another_shoppers_orders_never_appear_in_my_history(
    client, shopper, theirs, kettle, make_purchase
):
    make_purchase(shopper, kettle, 1, 4500)
    them, their_number = theirs
    html = html_of(client.get("/purchases/"))
    assert "Copper Kettle" in html
    assert "Secret Gift" not in html
    assert their_number not in html
    assert len(history_rows(html)) == 1
    # ...nor a user_id in the query string.
    html = html_of(client.get(f"/purchases/?user_id={them}"))
    assert "Secret Gift" not in html


def test_unknown_order_is_404(client, shopper, theirs):
    for number in ("999999", "1", str(2**31), str(10**30), "ZZZZZZZZZZ", "A" * 17):
        assert client.get(f"/purchases/orders/{number}").status_code == 404, number


def test_order_page_requires_sign_in(client, theirs):
    _, their_number = theirs
    response = client.get(f"/purchases/orders/{their_number}")
    assert response.status_code == 302
    assert re.match(r"/users/login\?next=", response.headers["Location"])


def test_login_in_the_middle_of_checkout_keeps_the_cart(app, client, make_user, kettle):
    make_user("Late Login", "late@example.com")
    add_to_cart(client, kettle, 2)
    to_login = client.get("/purchases/checkout")
    assert to_login.status_code == 302
    location = to_login.headers["Location"]

    signed_in = post_form(
        client,
        location,
        {"email": "late@example.com", "password": "correct-horse-battery"},
    )

    assert signed_in.headers["Location"] == "/purchases/checkout"
    html = get_html(client, "/purchases/checkout")
    assert table_rows(table_body(html)) == [["Copper Kettle", "2", "$90.00"]]
    response = client.post("/purchases/checkout", data=checkout_fields(html))
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
        assert line.order.subtotal_cents == 900
        assert line.order.total_cents == 900 + 495  # standard delivery, no tax
        assert line.order.user_id == store["sam"]


def test_s10_unknown_or_archived_items_cannot_be_bought(app, store):
    client = client_for(app, "sam@example.com")
    before = checkout_state(app)
    for item_id in (999_999, 2**31, store["retired"]):
        response = post_form(
            client,
            "/purchases/cart",
            {"item_id": item_id, "quantity": 1},
            page="/items/",
        )
        assert response.status_code == 404, item_id
    assert client.get(f"/items/{store['retired']}").status_code == 404
    assert checkout_state(app) == before
    # Archived after it went into the cart: checkout buys nothing.
    assert add_to_cart(client, store["mug"]).status_code == 302
    form = checkout_form(client)
    set_item(app, store["mug"], archived_at=utcnow())
    before = checkout_state(app)
    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 409
    assert "Mug is no longer sold: it has left your cart." in html_of(response)
    assert checkout_state(app) == before
    with app.app_context():
        assert db.session.get(Item, store["mug"]).stock == 2


def test_s14_checkout_is_all_or_nothing(app, store):
    client = client_for(app, "sam@example.com")
    assert add_to_cart(client, store["lamp"], 2).status_code == 302
    assert add_to_cart(client, store["mug"], 2).status_code == 302
    form = checkout_form(client)
    set_item(app, store["mug"], stock=1)  # another buyer took one
    before = checkout_state(app)
    response = client.post("/purchases/checkout", data=form)
    assert response.status_code == 409
    assert checkout_problems(html_of(response)) == [
        "Only 1 of Mug left: lower the quantity in your cart."
    ]
    assert checkout_state(app) == before  # not even the lamps
    assert stock_of(app, store["lamp"]) == 4


def test_a_checkout_token_another_account_used_is_a_stale_cart_not_a_500(
    app, client, shopper, kettle, make_user
):
    """A token planted in the session (a pre-login cookie) that another
    account's order already holds: the page again, a token of its own, and
    nothing bought; the next press buys."""
    make_user("Other", "other@example.com")
    other = client_for(app, "other@example.com")
    add_to_cart(other, kettle, 1)
    with other.session_transaction() as session:
        planted = session["checkout_token"]
    assert checkout(other).status_code == 302
    add_to_cart(client, kettle, 2)
    with client.session_transaction() as session:
        session["checkout_token"] = planted
    before = checkout_state(app)

    for _ in range(2):  # every try, not only the first
        response = checkout(client)
        assert response.status_code == 409
        assert "Your cart changed since you opened this page" in html_of(response)
        assert checkout_state(app) == before
        with client.session_transaction() as session:
            assert session["checkout_token"] != planted
            session["checkout_token"] = planted

    with client.session_transaction() as session:
        session["checkout_token"] = "a-token-of-its-own"
    placed = checkout(client)
    assert placed.status_code == 302
    assert stock_of(app, kettle) == 5 - 1 - 2
