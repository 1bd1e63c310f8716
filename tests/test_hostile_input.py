"""Hostile input everywhere (CONTRACT "Bad input"): Hypothesis walks app.url_map
and sends random strings, numbers, huge values, unicode, NULs, broken UTF-8 and
missing fields to every form field and query parameter of every route, as a
visitor, a shopper and an admin, with valid CSRF tokens (and sometimes without).

Whatever comes back: never a 500, never a traceback; a GET writes nothing; a
POST answered with an error (4xx) or a re-drawn form (200/422) writes nothing.
Bounded: a few examples per route, so each engine's run stays well under a minute.
"""

from __future__ import annotations

import io
import os
import re
from urllib.parse import quote, quote_from_bytes

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from app import create_app
from app.extensions import db
from app.models import User
from app.orders.statuses import STATUSES
from config import TestingConfig
from tests.helpers import (
    TEST_PASSWORD,
    number_of,
    set_item,
    store_state,
)

ROLES = ("anonymous", "shopper", "admin")
# HOSTILE_EXAMPLES=200 for a deeper hunt than the suite's bounded one.
EXAMPLES_PER_ROUTE = int(os.environ.get("HOSTILE_EXAMPLES", "20"))

# The fields each form really has: sent more often, so requests get past the
# first missing field and reach the deeper checks.
FORM_FIELDS = {
    "users.register": ("name", "email", "password", "password_confirm"),
    "users.login": ("email", "password", "remember"),
    "users.forgot_password": ("email",),
    "users.reset_password": ("password", "password_confirm"),
    "users.account": (
        "name",
        "email",
        "current_password",
        "password",
        "password_confirm",
    ),
    "users.delete_account": ("current_password", "confirm"),
    "users.confirm_email": (),
    "items.create": ("name", "description", "price", "stock", "category_id"),
    "items.edit": (
        "name",
        "description",
        "price",
        "stock",
        "stock_seen",
        "category_id",
    ),
    "items.add_image": ("image", "alt"),
    "items.move_image": ("direction",),
    "items.delete_image": (),
    "items.categories": ("name", "parent_id", "slug"),
    "items.move_category": ("parent_id",),
    "items.import_items": ("file",),
    "purchases.cart_add": ("item_id", "quantity"),
    "items.review_create": ("rating", "title", "body"),
    "items.review_edit": ("rating", "title", "body"),
    "items.wishlist_toggle": ("next",),
    "users.wishlist_emails": ("wanted",),
    "purchases.cart_update": ("quantity",),
    "purchases.checkout": ("token",),
    "purchases.change_status": ("status", "tracking_number", "note"),
    "purchases.refund": ("amount", "note"),
    "purchases.card_pay": ("payment_method",),
    "purchases.settings": (
        "form",
        "shop-tax_rate",
        "shop-bank_transfer_details",
        "new-code",
        "new-name",
        "new-price",
        "new-free_over",
        "new-position",
        "new-is_active",
        "method-1-code",
        "method-1-name",
        "method-1-price",
    ),
}
# Every form field the store reads (those of each form below), and a few it
# must ignore (a forged price, total, owner or admin flag, a redirect target).
FIELDS = tuple(
    dict.fromkeys(
        [
            *(field for fields in FORM_FIELDS.values() for field in fields),
            "is_admin",
            "user_id",
            "unit_price_cents",
            "total",
            "next",
        ]
    )
)
QUERY_PARAMS = (
    "q",
    "sort",
    "page",
    "show",
    "user_id",
    "item_id",
    "buyers_page",
    "next",
    "format",
    "category",
    "min_price",
    "max_price",
    "in_stock",
)
ODD = (
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e3",
    "NaN",
    "inf",
    "١٢",  # Arabic-Indic digits: int() reads them
    "0x10",
    "1_000",
    str(2**31 - 1),
    str(2**31),
    str(2**63),
    str(10**30),
    "9" * 309,  # past a float: WTForms' NumberRange raised OverflowError here
    "-" + "1" * 400,
    "9" * 5_000,  # past int()'s 4,300-digit limit
    "\x00",
    "a\x00b",
    "\x7f\x1b[31m",
    "<script>alert(1)</script>",
    "' OR 1=1--",
    "%' UNION SELECT password_hash FROM users--",
    "%_\\",
    "../../etc/passwd",
    "{{7*7}}",
    "\r\nSet-Cookie: x=1",
    "\u202egnp.exe",
    "🙂" * 60,
    "é" * 300,
    "x" * 5_000,
    "true",
    "on",
    "[]",
    "//evil.example",
    "https://evil.example",
    "javascript:alert(1)",
)
HUGE = "y" * 600_000  # past Werkzeug's form memory limit: a 413


