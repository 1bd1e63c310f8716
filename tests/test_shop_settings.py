"""The shop's settings (/purchases/settings): the tax rate and bank details,
and the shipping methods, through the page's own forms (each told apart by its
`form` field, its fields prefixed). A change shows at the next checkout and is
in the audit trail; a bad input is a 422 that writes nothing."""

from __future__ import annotations

import html as html_module
import json
import re

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.extensions import db
from app.models import AuditEvent, Order, ShippingMethod, ShopSettings
from tests.helpers import (
    INPUT_RE,
    add_to_cart,
    after_redirect,
    client_for,
    flashes,
    get_html,
    html_of,
    order_url,
    place_order,
    store_state,
)

SETTINGS = "/purchases/settings"
FORM_RE = re.compile(r"<form\b.*?</form>", re.S)
TEXTAREA_RE = re.compile(
    r'<textarea\b[^>]*\bname="([^"]+)"[^>]*>(.*?)</textarea>', re.S
)
ATTRIBUTE_RE = re.compile(r'\b(name|value|type)="([^"]*)"')


def form_of(html: str, which: str) -> dict[str, str]:
    """The fields of the settings page's form `which` ("shop", "new",
    "method-<id>") as the page fills them in: hidden fields (its CSRF token),
    text boxes, checked boxes and text areas."""
    for form in FORM_RE.findall(html):
        if f'name="form" value="{which}"' not in form:
            continue
        fields = {}
        for tag in INPUT_RE.findall(form):
            attributes = dict(ATTRIBUTE_RE.findall(tag))
            if "name" not in attributes:
                continue
            if attributes.get("type") == "checkbox" and not re.search(
                r"\bchecked\b", tag
            ):
                continue
            fields[attributes["name"]] = html_module.unescape(
                attributes.get("value", "")
            )
        for name, text in TEXTAREA_RE.findall(form):
            fields[name] = html_module.unescape(text.removeprefix("\n"))
        return fields
    raise AssertionError(f"the settings page has no {which!r} form")


def submit(client: FlaskClient, which: str, **changes: str | None):
    """Fill in the form `which` of the settings page and press its button;
    a change of None unticks (leaves out) that field."""
    fields = form_of(get_html(client, SETTINGS), which)
    prefix = "shop" if which == "shop" else which
    for name, value in changes.items():
        key = f"{prefix}-{name}"
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return client.post(SETTINGS, data=fields)


def method_id(app, code: str) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(ShippingMethod.id).where(ShippingMethod.code == code)
        )


def methods(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            sa.select(
                ShippingMethod.code,
                ShippingMethod.name,
                ShippingMethod.price_cents,
                ShippingMethod.free_over_cents,
                ShippingMethod.position,
                ShippingMethod.is_active,
            ).order_by(ShippingMethod.id)
        ).all()


def events(app) -> list[tuple]:
    """(action, subject_type, subject_id, actor_id, changes) of the audit trail."""
    with app.app_context():
        return [
            (e.action, e.subject_type, e.subject_id, e.actor_id, json.loads(e.changes))
            for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
        ]


def checkout_page(client: FlaskClient, item_id: int) -> str:
    assert add_to_cart(client, item_id).status_code == 302
    return get_html(client, "/purchases/checkout")


STANDARD = (
    "standard",
    "Standard delivery (3-5 working days)",
    495,
    5000,
    1,
    True,
)
EXPRESS = ("express", "Express delivery (next working day)", 1295, None, 2, True)


# --- the tax rate and the bank details ---------------------------------------------


def test_the_page_shows_the_settings_as_they_are(app, client, admin):
    html = get_html(client, SETTINGS)
    assert form_of(html, "shop")["shop-tax_rate"] == "0.00"
    assert "Now 0%" in html
    assert form_of(html, "method-1")["method-1-code"] == "standard"
    assert form_of(html, "method-1")["method-1-price"] == "4.95"
    assert form_of(html, "method-2")["method-2-free_over"] == ""
    assert methods(app) == [STANDARD, EXPRESS]


