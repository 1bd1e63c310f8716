"""The catalogue and item pages: paging, search, sort, prices, stock, archived
items, odd query strings and page numbers, and hostile names on every page
(SECURITY 1, 3, 4, 13; hostile searches and sorts of every list: test_search.py)."""

from __future__ import annotations

import re

import pytest

from config import ROOT
from tests.helpers import (
    add_to_cart,
    assert_no_hash,
    attributes,
    checkout,
    client_for,
    get_html,
    html_of,
    item_ids_linked,
    minutes_ago,
    set_item,
    sign_in,
    valid_csrf,
)

# --- paging ----------------------------------------------------------------------


def test_catalogue_shows_24_items_a_page_with_links_to_page_two(client, make_items):
    ids = make_items(30)

    first = get_html(client, "/items/")
    assert item_ids_linked(first) == ids[:24]
    assert 'href="/items/?page=2"' in first
    assert "30 items" in first

    second = get_html(client, "/items/?page=2")
    assert item_ids_linked(second) == ids[24:]
    assert 'href="/items/?page=1"' in second
    assert 'href="/items/?page=3"' not in second


def test_catalogue_page_links_keep_the_search_and_sort(client, make_items):
    make_items(30)
    html = get_html(client, "/items/?q=item&sort=-price")
    assert re.search(r'href="/items/\?q=item&amp;sort=-price&amp;page=2"', html)


def test_page_past_the_end_is_404(client, make_items):
    make_items(3)
    assert client.get("/items/?page=2").status_code == 404


def test_item_links_point_at_the_item_page(client, make_item):
    item_id = make_item(name="Teapot")
    html = get_html(client, "/items/")
    assert f'href="/items/{item_id}"' in html
    assert "Teapot" in get_html(client, f"/items/{item_id}")


# --- search ----------------------------------------------------------------------


def test_search_is_case_insensitive_and_shows_the_query_back(client, make_item):
    red = make_item(name="Red Apple")
    green = make_item(name="green apple")
    banana = make_item(name="Banana")

    html = get_html(client, "/items/?q=APPLE")
    assert sorted(item_ids_linked(html)) == sorted([red, green])
    assert banana not in item_ids_linked(html)
    assert 'name="q" value="APPLE"' in html


def test_search_with_no_match_says_so(client, make_item):
    make_item(name="Banana")
    html = get_html(client, "/items/?q=zzzz")
    assert "No items match “zzzz”" in html
    assert item_ids_linked(html) == []


def test_search_box_escapes_the_echoed_query(client, make_item):
    make_item(name="Banana")
    hostile = '<iframe src="javascript:alert(1)">'
    response = client.get("/items/", query_string={"q": hostile})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<iframe" not in html
    assert 'value="&lt;iframe src=&#34;javascript:alert(1)&#34;&gt;"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [("%", "100% cotton"), ("_", "snake_case mug"), ("\\", "back\\slash")],
)
def test_search_takes_like_wildcards_literally(client, make_item, query, expected):
    names = ["100% cotton", "snake_case mug", "back\\slash", "Plain thing"]
    ids = {name: make_item(name=name) for name in names}
    html = client.get("/items/", query_string={"q": query}).get_data(as_text=True)
    assert item_ids_linked(html) == [ids[expected]]


# --- sorting ---------------------------------------------------------------------


@pytest.fixture
def three_items(app, make_item):
    """Banana is the newest, Cherry the oldest; prices run the other way from names."""
    ids = {
        "Apple": make_item(name="Apple", price_cents=300),
        "Banana": make_item(name="Banana", price_cents=100),
        "Cherry": make_item(name="Cherry", price_cents=200),
    }
    for age, name in enumerate(["Banana", "Apple", "Cherry"]):
        set_item(app, ids[name], created_at=minutes_ago(age))
    return ids


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("name", ["Apple", "Banana", "Cherry"]),
        ("price", ["Banana", "Cherry", "Apple"]),
        ("-price", ["Apple", "Cherry", "Banana"]),
        ("newest", ["Banana", "Apple", "Cherry"]),
        (None, ["Apple", "Banana", "Cherry"]),
    ],
)
def test_sort_orders_the_catalogue(client, three_items, sort, order):
    query = {"sort": sort} if sort else {}
    html = client.get("/items/", query_string=query).get_data(as_text=True)
    assert item_ids_linked(html) == [three_items[name] for name in order]