def text_values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD),
        st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        # Numbers hundreds of digits long, in any field or parameter.
        st.integers(min_value=-(10**700), max_value=10**700).map(str),
        st.text("0123456789", min_size=300, max_size=900),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )


def field_value(name: str, world: dict, in_form: bool) -> st.SearchStrategy:
    """Odd values, and (more often for the form's own fields) plausible ones, so
    requests get past the first check and reach the deeper ones."""
    plausible = {
        "email": ["sam@example.com", "new@example.com", "SAM@EXAMPLE.COM"],
        "password": [TEST_PASSWORD, "a-long-unusual-passphrase"],
        "password_confirm": [TEST_PASSWORD, "a-long-unusual-passphrase"],
        "price": ["12.50", "0", "0.01", "1000000.00"],
        "stock": ["0", "3", "1000000"],
        "stock_seen": ["5", "0"],
        "quantity": ["1", "2", "1000"],
        "item_id": [str(world["lamp"]), str(world["retired"]), "999999"],
        "user_id": [str(world["olive"])],
        "name": ["Lamp", "A new thing"],
        "current_password": [TEST_PASSWORD],
        "confirm": ["y"],
        "rating": ["1", "5", "0", "6", "4.5", "-1"],
        "title": ["Great lamp", ""],
        "body": ["Bright and sturdy.", " "],
        "next": ["/items/", "/users/wishlist", "//evil.example", "/items/?q=a&page=2"],
        "wanted": ["y", ""],
        "status": [*STATUSES, "lost"],
        "tracking_number": ["1Z999AA10123456784"],
        "amount": ["1.00", "0.01", "19.99", "20.00", "99999.99"],
        "form": ["shop", "new", "method-1", "method-2", "method-999"],
        "shop-tax_rate": ["8.25", "0", "100", "100.01"],
        "new-code": ["pickup", "standard"],
        "new-name": ["Pick up"],
        "new-price": ["0", "4.95"],
        "new-free_over": ["", "50.00"],
        "new-position": ["", "3"],
        "new-is_active": ["y"],
        "method-1-code": ["standard", "express"],
        "method-1-name": ["Standard"],
        "method-1-price": ["4.95", "0"],
        "payment_method": ["pm_card_visa", "card_123", "pm_" + "x" * 300, "tok_1"],
        "category_id": ["", str(world["home"]), str(world["lighting"]), "999999"],
        "parent_id": ["", str(world["home"]), str(world["lighting"])],
        "slug": ["", "home", "new-shelf", "Bad Slug"],
        "direction": ["up", "down", "sideways"],
        "alt": ["A lamp", ""],
        "category": ["home", "lighting", "nope", "HOME"],
        "min_price": ["1.00", "-5", "abc"],
        "max_price": ["10.00", "0"],
        "in_stock": ["1", "0"],
    }.get(name, [])
    options = [text_values()]
    if plausible:
        options += [st.sampled_from(plausible)] * (2 if in_form else 1)
    if name == "image":
        return st.tuples(
            st.one_of(
                st.binary(max_size=300),
                st.sampled_from(
                    [
                        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
                        b"<html><script>alert(1)</script></html>",
                        b"\xff\xd8\xff\xe0<html>",
                        b"GIF89a\x01\x00\x01\x00",
                        b"",
                    ]
                ),
            ),
            st.sampled_from(["photo.jpg", "x.svg", "../../x.png", ""]),
        ).map(lambda pair: (io.BytesIO(pair[0]), pair[1]))
    if name == "file":
        return st.tuples(
            st.one_of(
                st.binary(max_size=300),
                st.sampled_from(
                    [
                        b"name,description,price,stock\nLamp,Nice,12.50,3\n",
                        b"name,description,price,stock\n=cmd|' /C calc'!A0,x,-1,1e3\n",
                        b"\xff\xfe\x00\x00garbage",
                        b"",
                    ]
                ),
            ),
            st.sampled_from(["items.csv", "../../x.csv", "a.exe", ""]),
        ).map(lambda pair: (io.BytesIO(pair[0]), pair[1]))
    return st.one_of(*options)