def test_a_new_tax_rate_shows_at_the_next_checkout_and_is_audited(
    app, client, admin, make_user, make_item
):
    make_user("Sam Shopper", "sam@example.com")
    lamp = make_item(name="Lamp", price_cents=1999, stock=5)
    html = after_redirect(client, submit(client, "shop", tax_rate="8.25"))
    assert "Saved: tax 8.25%." in flashes(html)
    assert "Now 8.25%" in html
    with app.app_context():
        assert db.session.get(ShopSettings, 1).tax_rate_bp == 825
    assert events(app) == [
        (
            "settings.update",
            "settings",
            1,
            admin,
            {"before": {"tax_rate_bp": 0}, "after": {"tax_rate_bp": 825}},
        )
    ]

    shopper = client_for(app, "sam@example.com")
    page = checkout_page(shopper, lamp)
    # 8.25 % of $19.99 is 164.9175 cents: $1.65, rounded half up.
    assert '<dt>Tax (8.25%)</dt><dd id="tax">$1.65</dd>' in page
    assert (
        '<strong class="order-total" data-shipping="standard">$26.59</strong>' in page
    )
    number = place_order(shopper, {})
    with app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.number == number)).one()
        assert (order.tax_rate_bp, order.tax_cents, order.total_cents) == (
            825,
            165,
            1999 + 495 + 165,
        )
    assert "Tax (8.25%)" in get_html(shopper, order_url(number))


@pytest.mark.parametrize(
    ("typed", "points"), [("0", 0), ("100", 10_000), ("20%", 2_000), ("7.5", 750)]
)
def test_tax_rates_from_nothing_to_all(app, client, admin, typed, points):
    assert submit(client, "shop", tax_rate=typed).status_code == 302
    with app.app_context():
        assert db.session.get(ShopSettings, 1).tax_rate_bp == points


def test_bank_details_are_saved_audited_and_shown_as_text(
    app, client, admin, make_user, make_item
):
    details = "IBAN GB33 BUKB 2020 1555 5555 55\n<script>alert(1)</script>"
    assert submit(client, "shop", bank_transfer_details=details).status_code == 302
    with app.app_context():
        assert db.session.get(ShopSettings, 1).bank_transfer_details == details
    ((action, _, _, actor, changes),) = events(app)
    assert (action, actor) == ("settings.update", admin)
    assert changes["after"] == {"bank_transfer_details": details}
    make_user("Sam Shopper", "sam@example.com")
    shopper = client_for(app, "sam@example.com")
    number = place_order(shopper, {make_item(name="Lamp", stock=3): 1})
    page = get_html(shopper, order_url(number))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_saving_the_settings_unchanged_records_nothing(app, client, admin):
    assert submit(client, "shop").status_code == 302
    assert events(app) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"tax_rate": "101"},
        {"tax_rate": "100.01"},
        {"tax_rate": "-1"},
        {"tax_rate": "abc"},
        {"tax_rate": ""},
        {"tax_rate": "8.255"},
        {"tax_rate": "1e2"},
        {"tax_rate": "9" * 309},
        {"tax_rate": "NaN"},
        {"tax_rate": None},
        {"bank_transfer_details": "x" * 2_001},
        {"bank_transfer_details": "IBAN\x00"},
    ],
)
def test_bad_settings_are_422_and_write_nothing(app, client, admin, changes):
    before = store_state(app)
    response = submit(client, "shop", **changes)
    assert response.status_code == 422
    assert 'class="field-error"' in html_of(response)
    assert store_state(app) == before


# --- shipping methods ---------------------------------------------------------------


def test_a_new_method_is_offered_at_checkout_and_audited(
    app, client, admin, make_user, make_item
):
    html = after_redirect(
        client,
        submit(
            client,
            "new",
            code=" pickup ",
            name="Pick up in the shop",
            price="0",
            free_over="",
            position="0",
        ),
    )
    assert "Added the shipping method “Pick up in the shop”." in flashes(html)
    assert methods(app) == [
        STANDARD,
        EXPRESS,
        ("pickup", "Pick up in the shop", 0, None, 0, True),
    ]
    new_id = method_id(app, "pickup")
    assert events(app) == [
        (
            "shipping.create",
            "shipping",
            new_id,
            admin,
            {
                "before": {},
                "after": {
                    "code": "pickup",
                    "free_over_cents": None,
                    "is_active": True,
                    "name": "Pick up in the shop",
                    "position": 0,
                    "price_cents": 0,
                },
            },
        )
    ]
    make_user("Sam Shopper", "sam@example.com")
    page = checkout_page(client_for(app, "sam@example.com"), make_item(stock=3))
    assert 'value="pickup"' in page and "Pick up in the shop" in page
    # First in the list (position 0): the page picks it.
    assert re.search(r'value="pickup"\s+checked', page)


