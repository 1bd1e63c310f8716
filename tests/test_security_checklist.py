"""SECURITY.md, item by item: one test (or a small group) named after each of
the 36 checks. Data items run on the run's engine (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set; `make test` runs both). Headers, cookies, throttling
and concurrency are also checked against the store as gunicorn serves it.

Where another test file covers an item in depth, the test here exercises the
same behaviour again through HTTP, so this file alone answers "is item N held?".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from app.extensions import db
from app.models import SEARCH_OBJECTS, Item, Order, User, UserItem, utcnow
from config import ROOT, database_url
from tests.helpers import (
    CSRF_RE,
    GOOD_ITEM,
    PASSWORD_HASH_MARKERS,
    TEST_PASSWORD,
    TOKEN_RE,
    add_to_cart,
    assert_local,
    assert_plain_error_page,
    assert_security_headers,
    attributes,
    checkout,
    checkout_form,
    client_for,
    cookie_flags,
    count,
    db_state,
    fresh_database,
    html_of,
    is_signed_in,
    item_ids_linked,
    password_hash,
    post_form,
    row_of,
    rules_of,
    run_python,
    set_cookies,
    set_item,
    sign_in,
    sign_out,
    stock_of,
    url_for_rule,
    valid_csrf,
)
from tests.servers import Server, gunicorn_store
from tests.test_route_access import ACCESS, RULES

FLASK = Path(sys.executable).with_name("flask")
NO_CONTROL_SOCKET = ("--no-control-socket",)  # several test servers at once


# --- Injection and output encoding -------------------------------------------------

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
        "/purchases/",
        f"/purchases/?item_id={item}",
        f"/purchases/?user_id={sam}",
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


def test_s02_search_query_is_escaped_when_echoed(app, store):
    hostile = '<iframe src="javascript:alert(1)">'
    admin = client_for(app, "admin@example.com")
    for client, url in (
        (app.test_client(), "/items/"),
        (admin, "/items/manage"),
        (admin, "/users/"),
    ):
        response = client.get(url, query_string={"q": hostile})
        assert response.status_code == 200, url
        html = html_of(response)
        assert "<iframe" not in html, url
        assert "&lt;iframe" in html, url


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


SQL_QUERIES = (
    "' OR 1=1--",
    "%' UNION SELECT password_hash FROM users--",
    "'; DROP TABLE items; --",
    '" OR ""="',
    "\\' OR 1=1 /*",
)


def test_s05_sql_in_search_is_just_text(app, store):
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    for query in SQL_QUERIES:
        for client, url in (
            (app.test_client(), "/items/"),
            (admin, "/items/manage"),
            (admin, "/users/"),
        ):
            response = client.get(url, query_string={"q": query})
            assert response.status_code == 200, (url, query)
            html = html_of(response)
            for marker in PASSWORD_HASH_MARKERS:
                assert marker not in html, (url, query)
            assert ">Lamp<" not in html, f"{url}: {query!r} matched everything"
        for name in ("user_id", "item_id"):
            response = admin.get("/purchases/", query_string={name: f"1 {query}"})
            assert response.status_code == 400, (name, query)
    assert db_state(app) == before


def test_s06_sql_in_the_login_email_is_an_ordinary_failure(app, store):
    for email in ("sam@example.com'--", "' OR '1'='1", "sam@example.com' OR 1=1--"):
        for password in ("anything-at-all", TEST_PASSWORD):
            client = app.test_client()
            form = {"email": email, "password": password}
            response = post_form(client, "/users/login", form)
            assert response.status_code == 422, email
            assert "Invalid email or password." in html_of(response)
            assert not is_signed_in(client)


BAD_SORTS = (
    "name; DROP TABLE items",
    "price_cents",
    "password_hash",
    "id desc",
    "-name",
    "",
    "\x00",
    "Price",
    "name,(SELECT 1)",
)


def test_s07_sort_accepts_only_its_allow_list(app, make_item, make_user):
    make_item(name="Banana", price_cents=300)
    make_item(name="Apple", price_cents=900)
    make_item(name="Cherry", price_cents=100)
    make_user("Admin", "admin@example.com", is_admin=True)
    client = app.test_client()
    admin = client_for(app, "admin@example.com")
    default = item_ids_linked(html_of(client.get("/items/")))
    by_price = item_ids_linked(html_of(client.get("/items/?sort=price")))
    assert by_price != default  # the allowed sorts do sort
    for sort in BAD_SORTS:
        response = client.get("/items/", query_string={"sort": sort})
        assert response.status_code in (200, 400), sort
        if response.status_code == 200:
            assert item_ids_linked(html_of(response)) == default, sort
        for url in ("/items/manage", "/users/"):
            response = admin.get(url, query_string={"sort": sort})
            assert response.status_code in (200, 400), (url, sort)


# --- Input validation and business rules --------------------------------------------

BAD_QUANTITIES = ["-1", "0", "1.5", "abc", "", None, "6", str(10**12), "1e3", " "]


def test_s08_bad_quantities_are_refused_and_write_nothing(app, store):
    lamp = store["lamp"]  # 4 in stock
    empty = client_for(app, "sam@example.com")
    holding = client_for(app, "sam@example.com")
    assert add_to_cart(holding, lamp, 1).status_code == 302
    before = db_state(app)
    for quantity in BAD_QUANTITIES:
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


GOOD_SIGNUP = {
    "name": "Nina New",
    "email": "nina@example.com",
    "password": "a-long-unusual-passphrase",
    "password_confirm": "a-long-unusual-passphrase",
}


BAD_SIGNUPS = (
    {"name": ""},
    {"email": ""},
    {"password": "", "password_confirm": ""},
    {"password_confirm": ""},
    {"password_confirm": "a-long-unusual-passphrasE"},
    {"email": "not-an-email"},
    {"email": "nina@"},
    {"email": "@example.com"},
    {"password": "short7!", "password_confirm": "short7!"},
    {"password": "password", "password_confirm": "password"},
    {"password": "qwertyuiop", "password_confirm": "qwertyuiop"},
    {"password": "x" * 129, "password_confirm": "x" * 129},
)


def test_s12_bad_signups_show_errors_and_create_no_user(app):
    for changes in BAD_SIGNUPS:
        client = app.test_client()
        response = post_form(client, "/users/register", {**GOOD_SIGNUP, **changes})
        assert response.status_code == 422, changes
        assert "field-error" in html_of(response), changes
        assert count(app, User) == 0, changes
        assert not is_signed_in(client)
    missing = {k: v for k, v in GOOD_SIGNUP.items() if k != "email"}
    assert post_form(app.test_client(), "/users/register", missing).status_code == 422
    assert count(app, User) == 0


def test_s13_odd_page_numbers_are_a_page_or_404(app, store):
    shopper = client_for(app, "sam@example.com")
    admin = client_for(app, "admin@example.com")
    pages = (
        (app.test_client(), "/items/", "page"),
        (shopper, "/purchases/", "page"),
        (shopper, f"/users/{store['sam']}", "page"),
        (admin, "/purchases/", "page"),
        (admin, "/items/manage", "page"),
        (admin, "/users/", "page"),
        (admin, f"/items/{store['lamp']}", "buyers_page"),
    )
    for number in ("0", "-1", "abc", "999999", "1e9", "", "2.5", str(2**63)):
        for client, url, name in pages:
            response = client.get(url, query_string={name: number})
            assert response.status_code in (200, 404), (url, name, number)


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


# --- 15: many buyers, many processes ---------------------------------------------------

BUYERS = 60
UNITS = 10


def _prepare_buyer(server: Server, email: str, item_id: int):
    """Sign in, put one unit in the cart and open the cart page (its forms)."""
    browser = server.browser()
    login = browser.submit(
        "/users/login", "/users/login", {"email": email, "password": TEST_PASSWORD}
    )
    assert login.status == 302, login.text
    added = browser.submit(
        f"/items/{item_id}", "/purchases/cart", {"item_id": item_id, "quantity": 1}
    )
    assert added.status == 302, added.text
    cart = browser.get("/purchases/cart").text
    form = {
        "csrf_token": CSRF_RE.search(cart).group(1),
        "token": TOKEN_RE.search(cart).group(1),
    }
    return browser, form


def statuses_in_access_log(log: str) -> list[int]:
    return [int(s) for s in re.findall(r'"[A-Z]+ \S+ HTTP/1\.[01]" (\d{3})', log)]


@pytest.mark.slow
def test_s15_many_buyers_in_many_gunicorn_processes_get_exactly_the_units(
    app, database_uri, make_item, make_users, tmp_path, engine_name
):
    """60 signed-in buyers, one unit each, 10 units: 4 workers × 2 threads."""
    lamp = make_item(name="Last Lamp", price_cents=999, stock=UNITS)
    buyers = make_users(BUYERS)
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=4,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        LOGIN_RATE_LIMIT="100000 per minute",
    ) as server:
        with ThreadPoolExecutor(8) as pool:
            prepared = list(
                pool.map(lambda b: _prepare_buyer(server, b[1], lamp), buyers)
            )
        assert stock_of(app, lamp) == UNITS
        barrier = threading.Barrier(BUYERS)
        results: list = [None] * BUYERS

        def buy(index: int) -> None:
            browser, form = prepared[index]
            try:
                barrier.wait(timeout=30)
                results[index] = browser.post("/purchases/checkout", form)
            except BaseException as error:  # reported below
                results[index] = error

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(BUYERS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in threads), "a checkout hung"
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        winners = [
            i
            for i, r in enumerate(results)
            if r.location.startswith("/purchases/orders/")
        ]
        losers = [i for i, r in enumerate(results) if r.location == "/purchases/cart"]
        carts = [prepared[i][0].get("/purchases/cart").text for i in losers]
    log = server.log_text()

    assert sorted({r.status for r in results}) == [302], "no checkout may fail"
    assert len(winners) == UNITS, f"{len(winners)} won in {elapsed:.1f}s"
    assert len(losers) == BUYERS - UNITS
    for cart in carts:  # every other buyer is told, and keeps the cart
        assert "Not enough stock for: Last Lamp. Nothing was bought." in cart
        assert "very busy" not in cart
    assert stock_of(app, lamp) == 0
    assert count(app, UserItem) == UNITS
    assert count(app, Order) == UNITS
    with app.app_context():
        buyer_ids = sorted(db.session.scalars(sa.select(UserItem.user_id)))
    assert buyer_ids == sorted(buyers[i][0] for i in winners)
    assert 500 not in statuses_in_access_log(log)
    for text in [r.text for r in results] + carts + [log]:
        assert "database is locked" not in text
        assert "Traceback" not in text


# --- Browser-facing protections --------------------------------------------------------


def post_rules(app: Flask) -> list:
    return [rule for rule in rules_of(app) if "POST" in rule.methods]


@pytest.mark.parametrize("who", ["anonymous", "shopper", "admin"])
def test_s16_every_post_without_a_valid_csrf_token_is_400(app, store, who):
    email = {
        "anonymous": None,
        "shopper": "sam@example.com",
        "admin": "admin@example.com",
    }
    client = client_for(app, email[who])
    assert add_to_cart(client, store["lamp"]).status_code == 302
    payload = {
        **GOOD_ITEM,
        "item_id": store["lamp"],
        "quantity": "1",
        "email": "sam@example.com",
        "password": TEST_PASSWORD,
        "password_confirm": TEST_PASSWORD,
    }
    before = db_state(app)
    for rule in post_rules(app):
        url = url_for_rule(rule, store)
        for token in (None, "", "forged-token", valid_csrf(app.test_client())):
            data = dict(payload) if token is None else {**payload, "csrf_token": token}
            response = client.post(url, data=data)
            assert response.status_code == 400, (url, token)
            assert "Bad request" in html_of(response)
    assert db_state(app) == before
    assert client.get("/purchases/cart").status_code == 200


def test_s17_state_changes_only_by_post(app, store):
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    for url in ("/users/logout", f"/items/{store['lamp']}/archive"):
        assert admin.get(url).status_code == 405
    get_paths = {rule.rule for rule in rules_of(app) if "GET" in rule.methods}
    for rule in post_rules(app):
        if rule.rule in get_paths:
            continue  # a form page (or the cart): GET draws it, writing nothing
        url = url_for_rule(rule, store)
        response = admin.get(url)
        assert response.status_code == 405, url
        assert "POST" in response.headers["Allow"]
    assert db_state(app) == before
    assert is_signed_in(admin)


def test_s18_session_and_remember_cookies_are_httponly_and_lax(app, store):
    response = sign_in(app.test_client(), "sam@example.com", remember=True)
    cookies = set_cookies(response)
    assert {"session", "remember_token"} <= set(cookies)
    for name in ("session", "remember_token"):
        flags = cookie_flags(cookies[name])
        assert {"httponly", "samesite=lax"} <= flags, name
        assert "secure" not in flags, name  # development over plain HTTP


# --- the store under gunicorn, production settings ------------------------------------


@pytest.fixture(scope="module")
def production_server(database_uri, tmp_path_factory) -> Iterator[Server]:
    """gunicorn -c gunicorn.conf.py wsgi:app, STORE_ENV=production, TRUSTED_HOSTS set."""
    with gunicorn_store(
        database_uri,
        tmp_path_factory.mktemp("production"),
        workers=2,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        TRUSTED_HOSTS="127.0.0.1, localhost",
        LOGIN_RATE_LIMIT="1000 per minute",
    ) as server:
        yield server


@pytest.mark.slow
def test_s18_production_cookies_are_secure_httponly_and_lax(production_server, store):
    browser = production_server.browser()
    login = browser.submit(
        "/users/login",
        "/users/login",
        {"email": "sam@example.com", "password": TEST_PASSWORD, "remember": "y"},
    )
    assert login.status == 302
    cookies = login.set_cookies
    assert {"session", "remember_token"} <= set(cookies)
    for name in ("session", "remember_token"):
        assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(cookies[name])


def test_s19_every_html_page_carries_the_security_headers(app, store):
    admin = client_for(app, "admin@example.com")
    seen = 0
    for rule in rules_of(app):
        if "GET" not in rule.methods or rule.endpoint in ("static", "main.healthz"):
            continue
        url = url_for_rule(rule, store)
        response = admin.get(url)
        if response.mimetype != "text/html":
            assert response.headers["X-Content-Type-Options"] == "nosniff", url
            continue
        assert_security_headers(response.headers, url)
        seen += 1
    assert seen >= 10
    # Error pages and the pages of anonymous visitors too.
    anonymous = app.test_client()
    for url, status in (
        ("/no-such-page", 404),
        ("/users/logout", 405),
        ("/users/login", 200),
    ):
        response = anonymous.get(url)
        assert response.status_code == status
        assert_security_headers(response.headers, url)
    # No inline scripts, so the CSP can forbid them: pages carry no <script> body.
    for url in ("/items/", "/users/login", "/purchases/cart"):
        html = html_of(anonymous.get(url))
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not [a for a in attributes(html) if a[1].startswith("on")], url


@pytest.mark.slow
def test_s19_headers_as_gunicorn_serves_them(production_server, store):
    browser = production_server.browser()
    for url, status in (
        ("/items/", 200),
        (f"/items/{store['lamp']}", 200),
        ("/users/login", 200),
        ("/no-such-page", 404),
        ("/users/logout", 405),
    ):
        reply = browser.get(url)
        assert reply.status == status, url
        assert_security_headers(reply.headers, url)
        assert reply.header("Cache-Control") == "no-store", url
    assert browser.get("/healthz").header("X-Content-Type-Options") == "nosniff"


def test_s20_no_hsts_in_development(app):
    assert "Strict-Transport-Security" not in app.test_client().get("/items/").headers


@pytest.mark.slow
def test_s20_hsts_in_production_under_gunicorn(production_server):
    browser = production_server.browser()
    for url in ("/items/", "/no-such-page", "/healthz"):
        hsts = browser.get(url).header("Strict-Transport-Security")
        assert hsts, url
        max_age = int(hsts.split(";")[0].strip().removeprefix("max-age="))
        assert max_age >= 31536000
        assert "includesubdomains" in hsts.lower()


CROSS_ORIGIN = {
    "Origin": "https://evil.example",
    "Access-Control-Request-Method": "POST",
}


def test_s21_cross_origin_requests_get_no_cors_headers(app, store):
    client = client_for(app, "sam@example.com")
    for method, url in (
        ("GET", "/items/"),
        ("GET", "/purchases/"),
        ("OPTIONS", "/purchases/checkout"),
        ("OPTIONS", "/users/login"),
        ("GET", "/healthz"),
    ):
        response = client.open(url, method=method, headers=CROSS_ORIGIN)
        assert "Access-Control-Allow-Origin" not in response.headers, url
        assert "Access-Control-Allow-Credentials" not in response.headers, url


@pytest.mark.slow
def test_s21_cross_origin_requests_get_no_cors_headers_under_gunicorn(
    production_server,
):
    browser = production_server.browser()
    for method, url in (
        ("GET", "/items/"),
        ("OPTIONS", "/purchases/checkout"),
        ("GET", "/healthz"),
    ):
        reply = browser.request(method, url, headers=CROSS_ORIGIN)
        assert reply.status < 500
        assert reply.header("Access-Control-Allow-Origin") is None, url


@pytest.mark.slow
def test_trusted_hosts_refuse_a_foreign_host_header_under_gunicorn(production_server):
    """TRUSTED_HOSTS: a forged Host (cache poisoning, password-reset links) is 400."""
    for host in ("evil.example", "127.0.0.1.evil.example", "evil.example:8000"):
        reply = production_server.browser(host=host).get("/items/")
        assert reply.status == 400, host
        assert "Bad request" in reply.text
        assert "evil" not in reply.text
    assert production_server.browser(host="localhost:8000").get("/items/").status == 200


def test_trusted_hosts_refuse_a_foreign_host_header(make_app):
    """The 400 page for a foreign host is drawn without the layout (no URL can
    be built for that host), and still carries the security headers."""
    strict = make_app(TRUSTED_HOSTS=["shop.example", ".shop.example"], TESTING=False)
    client = strict.test_client()
    for host in ("evil.example", "shop.example.evil.example", "evil.example:443"):
        response = client.get("/items/", headers={"Host": host})
        html = assert_plain_error_page(response, 400)
        assert "Bad request" in html and "evil" not in html, host
        assert_security_headers(response.headers, host)
    for host in ("shop.example", "www.shop.example", "shop.example:8443"):
        assert client.get("/items/", headers={"Host": host}).status_code == 200, host


def test_an_oversized_upload_is_a_413_page(app, store):
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    response = admin.post(
        "/items/new",
        data={
            "csrf_token": valid_csrf(admin),
            **GOOD_ITEM,
            "description": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
        },
    )
    html = assert_plain_error_page(response, 413)
    assert "Upload too large" in html
    assert db_state(app) == before


# --- Authentication and sessions ------------------------------------------------------


def test_s22_wrong_password_and_unknown_email_get_the_same_answer(app, store):
    answers = []
    for email in ("sam@example.com", "nobody@example.com"):
        response = post_form(
            app.test_client(),
            "/users/login",
            {"email": email, "password": "wrong-pass-1"},
        )
        body = html_of(response).replace(email, "EMAIL")
        body = CSRF_RE.sub("CSRF", body)
        answers.append((response.status_code, body))
    assert answers[0] == answers[1]
    assert answers[0][0] == 422
    assert "Invalid email or password." in answers[0][1]


def test_s23_passwords_are_slow_salted_hashes_never_shown(app, make_user):
    make_user(name="Admin", email="admin@example.com", is_admin=True)
    for email in ("pat@example.com", "kim@example.com"):
        client = app.test_client()
        signup = {**GOOD_SIGNUP, "email": email}
        assert post_form(client, "/users/register", signup).status_code == 302
    with app.app_context():
        hashes = db.session.scalars(
            sa.select(User.password_hash).where(User.email != "admin@example.com")
        ).all()
    assert len(set(hashes)) == 2  # salted: same password, different hashes
    for stored in hashes:
        assert stored.startswith(("scrypt:", "pbkdf2:", "argon2"))
        assert GOOD_SIGNUP["password"] not in stored
    admin = client_for(app, "admin@example.com")
    with app.app_context():
        pat = db.session.scalar(
            sa.select(User.id).where(User.email == "pat@example.com")
        )
    pages = [
        html_of(admin.get(url))
        for url in ("/users/", f"/users/{pat}", "/purchases/", "/purchases/export.csv")
    ]
    failed = post_form(
        app.test_client(), "/users/register", {**GOOD_SIGNUP, "email": "x"}
    )
    pages.append(html_of(failed))  # a re-drawn form keeps no password
    for html in pages:
        assert GOOD_SIGNUP["password"] not in html
        for stored in hashes:
            assert stored not in html
            assert stored.split("$")[-1] not in html


def test_s24_repeated_failed_logins_are_throttled_with_retry_after(make_app, store):
    strict = make_app(LOGIN_RATE_LIMIT="3 per minute")
    for url, data in (
        ("/users/login", {"email": "sam@example.com", "password": "wrong-pass-1"}),
        ("/users/register", {**GOOD_SIGNUP, "password_confirm": "nope"}),
    ):
        client = strict.test_client()
        statuses = [post_form(client, url, data).status_code for _ in range(3)]
        assert statuses == [422, 422, 422], url
        blocked = post_form(client, url, data)
        assert blocked.status_code == 429, url
        assert int(blocked.headers["Retry-After"]) > 0
        assert "Too many attempts" in html_of(blocked)
    right = {"email": "sam@example.com", "password": TEST_PASSWORD}
    client = strict.test_client()
    assert post_form(client, "/users/login", right).status_code == 429
    assert not is_signed_in(client)


def _failed_logins(app: Flask, times: int, remote: str, forwarded: str | None):
    """`times` wrong-password attempts from one socket address; their statuses."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote
    bad = {"email": "sam@example.com", "password": "wrong-pass-1"}
    return [
        post_form(client, "/users/login", bad, headers=headers).status_code
        for _ in range(times)
    ]