def query_string(draw, world: dict) -> str:
    """Some query parameters, percent-encoded: broken UTF-8 and NULs included."""
    parts = []
    for name in draw(st.lists(st.sampled_from(QUERY_PARAMS), max_size=3)):
        if draw(st.booleans()):
            value = draw(text_values()).encode("utf-8")
        else:
            value = draw(st.binary(max_size=12))
        parts.append(f"{quote(name)}={quote_from_bytes(value)}")
    return "&".join(parts)


def url_for_rule(draw, rule, world: dict) -> str:
    """The rule's path with drawn values: real ids, edge numbers, odd paths."""
    path = rule.rule
    for name in rule.arguments:
        if name == "filename":
            value = draw(
                st.one_of(
                    st.sampled_from(
                        [
                            "css/store.css",
                            "../config.py",
                            "..%2f.env",
                            "%2e%2e/instance/store.db",
                            "vendor/../../wsgi.py",
                            "favicon.svg",
                            "nope.txt",
                        ]
                    ),
                    st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
                    .filter(lambda s: s.strip("/"))
                    .map(lambda s: quote(s, safe="")),
                )
            )
        elif name == "key":  # a media file's name
            value = draw(
                st.one_of(
                    st.sampled_from(
                        [
                            f"{world['lamp_image_key']}-160.webp",
                            f"{world['lamp_image_key']}-160.jpg",
                            f"{world['lamp_image_key']}-9999.jpg",
                            "..%2fconfig.py",
                            "%2e%2e",
                            ".upload-x",
                        ]
                    ),
                    text_values()
                    .filter(lambda s: s.strip("/"))
                    .map(lambda s: quote(s[:60], safe="")),
                )
            )
        elif name == "token":  # an emailed link's token
            value = draw(
                st.one_of(
                    st.sampled_from(["eyJ1IjoxfQ.aaaa.bbbb", world["number"]]),
                    text_values()
                    .filter(lambda s: s.strip("/"))
                    .map(lambda s: quote(s, safe="")),
                )
            )
        elif name == "number":  # an order's number, any case, or none
            value = draw(
                st.one_of(
                    st.sampled_from(
                        [world["number"], world["number"].lower(), "ZZZZZZZZZZ"]
                    ),
                    st.sampled_from([world["number"], str(world["order"])]),
                    text_values()
                    .filter(lambda s: s.strip("/"))
                    .map(lambda s: quote(s[:60], safe="")),
                )
            )
        else:
            ids = [
                world[key]
                for key in (
                    "lamp",
                    "retired",
                    "sam",
                    "olive",
                    "admin",
                    "lamp_image",
                    "home",
                    "lighting",
                )
            ]
            value = draw(
                st.one_of(
                    st.sampled_from([*ids, world["order"]]),
                    st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**63, 10**30]),
                    st.integers(min_value=0, max_value=2**31),
                )
            )
        path = re.sub(rf"<[^>]*:?{name}>", str(value), path)
    return path


# --- the world -------------------------------------------------------------------------


@pytest.fixture
def world(app, store) -> dict[str, int]:
    """The `store` with its mug sold out: the rows drawn URLs and fields name."""
    set_item(app, store["mug"], stock=0)
    number = number_of(app, store["olive_order"])
    return {**store, "order": store["olive_order"], "number": number}


