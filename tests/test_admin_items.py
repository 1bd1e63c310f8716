"""The admin's items: add, edit (restock), archive, restore, the stock page, buyers."""

from __future__ import annotations

import re

import pytest
from flask import render_template

from app.extensions import db
from app.items.pages import BUYERS_PER_PAGE, Buyers, buyers_page
from app.models import Item, UserItem
from tests.helpers import (
    GOOD_ITEM,
    HOSTILE,
    client_for,
    count,
    count_queries,
    csrf_token_from,
    db_state,
    html_of,
    minutes_ago,
    post_form,
    row_of,
    set_item,
    sign_in,
    the_only,
)


def assert_escaped(html: str) -> None:
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The quote is escaped, so the text cannot leave its attribute.
    assert '"onmouseover=' not in html
    assert "&#34;onmouseover=" in html or "&quot;onmouseover=" in html


# --- adding ---------------------------------------------------------------------


def test_new_item_form_has_the_contract_fields(client, admin):
    response = client.get("/items/new")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("name", "description", "price", "stock"):
        assert f'name="{field}"' in html
        assert f'for="{field}"' in html
    assert 'href="/items/manage"' in html  # cancel


@pytest.mark.parametrize(
    ("price", "cents"),
    [
        ("12.50", 1250),
        ("19.99", 1999),
        ("5", 500),
        ("0.1", 10),
        ("0.07", 7),
        ("0", 0),
        (" 7.05 ", 705),
        ("1000000.00", 100_000_000),
        ("0.29", 29),  # float(0.29) * 100 == 28.999999999999996
    ],
)
def test_create_item_stores_exact_cents(app, client, admin, price, cents):
    response = post_form(client, "/items/new", {**GOOD_ITEM, "price": price})
    assert response.status_code == 302
    item = the_only(app, Item)
    assert response.headers["Location"] == f"/items/{item.id}"
    assert item.price_cents == cents
    assert (item.name, item.description, item.stock) == ("Walnut Tray", "Oiled.", 7)
    assert item.archived_at is None


def test_create_item_flashes_and_shows_the_item(client, admin):
    response = post_form(client, "/items/new", GOOD_ITEM, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Added “Walnut Tray”." in html
    assert "$12.50" in html


def test_create_item_strips_the_name_and_allows_an_empty_description(
    app, client, admin
):
    data = {"name": "  Cork Board  ", "description": "", "price": "3", "stock": "0"}
    assert post_form(client, "/items/new", data).status_code == 302
    item = the_only(app, Item)
    assert (item.name, item.description, item.stock) == ("Cork Board", "", 0)


@pytest.mark.parametrize(
    "price",
    [
        "1.234",
        "-5",
        "abc",
        "1e3",
        "NaN",
        "Infinity",
        "-0.01",
        "1000000.01",
        "99999999999999999999",
        "",
        "   ",
        "1,000",
        "12.",
        "$5",
        "0x10",
        "١٢",  # Arabic-Indic digits: Decimal() would accept them
        "1_000",
    ],
)
def test_create_item_with_a_bad_price_writes_nothing(app, client, admin, price):
    response = post_form(client, "/items/new", {**GOOD_ITEM, "price": price})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="price-error"' in html
    assert 'aria-invalid="true"' in html
    assert count(app, Item) == 0


@pytest.mark.parametrize(
    "stock", ["1.5", "-1", "abc", "", " ", "1e3", "1000001", "10" * 12, "½"]
)
def test_create_item_with_a_bad_stock_writes_nothing(app, client, admin, stock):
    response = post_form(client, "/items/new", {**GOOD_ITEM, "stock": stock})
    assert response.status_code == 422
    assert 'id="stock-error"' in response.get_data(as_text=True)
    assert count(app, Item) == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_item_with_a_bad_name_writes_nothing(app, client, admin, name):
    response = post_form(client, "/items/new", {**GOOD_ITEM, "name": name})
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)
    assert count(app, Item) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Lamp\x00"), ("name", "La\x1bmp"), ("description", "nul\x00here")],
)
def test_create_item_refuses_control_characters(app, client, admin, field, value):
    response = post_form(client, "/items/new", {**GOOD_ITEM, field: value})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert count(app, Item) == 0