def test_s24_a_forged_x_forwarded_for_does_not_escape_the_limit(make_app, store):
    """No trusted proxy (the default): X-Forwarded-For is the client's own words."""
    strict = make_app(LOGIN_RATE_LIMIT="3 per minute")
    statuses = [
        _failed_logins(strict, 1, "203.0.113.7", f"198.51.100.{n}")[0] for n in range(5)
    ]
    assert statuses == [422, 422, 422, 429, 429]


def test_s24_behind_a_trusted_proxy_each_client_has_its_own_limit(make_app, store):
    """TRUSTED_PROXIES=1: the address the proxy saw counts, not the proxy's own,
    and an address the client put in front of it is ignored."""
    proxied = make_app(LOGIN_RATE_LIMIT="3 per minute", TRUSTED_PROXIES=1)
    proxy = "10.0.0.2"
    assert _failed_logins(proxied, 4, proxy, "198.51.100.1") == [422] * 3 + [429]
    # Another visitor through the same proxy is not locked out by the first.
    assert _failed_logins(proxied, 3, proxy, "198.51.100.2") == [422] * 3
    # The first visitor cannot start afresh by prepending a made-up address.
    forged = "192.0.2.99, 198.51.100.1"
    assert _failed_logins(proxied, 1, proxy, forged) == [429]


