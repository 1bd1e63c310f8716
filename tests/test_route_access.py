"""The route table: every endpoint says who may use it, and admin ones hold.

A new route without an entry in ACCESS fails the suite, so nobody can add a
page without deciding who may see it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from werkzeug.routing import Rule

from app.extensions import db
from app.models import Order, User, UserItem
from tests.conftest import login
from tests.shop_helpers import fresh, item_rows, record_purchase

RULES = ("anyone", "signed_in", "owner_or_admin", "admin")

ACCESS = {
    # the shop front
    "main.index": "anyone",
    "main.healthz": "anyone",
    "static": "anyone",
    "items.index": "anyone",
    "items.detail": "anyone",  # archived items: admins only (404 for others)
    "users.register": "anyone",
    "users.login": "anyone",
    "purchases.cart": "anyone",
    "purchases.cart_add": "anyone",
    "purchases.cart_update": "anyone",
    "purchases.cart_remove": "anyone",
    # accounts
    "users.logout": "signed_in",
    "purchases.checkout": "signed_in",
    "purchases.index": "signed_in",  # admins are sent to purchases.admin_index
    "users.detail": "owner_or_admin",
    "purchases.order": "owner_or_admin",
    # the admin's store
    "items.create": "admin",
    "items.edit": "admin",
    "items.archive": "admin",
    "items.restore": "admin",
    "items.manage": "admin",
    "items.import_items": "admin",
    "items.import_template": "admin",
    "items.export": "admin",
    "users.index": "admin",
    "users.grant_admin": "admin",
    "users.revoke_admin": "admin",
    "users.disable": "admin",
    "users.enable": "admin",
    "purchases.admin_index": "admin",
    "purchases.export": "admin",
    "audit.index": "admin",
}
# Listed ahead of their routes; any other name in ACCESS must be a real endpoint.
PLANNED: set[str] = set()
# What a hostile POST might try to write, were the guard missing.
PAYLOAD = {
    "name": "Hacked",
    "description": "pwned",
    "price": "0",
    "stock": "999999",
    "is_admin": "1",
    "user_id": "1",
    "item_id": "1",
    "quantity": "1",
}


def endpoints_of(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()}


def rules_for(app: Flask, endpoint: str) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]


def methods_of(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_every_endpoint_has_an_access_rule(app):
    missing = sorted(endpoints_of(app) - set(ACCESS))
    assert not missing, (
        f"add these endpoints to ACCESS with who may use them: {missing}"
    )


def test_access_table_names_only_real_endpoints(app):
    assert not sorted(set(ACCESS) - endpoints_of(app) - PLANNED)


def test_access_rules_are_known():
    assert set(ACCESS.values()) <= set(RULES)


# --- the world the requests run in ------------------------------------------------


@pytest.fixture
def world(app, make_user, make_item):
    """Ids to fill URLs with: another customer's item, order and account."""
    make_user(name="Sam Shopper", email="sam@example.com")
    make_user(name="Alex Admin", email="admin@example.com", is_admin=True)
    olive = make_user(name="Olive Other", email="olive@example.com")
    item = make_item(name="Lamp", stock=5)
    archived = make_item(name="Retired", archived=True)
    record_purchase(olive, item, 1, 1250)
    fresh()
    order = db.session.scalar(sa.select(Order.id))
    return {"user_id": olive, "item_id": item, "order_id": order, "archived": archived}


def url_for_rule(rule: Rule, world: dict, endpoint: str) -> str:
    values = {}
    for name in rule.arguments:
        if name == "filename":
            values[name] = "css/store.css"
        elif name == "item_id" and endpoint == "items.restore":
            values[name] = world["archived"]
        else:
            values[name] = world[name]
    return rule.build(values)[1]


def with_valid_csrf(app: Flask, client: FlaskClient) -> str:
    """A CSRF token this client's session accepts (as a page of ours would give)."""
    # A fresh app context: generate_csrf caches its token in `g`.
    with app.app_context(), app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    with client.session_transaction() as client_session:
        client_session["csrf_token"] = raw
    return token


def snapshot() -> dict:
    """Everything an admin action could change."""
    fresh()
    return {
        "users": db.session.execute(
            sa.select(
                User.id,
                User.name,
                User.email,
                User.is_admin,
                User.is_enabled,
                User.session_token,
                User.password_hash,
            ).order_by(User.id)
        ).all(),
        "items": item_rows(),
        "lines": db.session.execute(
            sa.select(UserItem.id, UserItem.quantity, UserItem.unit_price_cents)
        ).all(),
        "orders": db.session.scalar(sa.select(sa.func.count(Order.id))),
    }


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client


ADMIN_ENDPOINTS = sorted(name for name, rule in ACCESS.items() if rule == "admin")


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS)
def test_admin_endpoint_refuses_others_and_writes_nothing(app, world, endpoint):
    rules = rules_for(app, endpoint)
    if not rules:
        assert endpoint in PLANNED
        pytest.skip(f"{endpoint} is not built yet")
    anonymous = app.test_client()
    shopper = signed_in(app, "sam@example.com")
    before = snapshot()
    for rule in rules:
        url = url_for_rule(rule, world, endpoint)
        for method in methods_of(rule):
            for client, expected in ((anonymous, 302), (shopper, 403)):
                data = None
                if method == "POST":
                    data = {"csrf_token": with_valid_csrf(app, client), **PAYLOAD}
                response = client.open(url, method=method, data=data)
                assert response.status_code == expected, (method, url, expected)
                if expected == 302:
                    assert response.headers["Location"].startswith("/users/login?next=")
                else:
                    assert "You do not have permission" in response.get_data(
                        as_text=True
                    )
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS)
def test_admin_endpoint_serves_an_admin(app, world, endpoint):
    rules = rules_for(app, endpoint)
    if not rules:
        pytest.skip(f"{endpoint} is not built yet")
    admin = signed_in(app, "admin@example.com")
    for rule in rules:
        if "GET" in rule.methods:
            response = admin.get(url_for_rule(rule, world, endpoint))
            assert response.status_code == 200, endpoint


@pytest.mark.parametrize(
    "endpoint",
    sorted(
        name for name, rule in ACCESS.items() if rule in ("signed_in", "owner_or_admin")
    ),
)
def test_signed_in_pages_send_visitors_to_login(app, world, endpoint):
    anonymous = app.test_client()
    for rule in rules_for(app, endpoint):
        if "GET" in rule.methods:
            response = anonymous.get(url_for_rule(rule, world, endpoint))
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/users/login?next=")


@pytest.mark.parametrize(
    "endpoint",
    sorted(name for name, rule in ACCESS.items() if rule == "owner_or_admin"),
)
def test_owner_pages_hide_other_customers_from_a_shopper(app, world, endpoint):
    shopper = signed_in(app, "sam@example.com")
    admin = signed_in(app, "admin@example.com")
    for rule in rules_for(app, endpoint):
        url = url_for_rule(rule, world, endpoint)
        response = shopper.get(url)
        assert response.status_code in (403, 404)
        assert "olive@example.com" not in response.get_data(as_text=True)
        assert admin.get(url).status_code == 200


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "anyone")
)
def test_public_pages_answer_visitors(app, world, endpoint):
    anonymous = app.test_client()
    for rule in rules_for(app, endpoint):
        if "GET" in rule.methods:
            response = anonymous.get(url_for_rule(rule, world, endpoint))
            assert response.status_code in (200, 302), endpoint
            if response.status_code == 302:
                assert not response.headers["Location"].startswith("/users/login")