@pytest.mark.parametrize("sort", ["bogus", ";DROP TABLE items", "price desc", ""])
def test_unknown_sort_falls_back_to_name_order(client, three_items, sort):
    response = client.get("/items/", query_string={"sort": sort})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert item_ids_linked(html) == [
        three_items[n] for n in ("Apple", "Banana", "Cherry")
    ]
    assert '<option value="name" selected>' in html


# --- prices and stock ------------------------------------------------------------


def test_prices_show_as_dollars_with_cents_and_thousands(client, make_item):
    cheap = make_item(name="Cheap", price_cents=1250)
    dear = make_item(name="Dear", price_cents=123456)
    free = make_item(name="Free", price_cents=5)
    catalogue = get_html(client, "/items/")
    for text in ("$12.50", "$1,234.56", "$0.05"):
        assert text in catalogue
    assert "$12.50" in get_html(client, f"/items/{cheap}")
    assert "$1,234.56" in get_html(client, f"/items/{dear}")
    assert "$0.05" in get_html(client, f"/items/{free}")


def test_stock_is_shown_as_left_or_out_of_stock(client, make_item):
    low = make_item(name="Low", stock=3)
    none = make_item(name="Gone", stock=0)
    plenty = make_item(name="Plenty", stock=50)
    catalogue = get_html(client, "/items/")
    assert "3 left" in catalogue
    assert "Out of stock" in catalogue
    assert "50 in stock" in catalogue
    assert "3 left" in get_html(client, f"/items/{low}")
    sold_out = get_html(client, f"/items/{none}")
    assert "Out of stock" in sold_out
    assert re.search(r"<button type=\"submit\" disabled>", sold_out)
    assert "50 in stock" in get_html(client, f"/items/{plenty}")


def test_item_page_shows_description_and_add_to_cart_form(client, make_item):
    item_id = make_item(name="Kettle", description="Boils water quickly.")
    html = get_html(client, f"/items/{item_id}")
    assert "Boils water quickly." in html
    assert 'action="/purchases/cart"' in html
    assert re.search(rf'name="item_id"[^>]*type="hidden" value="{item_id}"', html)


# --- archived and unknown items --------------------------------------------------


def test_archived_items_are_never_listed_or_found(client, make_item):
    shown = make_item(name="Lamp shown")
    hidden = make_item(name="Lamp hidden", archived=True)
    for url in ("/items/", "/items/?q=lamp", "/items/?sort=newest"):
        ids = item_ids_linked(get_html(client, url))
        assert shown in ids
        assert hidden not in ids
    assert "1 item" in get_html(client, "/items/?q=lamp")


def test_archived_item_page_is_404_for_anonymous_and_shoppers(
    client, make_item, shopper
):
    hidden = make_item(name="Lamp hidden", archived=True)
    assert client.get(f"/items/{hidden}").status_code == 404
    client.post("/users/logout", data={"csrf_token": valid_csrf(client)})
    assert client.get(f"/items/{hidden}").status_code == 404


def test_archived_item_page_stays_visible_to_admins(client, make_item, admin):
    hidden = make_item(name="Lamp hidden", archived=True)
    html = get_html(client, f"/items/{hidden}")
    assert "Lamp hidden" in html
    assert "archived" in html
    assert hidden not in item_ids_linked(get_html(client, "/items/"))


@pytest.mark.parametrize(
    "url", ["/items/999999", "/items/0", "/items/abc", f"/items/{10**30}", "/items/-1"]
)
def test_unknown_item_is_404(client, make_item, url):
    make_item()
    assert client.get(url).status_code == 404