def test_s24_with_redis_down_logins_are_still_throttled_and_never_500(make_app, store):
    """A shared store that cannot be reached: each process counts on its own."""
    cut_off = make_app(
        LOGIN_RATE_LIMIT="3 per minute",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1",  # nothing listens there
        TESTING=False,
    )
    assert _failed_logins(cut_off, 4, "203.0.113.7", None) == [422] * 3 + [429]


def _redis_or_skip(url: str):
    import redis

    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Redis at {url}")
    return connection


@pytest.mark.slow
def test_s24_the_login_limit_holds_across_gunicorn_workers_with_redis(
    app, database_uri, make_user, tmp_path
):
    """3 sync workers share one Redis counter: 5 attempts a minute in total."""
    redis_url = "redis://127.0.0.1:6379"
    connection = _redis_or_skip(redis_url)
    sam = make_user(email="sam@example.com")
    with app.app_context():  # the store's own slow hash, not the tests' quick one:
        # each attempt keeps a sync worker busy, so the attempts spread over them
        db.session.get(User, sam).set_password(TEST_PASSWORD)
        db.session.commit()
    prefix = f"store-test-{uuid.uuid4().hex}"
    attempts, allowed = 18, 5
    try:
        with gunicorn_store(
            database_uri,
            tmp_path,
            workers=3,
            threads=1,
            extra_args=(
                *NO_CONTROL_SOCKET,
                "--access-logformat",
                '%(p)s "%(r)s" %(s)s',
            ),
            RATELIMIT_STORAGE_URI=redis_url,
            RATELIMIT_KEY_PREFIX=prefix,
            LOGIN_RATE_LIMIT=f"{allowed} per minute",
        ) as server:
            forms = []
            for _ in range(attempts):  # GETs are not counted
                browser = server.browser()
                token = CSRF_RE.search(browser.get("/users/login").text).group(1)
                forms.append((browser, token))
            barrier = threading.Barrier(attempts)
            replies: list = [None] * attempts

            def attempt(index: int) -> None:
                browser, token = forms[index]
                bad = {
                    "csrf_token": token,
                    "email": "sam@example.com",
                    "password": f"wrong-{index}",
                }
                try:
                    barrier.wait(timeout=30)
                    replies[index] = browser.post("/users/login", bad)
                except BaseException as error:
                    replies[index] = error

            threads = [
                threading.Thread(target=attempt, args=(i,)) for i in range(attempts)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            browser, token = forms[0]
            right = browser.post(
                "/users/login",
                {
                    "csrf_token": token,
                    "email": "sam@example.com",
                    "password": TEST_PASSWORD,
                },
            )
        log = server.log_text()
    finally:
        for key in connection.scan_iter(f"{prefix}*"):
            connection.delete(key)

    errors = [r for r in replies if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = sorted(r.status for r in replies)
    assert statuses == [422] * allowed + [429] * (attempts - allowed), statuses
    for reply in replies:
        if reply.status == 429:
            assert int(reply.header("Retry-After")) > 0
            assert "Too many attempts" in reply.text
    assert right.status == 429  # the right password waits out the limit too
    workers = set(re.findall(r'^<(\d+)> "POST /users/login', log, re.MULTILINE))
    assert len(workers) >= 2, (
        f"only worker(s) {workers} answered: not a multi-process test"
    )


def test_s25_there_is_no_default_admin(fresh_store):
    """A freshly migrated store has no users at all; the first admin is created."""
    fresh_app = fresh_store()
    assert count(fresh_app, User) == 0
    client = fresh_app.test_client()
    for email, password in (
        ("admin@example.com", "admin"),
        ("admin@example.com", "demo-admin-pass"),
        ("admin@localhost", "password"),
    ):
        response = post_form(
            client, "/users/login", {"email": email, "password": password}
        )
        assert response.status_code == 422
    result = fresh_app.test_cli_runner().invoke(
        args=[
            "create-admin",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--password",
            "a-long-unusual-passphrase",
        ]
    )
    assert result.exit_code == 0, result.output
    with fresh_app.app_context():
        admins = db.session.scalars(sa.select(User.email).where(User.is_admin)).all()
    assert admins == ["ada@example.com"]


OFF_SITE = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "https:evil.example",
    "///evil.example",
    " //evil.example",
    "/\t/evil.example",
    "http://localhost.evil.example/",
    "data:text/html,<script>alert(1)</script>",
]


def test_s26_login_honours_only_a_local_next(app, store):
    for number, target in enumerate(OFF_SITE):
        client = app.test_client()
        response = post_form(
            client,
            "/users/login",
            {"email": "sam@example.com", "password": TEST_PASSWORD},
            page="/users/login",
            query_string={"next": target},
        )
        assert response.status_code == 302, target
        assert_local(response.headers["Location"])
        # Already signed in: the login page redirects, still only locally.
        again = client.get("/users/login", query_string={"next": target})
        assert_local(again.headers["Location"])
        # Sign-up honours `next` the same way.
        signup = post_form(
            app.test_client(),
            "/users/register",
            {**GOOD_SIGNUP, "email": f"new{number}@example.com"},
            page="/users/register",
            query_string={"next": target},
        )
        assert signup.status_code == 302, target
        assert_local(signup.headers["Location"])


def test_s26_a_local_next_is_honoured(app, store):
    client = app.test_client()
    response = post_form(
        client,
        "/users/login",
        {"email": "sam@example.com", "password": TEST_PASSWORD},
        page="/users/login",
        query_string={"next": "/purchases/cart"},
    )
    assert response.headers["Location"] == "/purchases/cart"


SESSIONS = SecureCookieSessionInterface()


def read_session(app: Flask, client: FlaskClient) -> dict:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return SESSIONS.get_signing_serializer(app).loads(cookie.value)


def test_s27_login_starts_a_fresh_session(app, store):
    client = app.test_client()
    assert add_to_cart(client, store["mug"]).status_code == 302
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        session["_user_id"] = f"{store['admin']}:guess"
    before = read_session(app, client)
    old_cookie = client.get_cookie("session").value
    sign_in(client, "sam@example.com")
    after = read_session(app, client)
    assert "planted" not in after
    assert after["_user_id"].startswith(f"{store['sam']}:")
    assert after.get("csrf_token") != before.get("csrf_token")  # no token fixation
    assert after["cart"] == before["cart"]  # the cart is kept
    assert client.get_cookie("session").value != old_cookie


def test_s28_a_tampered_session_cookie_is_anonymous(app, store):
    shopper = client_for(app, "sam@example.com")
    cookie = shopper.get_cookie("session").value
    payload, _, signature = cookie.rpartition(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    # A cookie signed with a guessed key, claiming to be the admin.
    admin_token = row_of(app, User, store["admin"]).get_id()
    forged = URLSafeTimedSerializer(
        "dev-only-not-secret",
        salt="cookie-session",
        serializer=SESSIONS.serializer,
        signer_kwargs={
            "key_derivation": "hmac",
            "digest_method": SESSIONS.digest_method,
        },
    ).dumps({"_user_id": admin_token, "_fresh": True})
    for value in (f"{payload}.{flipped}", "garbage", forged, cookie[:-10]):
        client = app.test_client()
        client.set_cookie("session", value)
        assert not is_signed_in(client), value
        assert client.get("/users/").status_code == 302
    assert is_signed_in(shopper)


def replay(app: Flask, name: str, value: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie(name, value)
    return client


def test_s28_logout_makes_old_session_and_remember_cookies_useless(app, store):
    client = client_for(app, "sam@example.com", remember=True)
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value
    assert is_signed_in(replay(app, "session", session_cookie))
    assert is_signed_in(replay(app, "remember_token", remember_cookie))

    assert sign_out(client).status_code == 302
    assert not is_signed_in(client)
    assert not is_signed_in(replay(app, "session", session_cookie))
    assert not is_signed_in(replay(app, "remember_token", remember_cookie))


def test_s28_disabling_a_user_ends_their_sessions_for_good(app, store):
    client = client_for(app, "sam@example.com", remember=True)
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value
    admin = client_for(app, "admin@example.com")
    disable = f"/users/{store['sam']}/disable"
    assert post_form(admin, disable, page="/users/").status_code == 302
    for name, value in (
        ("session", session_cookie),
        ("remember_token", remember_cookie),
    ):
        assert not is_signed_in(replay(app, name, value)), name
    assert not is_signed_in(client)
    # Signing in is refused while disabled, with the ordinary answer.
    refused = post_form(
        app.test_client(),
        "/users/login",
        {"email": "sam@example.com", "password": TEST_PASSWORD},
    )
    assert refused.status_code == 422
    # Enabled again, the old cookies stay dead: a new sign-in is needed.
    enable = f"/users/{store['sam']}/enable"
    assert post_form(admin, enable, page="/users/").status_code == 302
    for name, value in (
        ("session", session_cookie),
        ("remember_token", remember_cookie),
    ):
        assert not is_signed_in(replay(app, name, value)), name
    assert is_signed_in(client_for(app, "sam@example.com"))


# --- Access control ----------------------------------------------------------------------


def test_s29_visitors_sign_in_first_and_shoppers_get_403_on_admin_pages(app, store):
    anonymous = app.test_client()
    shopper = client_for(app, "sam@example.com")
    before = db_state(app)
    for rule in rules_of(app):
        rule_for = ACCESS[rule.endpoint]
        if rule_for == "anyone":
            continue
        url = url_for_rule(rule, store)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = None
            if method == "POST":
                data = {"csrf_token": valid_csrf(anonymous), **GOOD_ITEM}
            response = anonymous.open(url, method=method, data=data)
            assert response.status_code == 302, (method, url)
            location = response.headers["Location"]
            if method == "POST" and rule_for == "signed_in":
                # Sign out and check out: nothing to do for a visitor, who is
                # sent somewhere harmless (checkout: to sign in, cart kept).
                assert_local(location)
            else:
                assert location.startswith("/users/login?next="), (method, url)
            if rule_for == "admin":
                data = data and {**data, "csrf_token": valid_csrf(shopper)}
                refused = shopper.open(url, method=method, data=data)
                assert refused.status_code == 403, (method, url)
                assert "You do not have permission" in html_of(refused)
    assert db_state(app) == before


def test_s30_shoppers_never_see_another_customers_data(app, store):
    sam = client_for(app, "sam@example.com")
    for url in (
        f"/users/{store['olive']}",
        f"/purchases/orders/{store['olive_order']}",
    ):
        response = sam.get(url)
        assert response.status_code in (403, 404), url
        html = html_of(response)
        assert "olive@example.com" not in html and "Olive" not in html, url
    for query in (f"user_id={store['olive']}", f"item_id={store['lamp']}"):
        html = html_of(sam.get(f"/purchases/?{query}"))
        assert "Olive" not in html and "olive@example.com" not in html
        assert "Lamp" not in html  # Sam bought nothing; Olive's lamp is hers
    assert sam.get("/purchases/export.csv").status_code == 403
    assert sam.get("/users/").status_code == 403


def test_s31_registering_with_extra_fields_never_makes_an_admin(app):
    client = app.test_client()
    extra = {
        "is_admin": "1",
        "is_admin_": "true",
        "admin": "on",
        "is_enabled": "1",
        "session_token": "chosen",
        "id": "1",
    }
    assert (
        post_form(client, "/users/register", {**GOOD_SIGNUP, **extra}).status_code
        == 302
    )
    with app.app_context():
        user = db.session.scalars(sa.select(User)).one()
    assert user.is_admin is False
    assert user.session_token != "chosen"
    assert client.get("/users/").status_code == 403


def test_s32_every_route_has_an_access_rule(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - set(ACCESS))
    assert not missing, (
        f"say who may use these routes in test_route_access.ACCESS: {missing}"
    )
    assert set(ACCESS.values()) <= set(RULES)


# --- Errors, configuration, exposure -----------------------------------------------------


class Outage:
    """Take the store's database away and give it back.

    PostgreSQL: the database refuses new connections and its open ones are
    ended (as when the server restarts or fails over). SQLite: the file's
    folder goes away, so no connection can open it, and the pool's open
    connections are closed (as when a disk or mount disappears).
    """

    def __init__(self, url: str, app: Flask) -> None:
        self.url = sa.engine.make_url(url)
        self.app = app

    def _postgres(self, sql: str) -> None:
        server = database_url(os.environ["TEST_DATABASE_URL"])
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(sql)
        admin.dispose()

    def start(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            name = self.url.database
            self._postgres(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            self._postgres(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
        else:
            folder = Path(self.url.database).parent
            folder.rename(folder.with_name("away"))
            folder.write_text("not a folder")  # nor can SQLite create one here
            with self.app.app_context():
                db.engine.dispose()

    def end(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            self._postgres(
                f'ALTER DATABASE "{self.url.database}" ALLOW_CONNECTIONS true'
            )
        else:
            folder = Path(self.url.database).parent
            folder.unlink()
            folder.with_name("away").rename(folder)


def add_sam_and_a_lamp(app: Flask) -> int:
    """Sam (who signs in with TEST_PASSWORD) and a lamp, three in stock; its id."""
    with app.app_context():
        db.session.add(
            User(
                name="Sam",
                email="sam@example.com",
                password_hash=password_hash(TEST_PASSWORD),
            )
        )
        lamp = Item(name="Lamp", price_cents=100, stock=3)
        db.session.add(lamp)
        db.session.commit()
        return lamp.id


def test_s33_database_outage_gives_500_pages_then_recovers(
    fresh_store, fresh_database_url
):
    url = fresh_database_url
    app = fresh_store(TESTING=False)
    lamp = add_sam_and_a_lamp(app)
    anonymous = app.test_client()
    shopper = client_for(app, "sam@example.com")
    assert add_to_cart(shopper, lamp).status_code == 302
    form = checkout_form(shopper)
    outage = Outage(url, app)
    outage.start()
    try:
        for client, method, path, data in (
            (anonymous, "GET", "/items/", None),
            (anonymous, "GET", f"/items/{lamp}", None),
            (shopper, "GET", "/purchases/", None),
            (shopper, "GET", "/items/", None),
            (shopper, "POST", "/purchases/checkout", form),
        ):
            response = client.open(path, method=method, data=data)
            html = assert_plain_error_page(response, 500)
            assert "Something went wrong" in html, path
            for secret in (
                url,
                sa.engine.make_url(url).database,
                "OperationalError",
            ):
                assert secret not in html
        health = anonymous.get("/healthz")
        assert health.status_code == 503
        assert health.json == {"status": "unavailable", "database": "down"}
    finally:
        outage.end()
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/items/").status_code == 200
    assert is_signed_in(shopper)  # the session outlived the outage
    assert checkout(shopper).headers["Location"].startswith("/purchases/orders/")
    assert stock_of(app, lamp) == 2


def test_s33_a_failing_statement_rolls_back_and_the_next_request_works(
    fresh_store, fresh_database_url
):
    """One pooled connection only: the request after the failure reuses it, so a
    transaction left open (or aborted, on PostgreSQL) would fail it."""
    options = {"pool_pre_ping": True, "pool_size": 1, "max_overflow": 0}
    url = fresh_database_url
    app = fresh_store(TESTING=False, SQLALCHEMY_ENGINE_OPTIONS=options)
    lamp = add_sam_and_a_lamp(app)
    shopper = client_for(app, "sam@example.com")
    assert add_to_cart(shopper, lamp).status_code == 302
    form = checkout_form(shopper)
    other = sa.create_engine(url)

    def rename(old: str, new: str) -> None:
        with other.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    # A read fails: the catalogue's table is gone.
    rename("items", "items_away")
    try:
        html = assert_plain_error_page(shopper.get("/items/"), 500)
        assert "items_away" not in html
    finally:
        rename("items_away", "items")
    assert shopper.get("/items/").status_code == 200  # the same connection

    # A write fails half-way: the checkout takes stock, then its INSERT fails.
    rename("user_items", "user_items_away")
    try:
        response = shopper.post("/purchases/checkout", data=form)
        if response.status_code == 302:
            # SQLite calls a missing table an OperationalError, which the
            # checkout answers like a lock timeout: nothing bought, try again.
            assert response.headers["Location"] == "/purchases/cart"
            cart = html_of(shopper.get("/purchases/cart"))
            assert "nothing was bought" in cart
        else:
            html = assert_plain_error_page(response, 500)
            assert "user_items" not in html and "INSERT" not in html
        # The one pooled connection is usable: no transaction left open or
        # aborted (the catalogue itself reads user_items, so ask /healthz).
        assert shopper.get("/healthz").status_code == 200
    finally:
        rename("user_items_away", "user_items")
        other.dispose()
    assert stock_of(app, lamp) == 3  # rolled back
    assert count(app, Order) == 0
    assert checkout(shopper).headers["Location"].startswith("/purchases/orders/")


def test_s33_an_unhandled_error_is_a_plain_500_and_nothing_is_written(make_app):
    failing = make_app()

    @failing.get("/boom")
    def boom():
        db.session.add(Item(name="Half-written", price_cents=1, stock=1))
        db.session.flush()
        raise RuntimeError(f"secret SELECT password_hash FROM users {ROOT}/app.py")

    client = failing.test_client()
    html = assert_plain_error_page(client.get("/boom"), 500)
    assert "secret" not in html and "RuntimeError" not in html
    assert client.get("/healthz").status_code == 200
    assert count(failing, Item) == 0


def test_s34_production_runs_without_debug_even_if_flask_debug_is_set(database_uri):
    production = {
        "STORE_ENV": "production",
        "SECRET_KEY": "s" * 40,
        "DATABASE_URL": database_uri,
    }
    # FLASK_DEBUG=1 (from a shell or a .env) would turn Flask's debug on.
    result = run_python(
        "import wsgi; print(wsgi.app.debug, wsgi.app.testing)",
        unset=("FLASK_DEBUG", "SECRET_KEY"),
        **production,
        FLASK_DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


@pytest.mark.slow
def test_s34_gunicorn_serves_without_debug_and_refuses_a_missing_secret_key(
    production_server, database_uri, tmp_path
):
    reply = production_server.browser().get("/no-such-page")
    assert reply.status == 404
    for leak in ("Werkzeug Debugger", "Traceback", "__debugger__", "console"):
        assert leak not in reply.text
    assert production_server.browser().get(
        "/?__debugger__=yes&cmd=resource&f=style.css"
    ).status in (302, 404)
    for secret in ("", "too-short"):
        with (
            pytest.raises(AssertionError, match="SECRET_KEY"),
            gunicorn_store(
                database_uri,
                tmp_path,
                workers=1,
                extra_args=NO_CONTROL_SOCKET,
                boot_timeout=30,
                SECRET_KEY=secret,
            ),
        ):
            pass


NEVER_SERVED = [
    "/.env",
    "/config.py",
    "/wsgi.py",
    "/.git/config",
    "/.git/HEAD",
    "/instance/store.db",
    "/static/../config.py",
    "/static/%2e%2e/config.py",
    "/static/..%2fconfig.py",
    "/static/..%5cconfig.py",
    "/static/../instance/store.db",
    "/static/../.env",
    "/requirements.txt",
    "/migrations/env.py",
    "/app/__init__.py",
    "/templates/base.html",
]


def test_s35_project_files_are_never_served(app):
    client = app.test_client()
    for path in NEVER_SERVED:
        response = client.get(path)
        assert response.status_code == 404, path
        body = html_of(response)
        assert "SECRET_KEY" not in body and "[core]" not in body, path
    assert client.get("/static/css/store.css").status_code == 200


@pytest.mark.slow
def test_s35_project_files_are_never_served_by_gunicorn(production_server):
    browser = production_server.browser()
    for path in NEVER_SERVED:
        reply = browser.get(path)
        assert reply.status in (400, 404), path
        assert "SECRET_KEY" not in reply.text and "[core]" not in reply.text, path
    assert browser.get("/static/css/store.css").status == 200


def _flask(url: str, *args: str) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FLASK_APP", "STORE_ENV", "SECRET_KEY", "TEST_DATABASE_URL")
    }
    env["DATABASE_URL"] = url
    result = subprocess.run(
        [str(FLASK), "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(database_url(url))
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    return {name for name in names if not name.startswith(SEARCH_OBJECTS)}


@pytest.mark.slow
def test_s36_migrations_round_trip_and_check(tmp_path):
    """The real `flask db` commands, from the project root, on a new database."""
    store_tables = set(db.metadata.tables) | {"alembic_version"}
    with fresh_database(tmp_path) as url:
        _flask(url, "upgrade")
        assert _tables(url) == store_tables
        _flask(url, "downgrade", "base")
        assert _tables(url) == {"alembic_version"}
        _flask(url, "upgrade")
        assert _tables(url) == store_tables
        assert "No new upgrade operations detected" in _flask(url, "check")