def reset_roles(app: Flask, world: dict) -> None:
    """Undo what earlier examples did to the two signed-in roles."""
    with app.app_context():
        db.session.execute(
            sa.update(User)
            .where(User.id.in_([world["sam"], world["admin"]]))
            .values(
                is_enabled=True, is_admin=User.id == world["admin"], deleted_at=None
            )
        )
        db.session.commit()


def browser(app: Flask, world: dict, role: str, cart: bool) -> tuple[FlaskClient, str]:
    """A client already signed in as `role` (no HTTP sign-in: fast), with the
    CSRF token its session accepts, and optionally a lamp in its cart."""
    with app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    identity = None
    if role != "anonymous":
        with app.app_context():
            user = db.session.get(User, world["sam" if role == "shopper" else "admin"])
            identity = user.get_id()
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["csrf_token"] = raw
        if identity:
            sess["_user_id"] = identity
            sess["_fresh"] = True
        if cart:
            sess["cart"] = {str(world["lamp"]): 1}
            sess["checkout_token"] = "fuzz-checkout-token"
    return client, token


# --- the test ---------------------------------------------------------------------------

_APP = create_app(TestingConfig)  # only to list the routes at collection time
ENDPOINTS = sorted({rule.endpoint for rule in _APP.url_map.iter_rules()})


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_hostile_input_never_fails_and_invalid_requests_write_nothing(
    app, world, endpoint
):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]

    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        database=None,
        # No shrinking: a failure is reported as drawn (see the note), so a
        # failing run stays as bounded in time as a passing one.
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one_request(data):
        rule = data.draw(st.sampled_from(rules), label="rule")
        method = data.draw(
            st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})), label="method"
        )
        role = data.draw(st.sampled_from(ROLES), label="role")
        url = url_for_rule(data.draw, rule, world)
        query = query_string(data.draw, world)
        reset_roles(app, world)
        client, token = browser(app, world, role, cart=data.draw(st.booleans()))
        form = None
        csrf_ok = True
        if method == "POST":
            names = [
                name
                for name in FIELDS
                if data.draw(
                    st.booleans()
                    if name not in FORM_FIELDS.get(endpoint, ())
                    else st.sampled_from([True, True, True, False])
                )
            ]
            form = {
                name: data.draw(
                    field_value(name, world, name in FORM_FIELDS.get(endpoint, ())),
                    label=name,
                )
                for name in names
            }
            if data.draw(st.integers(0, 49)) == 0:
                form["description"] = HUGE
            csrf = data.draw(st.sampled_from(["valid"] * 8 + ["missing", "forged"]))
            csrf_ok = csrf == "valid"
            if csrf == "valid":
                form["csrf_token"] = token
            elif csrf == "forged":
                form["csrf_token"] = "forged-" + token[::-1]
        note(f"{role} {method} {url}?{query!r} {form!r}")

        before = store_state(app)
        response = client.open(url, method=method, query_string=query, data=form)
        after = store_state(app)

        status = response.status_code
        body = response.get_data().decode("utf-8", "replace")  # pictures too
        response.close()
        assert status < 500, f"{status} for {role} {method} {url}"
        assert "Traceback" not in body
        if method == "POST" and not csrf_ok and status not in (404, 413):
            # (404: the URL named nothing, so no route ran at all.)
            assert status == 400, "a POST without a valid CSRF token must be 400"
        if method == "GET" or status >= 400 or status in (200, 422):
            assert after == before, f"{status} for {role} {method} {url} wrote rows"

    one_request()


@pytest.mark.parametrize(
    "path",
    [
        "/purchases/orders/%2F%2Fevil.example/refund",
        "/purchases/orders/%2Fx/cancel",
        "/items//1",
        "/users//wishlist",
    ],
)
def test_a_path_with_doubled_slashes_is_a_404_not_a_redirect(client, path):
    """Werkzeug would answer 308 to the path with one slash (before the CSRF
    check): a forged URL reaches no other page, whatever the method."""
    for method in ("GET", "POST"):
        response = client.open(path, method=method)
        assert response.status_code == 404, (method, path)
        assert "Location" not in response.headers