# --- odd query strings -----------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=999999",
        f"page={10**30}",
        "page=",
        "page=1.5",
        "q=%25",
        "q=_",
        "q=%27%20OR%201%3D1--",
        "q=%25%27%20UNION%20SELECT%20password_hash%20FROM%20users--",
        "sort=%3BDROP",
        "q=" + "x" * 5000,
        "q=%00",
        "q=%F0%9F%8D%B5",
        "q=%ff",
        "sort=name&sort=price&page=1&page=2",
    ],
)
def test_odd_query_strings_never_fail_or_leak(client, make_user, make_item, query):
    make_user(email="victim@example.com")
    make_item(name="Victim's item")
    response = client.get(f"/items/?{query}")
    assert response.status_code in (200, 404)
    assert_no_hash(response.get_data(as_text=True))


def test_sql_looking_searches_find_nothing_special(client, make_user, make_item):
    make_user(email="victim@example.com")
    make_item(name="Plain item")
    for q in ("' OR 1=1--", "%' UNION SELECT password_hash FROM users--"):
        html = client.get("/items/", query_string={"q": q}).get_data(as_text=True)
        assert item_ids_linked(html) == []
        assert "No items match" in html
        assert_no_hash(html)


# --- hostile names (SECURITY 1, 3, 4) --------------------------------------------

SCRIPT = "<script>alert(1)</script>"
QUOTE = '" onmouseover="alert(1)'
TEMPLATE = "{{7*7}}"
# How each name must appear in the HTML: as text, inside any quoted attribute.
ESCAPED = {
    SCRIPT: "&lt;script&gt;alert(1)&lt;/script&gt;",
    QUOTE: "&#34; onmouseover=&#34;alert(1)",
    TEMPLATE: "{{7*7}}",
}


def assert_escaped(html: str, names=tuple(ESCAPED)) -> None:
    assert "<script>alert(1)" not in html
    assert '" onmouseover="' not in html
    for name in names:
        assert ESCAPED[name] in html, name


def test_hostile_item_names_render_as_text_everywhere(client, make_item, make_user):
    ids = [make_item(name=name, stock=5) for name in (SCRIPT, QUOTE, TEMPLATE)]
    user_id = make_user(name=f"{SCRIPT}{QUOTE}{TEMPLATE}", email="mallory@example.com")

    assert_escaped(get_html(client, "/items/"))
    for item_id, name in zip(ids, ESCAPED, strict=True):
        assert_escaped(get_html(client, f"/items/{item_id}"), names=[name])

    sign_in(client, "mallory@example.com")
    for item_id in ids:
        assert add_to_cart(client, item_id).status_code == 302
    cart = get_html(client, "/purchases/cart")
    assert_escaped(cart)
    assert 'aria-label="Remove &#34; onmouseover=&#34;alert(1)"' in cart

    response = checkout(client)
    assert response.status_code == 302
    assert_escaped(get_html(client, response.headers["Location"]))
    assert_escaped(get_html(client, "/purchases/"))
    assert_escaped(get_html(client, f"/users/{user_id}"))


# --- hostile names on every page, odd page numbers (SECURITY 1, 3, 4, 13) -----------


XSS = "<script>alert(1)</script>"


XSS_USER = "<script>alert(2)</script>"