def test_editing_a_method_changes_checkout_and_records_what_changed(
    app, client, admin, make_user, make_item
):
    standard = method_id(app, "standard")
    response = submit(client, f"method-{standard}", price="5.95", free_over="60.00")
    html = after_redirect(client, response)
    assert "Saved the shipping method “Standard delivery (3-5 working days)”." in (
        flashes(html)
    )
    assert methods(app)[0] == ("standard", STANDARD[1], 595, 6000, 1, True)
    assert methods(app)[1] == EXPRESS
    assert events(app) == [
        (
            "shipping.update",
            "shipping",
            standard,
            admin,
            {
                "before": {"free_over_cents": 5000, "price_cents": 495},
                "after": {"free_over_cents": 6000, "price_cents": 595},
            },
        )
    ]
    make_user("Sam Shopper", "sam@example.com")
    shopper = client_for(app, "sam@example.com")
    page = checkout_page(shopper, make_item(price_cents=1000, stock=3))
    assert "Standard delivery (3-5 working days) · <strong>$5.95</strong>" in page
    assert "free on orders of $60.00 or more" in page

    # Unticked, it is no longer offered; the audit trail says so.
    assert submit(client, f"method-{standard}", is_active=None).status_code == 302
    assert methods(app)[0][5] is False
    assert events(app)[-1][4] == {
        "before": {"is_active": True},
        "after": {"is_active": False},
    }
    page = get_html(shopper, "/purchases/checkout")
    assert 'value="standard"' not in page and 'value="express"' in page


@pytest.mark.parametrize(
    "changes",
    [
        {"price": "abc"},
        {"price": "-1"},
        {"price": "1.234"},
        {"price": ""},
        {"price": "9" * 309},
        {"price": "1000000.01"},
        {"free_over": "abc"},
        {"free_over": "-5"},
        {"code": "with spaces"},
        {"code": "UPPER"},
        {"code": ""},
        {"code": "x" * 41},
        {"code": "standard"},  # the code of a method there is
        {"name": ""},
        {"name": "x" * 101},
        {"position": "1001"},
        {"position": "-1"},
        {"position": "1.5"},
    ],
)
def test_a_bad_new_method_is_422_and_writes_nothing(app, client, admin, changes):
    form = {
        "code": "pickup",
        "name": "Pick up",
        "price": "0",
        "free_over": "",
        "position": "3",
        **changes,
    }
    before = store_state(app)
    response = submit(client, "new", **form)
    assert response.status_code == 422
    html = html_of(response)
    assert 'class="field-error"' in html
    assert "<details open>" in html  # the form with its errors, open
    assert store_state(app) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"price": "abc"},
        {"code": "with spaces"},
        {"free_over": "1.001"},
        {"name": ""},
        {"position": "x"},
    ],
)
def test_a_bad_edit_is_422_and_writes_nothing(app, client, admin, changes):
    express = method_id(app, "express")
    before = store_state(app)
    response = submit(client, f"method-{express}", **changes)
    assert response.status_code == 422
    assert 'class="field-error"' in html_of(response)
    assert store_state(app) == before


def test_an_edit_to_another_methods_code_is_422_and_writes_nothing(app, client, admin):
    express = method_id(app, "express")
    before = store_state(app)
    response = submit(client, f"method-{express}", code="standard", price="1.00")
    assert response.status_code == 422
    html = html_of(response)
    assert "Another method has this code." in html
    assert 'value="1.00"' in html  # what was typed is kept
    assert store_state(app) == before


def test_the_audit_trail_lists_the_settings_changes(app, client, admin):
    submit(client, "shop", tax_rate="5")
    submit(client, "new", code="pickup", name="Pick up", price="0")
    submit(client, f"method-{method_id(app, 'express')}", price="13.95")
    html = get_html(client, "/audit/")
    for label in (
        "Shop settings changed",
        "Shipping method added",
        "Shipping method edited",
    ):
        assert label in html
    assert "<strong>tax rate</strong>: 0% → 5%</li>" in html
    assert "<strong>price</strong>: $12.95 → $13.95</li>" in html
    assert 'href="/purchases/settings">Shop settings</a>' in html
    assert 'href="/purchases/settings">Pick up</a>' in html


def test_shoppers_get_403_and_visitors_sign_in_first(app, make_user):
    make_user("Sam Shopper", "sam@example.com")
    shopper = client_for(app, "sam@example.com")
    visitor = app.test_client()
    before = store_state(app)
    for client, status in ((shopper, 403), (visitor, 302)):
        assert client.get(SETTINGS).status_code == status
        token = re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"',
            html_of(client.get("/users/login" if client is visitor else "/items/")),
        ).group(1)
        response = client.post(
            SETTINGS,
            data={"csrf_token": token, "form": "shop", "shop-tax_rate": "50"},
        )
        assert response.status_code == status
    assert store_state(app) == before
