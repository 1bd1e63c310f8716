"""Numbers hundreds of digits long, everywhere a number comes from a client.

WTForms' IntegerField with NumberRange raised OverflowError (a 500) for a
309-digit quantity; int() refuses text past 4,300 digits. Every integer the
store reads is now checked as digits first (app/numbers.py), so each of these
gets a clear answer and writes nothing.
"""

from __future__ import annotations

import pytest

from app.numbers import parse_whole_number, whole_number_or_none
from tests.helpers import db_state, post_form, sign_in

LONG = ["9" * 309, "1" + "0" * 400, "-" + "9" * 500, "9" * 5_000, "١" * 320]


@pytest.mark.parametrize("number", LONG)
def test_cart_add_refuses_a_long_number_in_either_field(app, client, make_item, number):
    item_id = make_item(stock=5)
    before = db_state(app)
    for data in (
        {"item_id": item_id, "quantity": number},
        {"item_id": number, "quantity": 1},
    ):
        response = post_form(client, "/purchases/cart", data, page=f"/items/{item_id}")
        assert response.status_code in (404, 422), data
    cart = client.get("/purchases/cart").get_data(as_text=True)
    assert 'Cart <span class="badge">0</span>' in cart
    assert db_state(app) == before


@pytest.mark.parametrize("number", LONG)
def test_cart_update_refuses_a_long_quantity(client, make_item, number):
    item_id = make_item(stock=5)
    post_form(client, "/purchases/cart", {"item_id": item_id, "quantity": 2},
              page=f"/items/{item_id}")  # fmt: skip
    response = post_form(
        client,
        f"/purchases/cart/{item_id}/update",
        {"quantity": number},
        page="/purchases/cart",
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose between 1 and 1,000." in html
    assert 'value="2"' in html  # the line keeps its quantity


@pytest.mark.parametrize("number", LONG)
def test_item_form_refuses_a_long_stock_or_price(app, client, admin, make_item, number):
    item_id = make_item(stock=5, price_cents=1250)
    before = db_state(app)
    for field in ("stock", "price"):
        data = {"name": "Lamp", "description": "", "price": "12.50", "stock": "5"}
        data[field] = number
        for url in ("/items/new", f"/items/{item_id}/edit"):
            response = post_form(client, url, data)
            assert response.status_code == 422, (url, field)
            assert "field-error" in response.get_data(as_text=True)
    assert db_state(app) == before


@pytest.mark.parametrize("number", LONG)
def test_query_string_numbers_are_a_page_or_a_clear_error(
    client, admin, make_item, number
):
    item_id = make_item()
    for url, allowed in (
        (f"/items/?page={number}", {200, 404}),
        (f"/items/{item_id}?buyers_page={number}", {200, 404}),
        (f"/items/manage?page={number}", {200, 404}),
        (f"/users/?page={number}", {200, 404}),
        (f"/purchases/all?page={number}", {200, 404}),
        (f"/purchases/all?user_id={number}", {400, 404}),
        (f"/purchases/all?item_id={number}", {400, 404}),
        (f"/purchases/export.csv?item_id={number}", {400, 404}),
        (f"/audit/?page={number}", {200, 404}),
    ):
        assert client.get(url).status_code in allowed, url


def test_a_signed_in_shopper_is_refused_the_same_way(client, make_user, make_item):
    item_id = make_item(stock=5)
    make_user(email="sam@example.com")
    sign_in(client, "sam@example.com")
    response = post_form(
        client,
        "/purchases/cart",
        {"item_id": item_id, "quantity": "9" * 309},
        page=f"/items/{item_id}",
    )
    assert response.status_code == 422
    assert "Choose between 1 and 1,000." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        (" 7 ", 7),
        ("0", 0),
        ("999999999999", 999_999_999_999),  # MAX_DIGITS
        ("9999999999999", None),
        ("9" * 5_000, None),
        ("-1", None),
        ("+1", None),
        ("1.5", None),
        ("1e3", None),
        ("1_000", None),
        ("١٢", None),  # int() would read these
        ("", None),
        (None, None),
    ],
)
def test_whole_number_or_none(text, expected):
    assert whole_number_or_none(text) == expected


def test_parse_whole_number_names_the_bounds():
    assert parse_whole_number("3", 5, 1) == 3
    with pytest.raises(ValueError, match="at most 5"):
        parse_whole_number("6", 5, 1)
    with pytest.raises(ValueError, match="1 or more"):
        parse_whole_number("0", 5, 1)
    with pytest.raises(ValueError, match="Pick one"):
        parse_whole_number("9" * 400, 5, 1, message="Pick one")