def test_create_item_keeps_line_breaks_and_unicode(app, client, admin):
    data = {**GOOD_ITEM, "name": "Café\u00a0Mug ☕", "description": "One\r\nTwo\tthree"}
    assert post_form(client, "/items/new", data).status_code == 302
    item = the_only(app, Item)
    assert item.name == "Café\u00a0Mug ☕"
    assert item.description == "One\r\nTwo\tthree"


def test_create_item_accepts_a_200_character_name(app, client, admin):
    assert post_form(client, "/items/new", {**GOOD_ITEM, "name": "x" * 200}).status_code
    assert the_only(app, Item).name == "x" * 200


def test_create_item_refuses_an_overlong_description(app, client, admin):
    response = post_form(client, "/items/new", {**GOOD_ITEM, "description": "d" * 5001})
    assert response.status_code == 422
    assert count(app, Item) == 0


def test_failed_form_keeps_what_was_typed_and_escapes_it(client, admin):
    data = {**GOOD_ITEM, "name": HOSTILE, "price": "1.234"}
    html = post_form(client, "/items/new", data).get_data(as_text=True)
    assert 'value="1.234"' in html
    assert_escaped(html)


def test_create_item_without_csrf_token_writes_nothing(app, client, admin):
    response = client.post("/items/new", data=GOOD_ITEM)
    assert response.status_code == 400
    assert count(app, Item) == 0


def test_create_item_ignores_extra_fields(app, client, admin):
    data = {**GOOD_ITEM, "archived_at": "2020-01-01", "price_cents": "1", "id": "999"}
    assert post_form(client, "/items/new", data).status_code == 302
    item = the_only(app, Item)
    assert (item.price_cents, item.archived_at) == (1250, None)
    assert item.id != 999