def test_s01_script_item_name_is_escaped_everywhere(app, make_user, make_item):
    item = make_item(name=XSS, stock=5)
    sam = make_user(name=XSS_USER, email="sam@example.com")
    make_user(name="Admin", email="admin@example.com", is_admin=True)
    shopper = client_for(app, "sam@example.com")
    pages = {}
    failed_add = add_to_cart(shopper, item, "abc")
    assert failed_add.status_code == 422
    pages["failed add"] = html_of(failed_add)
    assert add_to_cart(shopper, item, 2).status_code == 302
    pages["cart"] = html_of(shopper.get("/purchases/cart"))
    order = checkout(shopper)
    assert order.headers["Location"].startswith("/purchases/orders/")
    pages["order"] = html_of(shopper.get(order.headers["Location"]))
    for url in ("/purchases/", f"/users/{sam}", "/items/", f"/items/{item}"):
        pages[f"shopper {url}"] = html_of(shopper.get(url))
    anonymous = app.test_client()
    for url in ("/items/", "/items/?q=script", f"/items/{item}"):
        pages[f"anonymous {url}"] = html_of(anonymous.get(url))
    admin = client_for(app, "admin@example.com")
    for url in (
        f"/items/{item}",
        f"/items/{item}/edit",
        "/items/manage",
        "/items/manage?q=script",
        "/purchases/all",
        f"/purchases/all?item_id={item}",
        f"/purchases/all?user_id={sam}",
        "/users/",
        "/users/?q=script",
        f"/users/{sam}",
    ):
        response = admin.get(url)
        assert response.status_code == 200, url
        pages[f"admin {url}"] = html_of(response)

    for name, html in pages.items():
        assert "<script>alert(" not in html, name
        assert "&lt;script&gt;alert(" in html, name
    # The CSV export is not HTML: text/csv, never sniffed as a page.
    export = admin.get("/purchases/export.csv")
    assert export.mimetype == "text/csv"
    assert export.headers["X-Content-Type-Options"] == "nosniff"


def test_s03_quotes_in_names_stay_inside_their_attribute(app, make_user, make_item):
    name = 'Lamp" onmouseover="alert(1)'
    item = make_item(name=name, stock=5)
    make_user(name=name, email="sam@example.com")
    make_user(name="Admin", email="admin@example.com", is_admin=True)
    shopper = client_for(app, "sam@example.com")
    assert add_to_cart(shopper, item).status_code == 302
    admin = client_for(app, "admin@example.com")
    pages = {
        "cart": html_of(shopper.get("/purchases/cart")),  # aria-label="Remove …"
        "manage": html_of(admin.get("/items/manage")),  # aria-label="Edit …"
        "users": html_of(admin.get("/users/")),  # aria-label="…: name"
        "edit": html_of(admin.get(f"/items/{item}/edit")),  # value="…"
        "catalogue": html_of(shopper.get("/items/")),
    }
    for page, html in pages.items():
        found = attributes(html)
        assert not [a for a in found if a[1].startswith("on")], page
        assert '" onmouseover="' not in html, page  # the quote is always escaped
        if page != "catalogue":
            # The whole name, quotes and all, is one attribute's value.
            assert any(value and name in value for _, _, value in found), page


def test_s04_template_syntax_in_data_renders_literally(app, make_item):
    item = make_item(name="{{7*7}}", description="{{ config.SECRET_KEY }} {% if 1 %}")
    html = html_of(app.test_client().get(f"/items/{item}"))
    assert "{{7*7}}" in html
    assert "{{ config.SECRET_KEY }} {% if 1 %}" in html
    assert app.config["SECRET_KEY"] not in html
    # And nothing in the store builds templates from strings at all.
    for path in (ROOT / "app").rglob("*.py"):
        source = path.read_text()
        for risky in ("render_template_string", "from_string(", "Template("):
            assert risky not in source, f"{path.name} uses {risky}"


def test_s13_odd_page_numbers_are_a_page_or_404(app, store):
    shopper = client_for(app, "sam@example.com")
    admin = client_for(app, "admin@example.com")
    pages = (
        (app.test_client(), "/items/", "page"),
        (shopper, "/purchases/", "page"),
        (shopper, f"/users/{store['sam']}", "page"),
        (admin, "/purchases/all", "page"),
        (admin, "/items/manage", "page"),
        (admin, "/users/", "page"),
        (admin, f"/items/{store['lamp']}", "buyers_page"),
    )
    for number in ("0", "-1", "abc", "999999", "1e9", "", "2.5", str(2**63)):
        for client, url, name in pages:
            response = client.get(url, query_string={name: number})
            assert response.status_code in (200, 404), (url, name, number)
