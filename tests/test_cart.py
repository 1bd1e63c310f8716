"""The session cart: adding with a quantity, bad quantities, unknown and
archived items, updating and removing lines, totals, and fields it ignores."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.helpers import (
    add_to_cart,
    cart_count,
    client_for,
    csrf_token_from,
    db_state,
    get_html,
    html_of,
    item_ids_linked,
    post_form,
    session_cart,
    set_item,
)


@pytest.fixture
def widget(make_item) -> int:
    return make_item(name="Widget", price_cents=1250, stock=10)


def cart_html(client) -> str:
    return get_html(client, "/purchases/cart")


def post_on_cart_page(client, url: str, data: dict | None = None):
    """Press a button on the cart page (update, remove), with its CSRF token."""
    token = csrf_token_from(cart_html(client))
    return client.post(url, data={"csrf_token": token, **(data or {})})


# --- adding -----------------------------------------------------------------------


def test_add_to_cart_redirects_flashes_and_counts(app, client, widget):
    before = db_state(app)
    response = add_to_cart(client, widget, 2)

    assert response.status_code == 302
    assert response.headers["Location"] == "/purchases/cart"
    html = cart_html(client)
    assert "Added 2 × Widget to your cart." in html
    assert cart_count(html) == 2
    assert session_cart(client) == {str(widget): 2}
    assert db_state(app) == before  # the cart lives in the session only

    add_to_cart(client, widget, 3)
    assert cart_count(html_of(client.get("/items/"))) == 5
    assert session_cart(client) == {str(widget): 5}


def test_anonymous_cart_is_empty_and_says_so(client):
    html = cart_html(client)
    assert "Your cart is empty." in html
    assert cart_count(html) == 0


BAD_QUANTITIES = [
    pytest.param("-1", id="negative"),
    pytest.param("0", id="zero"),
    pytest.param("1.5", id="fraction"),
    pytest.param("abc", id="text"),
    pytest.param("", id="empty"),
    pytest.param(None, id="absent"),
    pytest.param("11", id="above-stock"),
    pytest.param(str(10**12), id="10**12"),
    pytest.param(str(10**30), id="10**30"),
    pytest.param("1e3", id="exponent"),
    pytest.param(" ", id="blank"),
]


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_bad_quantity_is_a_form_error_and_leaves_the_cart(
    app, client, widget, quantity
):
    add_to_cart(client, widget, 1)
    before = db_state(app)
    data = {"item_id": widget, "quantity": quantity}
    if quantity is None:
        del data["quantity"]
    response = post_form(client, "/purchases/cart", data, page=f"/items/{widget}")

    assert response.status_code == 422
    html = html_of(response)
    assert re.search(r'class="field-error">[^<]+</small>', html)
    assert 'aria-invalid="true"' in html
    assert session_cart(client) == {str(widget): 1}
    assert cart_count(html) == 1
    assert db_state(app) == before


def test_adding_beyond_stock_counts_what_is_already_in_the_cart(client, widget):
    add_to_cart(client, widget, 8)
    response = add_to_cart(client, widget, 3)
    assert response.status_code == 422
    assert "Only 10 in stock, and 8 already in your cart." in html_of(response)
    assert session_cart(client) == {str(widget): 8}
    assert add_to_cart(client, widget, 2).status_code == 302
    assert session_cart(client) == {str(widget): 10}


def test_a_cart_line_never_grows_past_1000_units(app, client, make_item):
    """Repeated adds count what the line holds already: 1,000 units of an item
    at most, however much is in stock."""
    plenty = make_item(name="Bulk Screws", price_cents=5, stock=5_000)
    assert add_to_cart(client, plenty, 600).status_code == 302
    before = db_state(app)

    response = add_to_cart(client, plenty, 401)

    assert response.status_code == 422
    assert (
        "A cart line holds at most 1,000 of an item, and 600 are in your cart already."
        in html_of(response)
    )
    assert session_cart(client) == {str(plenty): 600}
    assert add_to_cart(client, plenty, 400).status_code == 302
    assert session_cart(client) == {str(plenty): 1_000}
    for more in (1, 999):
        response = add_to_cart(client, plenty, more)
        assert response.status_code == 422
        assert "1,000 are in your cart already." in html_of(response)
    assert session_cart(client) == {str(plenty): 1_000}
    assert cart_count(cart_html(client)) == 1_000
    assert db_state(app) == before


def test_out_of_stock_item_cannot_be_added(client, make_item):
    gone = make_item(name="Gone", stock=0)
    response = add_to_cart(client, gone, 1)
    assert response.status_code == 422
    assert "out of stock" in html_of(response)
    assert session_cart(client) == {}


@pytest.mark.parametrize(
    "item_id", ["999999", "0", "-1", "abc", "", str(2**31), str(10**30)]
)
def test_adding_an_unknown_item_is_404(app, client, widget, item_id):
    before = db_state(app)
    response = post_form(
        client,
        "/purchases/cart",
        {"item_id": item_id, "quantity": "1"},
        page=f"/items/{widget}",
    )
    assert response.status_code == 404
    assert session_cart(client) == {}
    assert db_state(app) == before


def test_adding_without_item_id_is_404(client, widget):
    response = post_form(
        client, "/purchases/cart", {"quantity": "1"}, page=f"/items/{widget}"
    )
    assert response.status_code == 404
    assert session_cart(client) == {}


def test_adding_an_archived_item_is_404(client, widget, make_item):
    archived = make_item(name="Old stock", archived=True)
    response = post_form(
        client,
        "/purchases/cart",
        {"item_id": archived, "quantity": "1"},
        page=f"/items/{widget}",
    )
    assert response.status_code == 404
    assert session_cart(client) == {}


def test_adding_without_csrf_token_is_400(client, widget):
    response = client.post("/purchases/cart", data={"item_id": widget, "quantity": 1})
    assert response.status_code == 400
    assert session_cart(client) == {}


def test_cart_ignores_price_total_and_user_fields(client, widget, make_user):
    other = make_user(name="Somebody Else", email="else@example.com")
    response = add_to_cart(
        client,
        widget,
        2,
        price="0.01",
        unit_price_cents="1",
        total="1",
        user_id=str(other),
    )
    assert response.status_code == 302
    assert session_cart(client) == {str(widget): 2}
    html = cart_html(client)
    assert "$0.01" not in html
    assert '<strong id="cart-total">$25.00</strong>' in html


# --- showing the cart ---------------------------------------------------------------


def test_cart_shows_line_totals_and_the_cart_total(client, widget, make_item):
    dear = make_item(name="Dear thing", price_cents=123456, stock=3)
    add_to_cart(client, widget, 3)
    add_to_cart(client, dear, 2)

    html = cart_html(client)
    assert item_ids_linked(html) == [dear, widget]  # by name
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    dear_row = next(row for row in rows if "Dear thing" in row)
    widget_row = next(row for row in rows if "Widget" in row)
    assert '<td class="num" data-label="Price">$1,234.56</td>' in dear_row
    assert '<td class="num" data-label="Line total">$2,469.12</td>' in dear_row
    assert 'name="quantity" value="2"' in dear_row
    assert '<td class="num" data-label="Price">$12.50</td>' in widget_row
    assert '<td class="num" data-label="Line total">$37.50</td>' in widget_row
    assert 'name="quantity" value="3"' in widget_row
    assert '<strong id="cart-total">$2,506.62</strong>' in html
    assert cart_count(html) == 5


def test_cart_shows_the_current_price_not_the_price_when_added(app, client, widget):
    add_to_cart(client, widget, 2)
    set_item(app, widget, price_cents=999)
    html = cart_html(client)
    assert '<strong id="cart-total">$19.98</strong>' in html


def test_cart_survives_across_requests(client, widget):
    add_to_cart(client, widget, 2)
    for url in ("/items/", f"/items/{widget}", "/items/?q=widg", "/nowhere"):
        client.get(url)
    html = cart_html(client)
    assert "Widget" in html
    assert cart_count(html) == 2


def test_cart_drops_a_line_whose_item_was_archived(app, client, widget, make_item):
    other = make_item(name="Other", stock=5)
    add_to_cart(client, widget, 1)
    add_to_cart(client, other, 2)
    set_item(app, widget, archived_at=datetime(2024, 1, 1))
    html = cart_html(client)
    assert "Widget" not in html
    assert session_cart(client) == {str(other): 2}


def test_cart_warns_when_stock_fell_below_the_quantity(app, client, widget):
    add_to_cart(client, widget, 4)
    set_item(app, widget, stock=2)
    html = cart_html(client)
    assert "Only 2 left: lower the quantity." in html


def test_cart_ignores_a_malformed_session_cart(client, widget):
    with client.session_transaction() as session:
        session["cart"] = {str(widget): -3, "x": 1, "7": "many"}
    html = cart_html(client)
    assert "Your cart is empty." in html


# --- updating and removing -------------------------------------------------------


def test_update_sets_the_line_quantity(client, widget):
    add_to_cart(client, widget, 1)
    response = post_on_cart_page(
        client, f"/purchases/cart/{widget}/update", {"quantity": "4"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/purchases/cart"
    html = cart_html(client)
    assert "Updated Widget to 4." in html
    assert session_cart(client) == {str(widget): 4}
    assert '<strong id="cart-total">$50.00</strong>' in html


@pytest.mark.parametrize("quantity", ["0", "-1", "abc", "", "1.5", "11", str(10**12)])
def test_update_with_a_bad_quantity_keeps_the_line(client, widget, quantity):
    add_to_cart(client, widget, 2)
    response = post_on_cart_page(
        client, f"/purchases/cart/{widget}/update", {"quantity": quantity}
    )
    assert response.status_code in (302, 400, 422)
    assert session_cart(client) == {str(widget): 2}
    html = cart_html(client) if response.status_code == 302 else html_of(response)
    assert 'class="flash flash-error"' in html or "field-error" in html


def test_update_of_a_line_not_in_the_cart_is_404(client, widget, make_item):
    other = make_item(name="Other")
    add_to_cart(client, widget, 1)
    for item_id in (other, 999999, 10**30):
        response = post_on_cart_page(
            client, f"/purchases/cart/{item_id}/update", {"quantity": "1"}
        )
        assert response.status_code == 404
    assert session_cart(client) == {str(widget): 1}


def test_remove_drops_the_line(client, widget, make_item):
    other = make_item(name="Other", price_cents=100)
    add_to_cart(client, widget, 1)
    add_to_cart(client, other, 3)
    response = post_on_cart_page(client, f"/purchases/cart/{widget}/remove")
    assert response.status_code == 302
    html = cart_html(client)
    assert "Removed the item from your cart." in html
    assert item_ids_linked(html) == [other]
    assert session_cart(client) == {str(other): 3}
    assert cart_count(html) == 3


def test_remove_of_a_line_not_in_the_cart_changes_nothing(client, widget):
    add_to_cart(client, widget, 2)
    response = post_on_cart_page(client, "/purchases/cart/999999/remove")
    assert response.status_code == 302
    assert "That item was not in your cart." in cart_html(client)
    assert session_cart(client) == {str(widget): 2}


def test_update_and_remove_by_get_are_not_allowed(client, widget):
    add_to_cart(client, widget, 2)
    assert client.get(f"/purchases/cart/{widget}/remove").status_code == 405
    assert client.get(f"/purchases/cart/{widget}/update").status_code == 405
    assert session_cart(client) == {str(widget): 2}


def test_update_and_remove_without_csrf_token_are_400(client, widget):
    add_to_cart(client, widget, 2)
    assert client.post(f"/purchases/cart/{widget}/remove").status_code == 400
    response = client.post(f"/purchases/cart/{widget}/update", data={"quantity": 5})
    assert response.status_code == 400
    assert session_cart(client) == {str(widget): 2}


# --- bad quantities write nothing, from any cart (SECURITY 8) -----------------------


# The values above, and one beyond the `store` lamp's stock of 4.
EVERY_BAD_QUANTITY = [*(param.values[0] for param in BAD_QUANTITIES), "6"]


def test_s08_bad_quantities_are_refused_and_write_nothing(app, store):
    lamp = store["lamp"]  # 4 in stock
    empty = client_for(app, "sam@example.com")
    holding = client_for(app, "sam@example.com")
    assert add_to_cart(holding, lamp, 1).status_code == 302
    before = db_state(app)
    for quantity in EVERY_BAD_QUANTITY:
        data = {"item_id": lamp}
        if quantity is not None:
            data["quantity"] = quantity
        response = post_form(empty, "/purchases/cart", data, page=f"/items/{lamp}")
        assert response.status_code in (400, 404, 409, 422), quantity
        assert "Your cart is empty." in html_of(empty.get("/purchases/cart"))
        # Changing a line already in the cart refuses the same values.
        data = {} if quantity is None else {"quantity": quantity}
        update = f"/purchases/cart/{lamp}/update"
        post_form(holding, update, data, page="/purchases/cart")
        cart = html_of(holding.get("/purchases/cart"))
        assert 'name="quantity" value="1"' in cart, quantity
    assert db_state(app) == before