def test_hostile_item_name_is_escaped_on_admin_pages(client, admin, make_item):
    item_id = make_item(name=HOSTILE)
    for url in (f"/items/{item_id}/edit", "/items/manage", f"/items/{item_id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_escaped(response.get_data(as_text=True))


# --- editing --------------------------------------------------------------------


def test_edit_form_is_prefilled_from_the_item(client, admin, make_item):
    item_id = make_item(name="Oak Stool", price_cents=1250, stock=3, description="Low")
    html = client.get(f"/items/{item_id}/edit").get_data(as_text=True)
    assert 'value="Oak Stool"' in html
    assert 'value="12.50"' in html
    assert 'value="3"' in html
    assert re.search(r">\s*Low</textarea>", html)
    assert f'href="/items/{item_id}"' in html  # cancel


def test_edit_saves_changes_and_redirects_to_the_item(app, client, admin, make_item):
    item_id = make_item(name="Oak Stool", price_cents=1250, stock=3)
    data = {"name": "Oak Stool II", "description": "", "price": "19.99", "stock": "40"}
    response = post_form(client, f"/items/{item_id}/edit", data)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/items/{item_id}"
    item = row_of(app, Item, item_id)
    assert (item.name, item.description, item.price_cents, item.stock) == (
        "Oak Stool II",
        "",
        1999,
        40,
    )
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "Saved “Oak Stool II”." in html


def test_edit_never_touches_the_price_paid(
    app, client, admin, make_item, make_user, make_purchase
):
    item_id = make_item(price_cents=1250)
    line_id = make_purchase(make_user(), item_id, 2, 1250)
    post_form(client, f"/items/{item_id}/edit", {**GOOD_ITEM, "price": "99.00"})
    line = row_of(app, UserItem, line_id)
    assert (line.quantity, line.unit_price_cents) == (2, 1250)
    assert row_of(app, Item, item_id).price_cents == 9900


def test_edit_with_bad_values_writes_nothing(app, client, admin, make_item):
    item_id = make_item(name="Oak Stool", price_cents=1250, stock=3)
    before = row_of(app, Item, item_id).updated_at
    bad = {"name": "", "price": "-5", "stock": "1.5", "description": ""}
    response = post_form(client, f"/items/{item_id}/edit", bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    for field in ("name", "price", "stock"):
        assert f'id="{field}-error"' in html
    item = row_of(app, Item, item_id)
    assert (item.name, item.price_cents, item.stock, item.updated_at) == (
        "Oak Stool",
        1250,
        3,
        before,
    )


def test_restock_through_the_edit_form(app, client, admin, make_item):
    item_id = make_item(stock=0)
    post_form(client, f"/items/{item_id}/edit", {**GOOD_ITEM, "stock": "25"})
    assert row_of(app, Item, item_id).stock == 25


def test_edit_refuses_a_stock_change_when_a_sale_happened_meanwhile(
    app, client, admin, make_item
):
    item_id = make_item(name="Lamp", stock=10)
    page = client.get(f"/items/{item_id}/edit").get_data(as_text=True)
    assert 'name="stock_seen" type="hidden" value="10"' in page
    set_item(app, item_id, stock=7)  # a shopper bought three meanwhile
    data = {
        "csrf_token": csrf_token_from(page),
        "stock_seen": "10",
        **GOOD_ITEM,
        "stock": "50",
    }
    response = client.post(f"/items/{item_id}/edit", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The stock changed to 7" in html
    assert 'name="stock_seen" type="hidden" value="7"' in html
    item = row_of(app, Item, item_id)
    assert (item.name, item.stock) == ("Lamp", 7)
    # Saving again, having seen the new figure, works.
    data["stock_seen"] = "7"
    assert client.post(f"/items/{item_id}/edit", data=data).status_code == 302
    assert row_of(app, Item, item_id).stock == 50


def test_edit_leaves_stock_alone_when_the_admin_did_not_change_it(
    app, client, admin, make_item
):
    item_id = make_item(name="Lamp", stock=10)
    page = client.get(f"/items/{item_id}/edit").get_data(as_text=True)
    set_item(app, item_id, stock=7)
    data = {"csrf_token": csrf_token_from(page), "stock_seen": "10", **GOOD_ITEM}
    data["stock"] = "10"
    assert client.post(f"/items/{item_id}/edit", data=data).status_code == 302
    item = row_of(app, Item, item_id)
    assert (item.name, item.stock) == ("Walnut Tray", 7)


def test_edit_without_stock_seen_sets_the_stock(app, client, admin, make_item):
    """A scripted client posting only the contract's four fields."""
    item_id = make_item(stock=10)
    set_item(app, item_id, stock=7)
    data = {**GOOD_ITEM, "stock": "30"}
    assert post_form(client, f"/items/{item_id}/edit", data).status_code == 302
    assert row_of(app, Item, item_id).stock == 30


def test_edit_with_junk_stock_seen_is_not_a_hidden_error(app, client, admin, make_item):
    item_id = make_item(stock=10)
    data = {**GOOD_ITEM, "stock": "30", "stock_seen": "<b>"}
    assert post_form(client, f"/items/{item_id}/edit", data).status_code == 302
    assert row_of(app, Item, item_id).stock == 30


def test_edit_bumps_updated_at(app, client, admin, make_item):
    item_id = make_item()
    set_item(app, item_id, updated_at=minutes_ago(60))
    post_form(client, f"/items/{item_id}/edit", GOOD_ITEM)
    assert row_of(app, Item, item_id).updated_at > minutes_ago(60)


def test_edit_an_unknown_item_is_404(app, client, admin):
    assert client.get("/items/999/edit").status_code == 404
    assert client.get("/items/2147483648/edit").status_code == 404
    assert client.get(f"/items/{'9' * 30}/edit").status_code == 404
    page = client.get("/items/new").get_data(as_text=True)
    data = {"csrf_token": csrf_token_from(page), **GOOD_ITEM}
    assert client.post("/items/999/edit", data=data).status_code == 404
    assert count(app, Item) == 0


# --- archiving ------------------------------------------------------------------


def test_archive_hides_the_item_and_keeps_its_history(
    app, client, admin, make_item, make_user, make_purchase
):
    item_id = make_item(name="Old Mug")
    make_purchase(make_user(), item_id)
    response = post_form(client, f"/items/{item_id}/archive", page=f"/items/{item_id}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/items/{item_id}"
    assert row_of(app, Item, item_id).archived_at is not None
    assert count(app, UserItem) == 1
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "Archived “Old Mug”" in html
    assert f'action="/items/{item_id}/restore"' in html
    assert "Archived</mark>" in html
    assert "Old Mug" not in client.get("/items/").get_data(as_text=True)


def test_restore_puts_the_item_back(app, client, admin, make_item):
    item_id = make_item(name="Old Mug", archived=True)
    response = post_form(client, f"/items/{item_id}/restore", page=f"/items/{item_id}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/items/{item_id}"
    assert row_of(app, Item, item_id).archived_at is None
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "Restored “Old Mug” to the catalogue." in html
    assert f'action="/items/{item_id}/archive"' in html
    assert "Old Mug" in client.get("/items/").get_data(as_text=True)


def test_archive_twice_keeps_the_first_date(app, client, admin, make_item):
    item_id = make_item(archived=True)
    set_item(app, item_id, archived_at=minutes_ago(5))
    post_form(client, f"/items/{item_id}/archive", page=f"/items/{item_id}")
    assert row_of(app, Item, item_id).archived_at == minutes_ago(5)


def test_archive_and_restore_only_by_post_with_csrf(app, client, admin, make_item):
    item_id = make_item()
    assert client.get(f"/items/{item_id}/archive").status_code == 405
    assert client.get(f"/items/{item_id}/restore").status_code == 405
    assert client.post(f"/items/{item_id}/archive").status_code == 400
    assert row_of(app, Item, item_id).archived_at is None
    set_item(app, item_id, archived_at=minutes_ago(1))
    assert client.post(f"/items/{item_id}/restore").status_code == 400
    assert row_of(app, Item, item_id).archived_at is not None


@pytest.mark.parametrize("item_id", ["999", "2147483648", "9" * 30])
def test_archive_or_restore_unknown_item_is_404(client, admin, item_id):
    for action in ("archive", "restore"):
        url = f"/items/{item_id}/{action}"
        assert post_form(client, url, page="/items/new").status_code == 404


def test_there_is_no_way_to_delete_an_item(app):
    """Only an item's pictures can be deleted (POST .../images/<id>/delete)."""
    for rule in app.url_map.iter_rules():
        assert "DELETE" not in rule.methods
        if rule.endpoint.startswith("items.") and rule.endpoint != "items.delete_image":
            assert "delete" not in rule.rule and "delete" not in rule.endpoint


def test_item_page_shows_admin_actions_to_admins_only(client, admin, make_item, app):
    item_id = make_item()
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f'href="/items/{item_id}/edit"' in html
    assert f'action="/items/{item_id}/archive"' in html
    assert 'id="buyers"' in html
    anonymous = app.test_client().get(f"/items/{item_id}").get_data(as_text=True)
    assert f"/items/{item_id}/edit" not in anonymous
    assert f"/items/{item_id}/archive" not in anonymous
    assert 'id="buyers"' not in anonymous


def test_shopper_cannot_add_edit_or_archive(app, make_item, make_user):
    client = app.test_client()
    make_user(email="sam@example.com")
    sign_in(client, "sam@example.com")
    item_id = make_item(name="Lamp", price_cents=1250, stock=4)
    token = csrf_token_from(client.get("/items/").get_data(as_text=True))
    assert client.get("/items/new").status_code == 403
    assert client.get("/items/manage").status_code == 403
    assert client.get(f"/items/{item_id}/edit").status_code == 403
    for url in ("/items/new", f"/items/{item_id}/edit"):
        data = {"csrf_token": token, **GOOD_ITEM}
        assert client.post(url, data=data).status_code == 403
    for url in (f"/items/{item_id}/archive", f"/items/{item_id}/restore"):
        assert client.post(url, data={"csrf_token": token}).status_code == 403
    item = row_of(app, Item, item_id)
    assert (item.name, item.price_cents, item.stock, item.archived_at) == (
        "Lamp",
        1250,
        4,
        None,
    )
    assert count(app, Item) == 1


# --- the stock page -------------------------------------------------------------


@pytest.fixture
def stock_mix(make_item):
    """One item in each state the stock page distinguishes."""
    return {
        "plenty": make_item(name="Plenty Lamp", stock=50),
        "low": make_item(name="Low Lamp", stock=5),
        "out": make_item(name="Gone Lamp", stock=0),
        "archived": make_item(name="Retired Lamp", stock=0, archived=True),
    }


def names_on(html: str) -> set[str]:
    return set(re.findall(r'<td><a href="/items/\d+">([^<]+)</a></td>', html))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"Plenty Lamp", "Low Lamp", "Gone Lamp", "Retired Lamp"}),
        ("?show=active", {"Plenty Lamp", "Low Lamp", "Gone Lamp"}),
        ("?show=low", {"Low Lamp", "Gone Lamp"}),
        ("?show=out", {"Gone Lamp"}),
        ("?show=archived", {"Retired Lamp"}),
        ("?show=bogus", {"Plenty Lamp", "Low Lamp", "Gone Lamp", "Retired Lamp"}),
        ("?q=gone", {"Gone Lamp"}),
        ("?q=LAMP&show=low", {"Low Lamp", "Gone Lamp"}),
        ("?q=%25", set()),
        ("?q=Gone%00", {"Gone Lamp"}),
        ("?q=%00%01", {"Plenty Lamp", "Low Lamp", "Gone Lamp", "Retired Lamp"}),
        ("?q=_", set()),
    ],
)
def test_stock_page_filters(client, admin, stock_mix, query, expected):
    response = client.get(f"/items/manage{query}")
    assert response.status_code == 200
    assert names_on(response.get_data(as_text=True)) == expected


def test_stock_page_counts_each_filter(client, admin, stock_mix):
    html = client.get("/items/manage").get_data(as_text=True)
    for label, number in [
        ("All", 4),
        ("On sale", 3),
        ("Low stock", 2),
        ("Out of stock", 1),
        ("Archived", 1),
    ]:
        assert f'{label} <span class="badge">{number}</span>' in html


def test_stock_page_links_to_edit_and_sorts(client, admin, stock_mix):
    html = client.get("/items/manage?sort=stock").get_data(as_text=True)
    for item_id in stock_mix.values():
        assert f'href="/items/{item_id}/edit"' in html
    order = re.findall(r'<td><a href="/items/\d+">([^<]+)</a></td>', html)
    assert order[-1] == "Plenty Lamp"
    html = client.get("/items/manage?sort=-stock").get_data(as_text=True)
    assert re.findall(r'<td><a href="/items/\d+">([^<]+)</a></td>', html)[0] == (
        "Plenty Lamp"
    )
    assert client.get("/items/manage?sort=drop+table").status_code == 200


def test_stock_page_is_paginated(client, admin, make_item):
    for n in range(55):
        make_item(name=f"Thing {n:02d}")
    first = client.get("/items/manage").get_data(as_text=True)
    second = client.get("/items/manage?page=2").get_data(as_text=True)
    assert len(names_on(first)) == 50
    assert names_on(second) == {f"Thing {n}" for n in range(50, 55)}
    assert 'href="/items/manage?page=2"' in first


@pytest.mark.parametrize("page", ["0", "-1", "3", "999999", "9" * 30])
def test_stock_page_bad_page_is_404(client, admin, make_item, page):
    make_item()
    assert client.get(f"/items/manage?page={page}").status_code == 404


def test_stock_page_junk_page_is_the_first(client, admin, make_item):
    make_item(name="Only Lamp")
    response = client.get("/items/manage?page=abc")
    assert response.status_code == 200
    assert names_on(response.get_data(as_text=True)) == {"Only Lamp"}


def test_stock_page_query_count_does_not_grow(app, client, admin, make_item):
    def queries() -> int:
        with count_queries(app) as statements:
            assert client.get("/items/manage").status_code == 200
        return len(statements)

    for _ in range(3):
        make_item()
    few = queries()
    for _ in range(27):
        make_item()
    assert queries() == few


# --- buyers on the item page ----------------------------------------------------


def test_buyers_page_shape_and_summary(
    app_context, make_item, make_user, make_purchase
):
    item_id = make_item(price_cents=1000)
    other_item = make_item()
    ann, bob = make_user(name="Ann"), make_user(name="Bob")
    make_purchase(ann, item_id, 2, 1000, minutes_ago(30))
    make_purchase(bob, item_id, 1, 800, minutes_ago(20))
    make_purchase(ann, item_id, 3, 1000, minutes_ago(10))
    make_purchase(ann, other_item, 5, 1000, minutes_ago(5))
    buyers = buyers_page(db.session.get(Item, item_id), 1)
    assert isinstance(buyers, Buyers)
    assert (buyers.lines, buyers.units, buyers.revenue_cents, buyers.customers) == (
        3,
        6,
        5800,
        2,
    )
    assert buyers.pagination.total == 3
    assert buyers.pagination.per_page == BUYERS_PER_PAGE == 20
    lines = buyers.pagination.items
    assert [line.quantity for line in lines] == [3, 1, 2]  # newest first
    assert [line.user_name for line in lines] == ["Ann", "Bob", "Ann"]
    assert [line.total_cents for line in lines] == [3000, 800, 2000]


def test_buyers_page_of_an_item_nobody_bought(app_context, make_item):
    buyers = buyers_page(db.session.get(Item, make_item()), 1)
    assert (buyers.lines, buyers.units, buyers.revenue_cents, buyers.customers) == (
        0,
        0,
        0,
        0,
    )
    assert buyers.pagination.items == []
    assert buyers.pagination.pages == 0


def test_buyers_page_pages_by_twenty_and_clamps(
    app_context, make_item, make_users, make_purchase
):
    item_id = make_item()
    for n, (user_id, _) in enumerate(make_users(45)):
        make_purchase(user_id, item_id, 1, 100, minutes_ago(n))
    first, third = (
        buyers_page(db.session.get(Item, item_id), 1),
        buyers_page(db.session.get(Item, item_id), 3),
    )
    assert len(first.pagination.items) == 20
    assert first.pagination.pages == 3
    assert first.pagination.items[0].user_name == "Buyer 0"  # newest
    assert [line.user_name for line in third.pagination.items] == [
        f"Buyer {n}" for n in range(40, 45)
    ]
    past_the_end = buyers_page(db.session.get(Item, item_id), 99)
    assert past_the_end.pagination.page == 3
    assert buyers_page(db.session.get(Item, item_id), -4).pagination.page == 1


def test_buyers_page_uses_two_queries_however_many_buyers(
    app, app_context, make_item, make_users, make_purchase
):
    # The item (whose running totals are the summary) and the page of lines.
    def queries(item_id: int) -> int:
        db.session.rollback()  # a transaction of its own, as a request has
        with count_queries(app) as statements:
            buyers = buyers_page(db.session.get(Item, item_id), 1)
            for line in buyers.pagination.items:
                assert line.user_email
        db.session.expunge_all()
        # SQLite's explicit BEGIN is not a query of ours.
        return len([s for s in statements if not s.startswith("BEGIN")])

    few, many = make_item(), make_item()
    users = make_users(30)
    for user_id, _ in users[:3]:
        make_purchase(user_id, few)
    for user_id, _ in users:
        make_purchase(user_id, many)
    assert queries(few) == queries(many) == 2


def test_item_page_lists_buyers_with_constant_queries(
    app, client, admin, make_item, make_users, make_purchase
):
    def queries(item_id: int) -> int:
        with count_queries(app) as statements:
            html = client.get(f"/items/{item_id}").get_data(as_text=True)
        assert "Buyer 2" in html
        return len(statements)

    few, many = make_item(), make_item()
    users = make_users(30)
    for user_id, _ in users[:3]:
        make_purchase(user_id, few)
    for user_id, _ in users:
        make_purchase(user_id, many)
    assert queries(few) == queries(many)


def test_item_page_buyers_section(client, admin, make_item, make_user, make_purchase):
    item_id = make_item(price_cents=1250)
    buyer = make_user(name=HOSTILE, email="hostile@example.com")
    make_purchase(buyer, item_id, 2, 1250)
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "2 units sold" in html
    assert "to 1 customer" in html
    assert "$25.00" in html
    assert f'href="/users/{buyer}"' in html
    assert "hostile@example.com" in html
    assert f'href="/purchases/all?item_id={item_id}"' in html
    assert f'href="/purchases/export.csv?item_id={item_id}"' in html
    assert_escaped(html)


def test_item_page_buyers_pagination_links(
    client, admin, make_item, make_users, make_purchase
):
    item_id = make_item()
    for n, (user_id, _) in enumerate(make_users(25)):
        make_purchase(user_id, item_id, 1, 100, minutes_ago(n))
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert f'href="/items/{item_id}?buyers_page=2#buyers"' in html
    second = client.get(f"/items/{item_id}?buyers_page=2").get_data(as_text=True)
    assert "Buyer 24" in second and "Buyer 0<" not in second


def test_buyers_partial_renders_on_its_own(app, make_item, make_user, make_purchase):
    """The include contract: `item` and `buyers` in scope."""
    item_id = make_item()
    make_purchase(make_user(name="Ann"), item_id, 4, 250)
    with app.test_request_context(f"/items/{item_id}"):
        html = render_template(
            "items/_buyers.html",
            item=db.session.get(Item, item_id),
            buyers=buyers_page(db.session.get(Item, item_id), 1),
        )
    assert "4 units sold" in html
    assert "$10.00" in html
    assert ">Ann</a>" in html


def test_revenue_does_not_overflow_32_bits(app, client, admin, make_item, make_user):
    item_id = make_item(price_cents=100_000_000)
    buyer = make_user()
    # A line written straight to the table (no order): the 64-bit sums are
    # what is tested, not the checkout.
    with app.app_context():
        db.session.add(
            UserItem(
                user_id=buyer,
                item_id=item_id,
                quantity=1000,
                unit_price_cents=100_000_000,
            )
        )
        db.session.commit()
    html = client.get(f"/items/{item_id}").get_data(as_text=True)
    assert "$1,000,000,000.00" in html  # 10**11 cents


# --- every bad value of the item form writes nothing (SECURITY 11) ------------------


BAD_ITEM_FIELDS = [
    ("price", "-5"),
    ("price", "abc"),
    ("price", "1.234"),
    ("price", ""),
    ("price", "1e3"),
    ("price", "NaN"),
    ("price", str(10**20)),
    ("stock", "-1"),
    ("stock", "1.5"),
    ("stock", "abc"),
    ("stock", ""),
    ("stock", str(10**20)),
    ("name", ""),
    ("name", "   "),
    # Invisible format characters that make a name display as another:
    # a right-to-left override, a zero-width space, a left-to-right mark.
    ("name", "Lamp\u202egnp.exe"),
    ("name", "Lamp\u200b"),
    ("name", "\u200eLamp"),
    ("name", "x" * 201),
    ("name", "nul\x00byte"),
]


def test_s11_admin_item_form_refuses_bad_values_and_writes_nothing(app, store):
    admin = client_for(app, "admin@example.com")
    edit = f"/items/{store['lamp']}/edit"
    before = db_state(app)
    for field, value in BAD_ITEM_FIELDS:
        created = post_form(admin, "/items/new", {**GOOD_ITEM, field: value})
        assert created.status_code == 422, (field, value)
        assert 'aria-invalid="true"' in html_of(created)
        edited = post_form(admin, edit, {**GOOD_ITEM, field: value})
        assert edited.status_code == 422, (field, value)
    without = {k: v for k, v in GOOD_ITEM.items() if k != "price"}
    assert post_form(admin, "/items/new", without).status_code == 422
    assert db_state(app) == before
