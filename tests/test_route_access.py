"""The route table: every endpoint says who may use it, and admin ones hold.

A new route without an entry in ACCESS fails the suite, so nobody can add a
page without deciding who may see it.
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.helpers import client_for, db_state, url_for_rule, valid_csrf

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
    "purchases.index": "signed_in",  # admins see every purchase
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


# --- requests for every route, against the `store` fixture -------------------------
# URLs name Olive's rows (another customer's, for Sam the shopper).


ADMIN_ENDPOINTS = sorted(name for name, rule in ACCESS.items() if rule == "admin")


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS)
def test_admin_endpoint_refuses_others_and_writes_nothing(app, store, endpoint):
    rules = rules_for(app, endpoint)
    if not rules:
        assert endpoint in PLANNED
        pytest.skip(f"{endpoint} is not built yet")
    anonymous = app.test_client()
    shopper = client_for(app, "sam@example.com")
    before = db_state(app)
    for rule in rules:
        url = url_for_rule(rule, store, store["olive"])
        for method in methods_of(rule):
            for client, expected in ((anonymous, 302), (shopper, 403)):
                data = None
                if method == "POST":
                    data = {"csrf_token": valid_csrf(client), **PAYLOAD}
                response = client.open(url, method=method, data=data)
                assert response.status_code == expected, (method, url, expected)
                if expected == 302:
                    assert response.headers["Location"].startswith("/users/login?next=")
                else:
                    assert "You do not have permission" in response.get_data(
                        as_text=True
                    )
    assert db_state(app) == before


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS)
def test_admin_endpoint_serves_an_admin(app, store, endpoint):
    rules = rules_for(app, endpoint)
    if not rules:
        pytest.skip(f"{endpoint} is not built yet")
    admin = client_for(app, "admin@example.com")
    for rule in rules:
        if "GET" in rule.methods:
            response = admin.get(url_for_rule(rule, store, store["olive"]))
            assert response.status_code == 200, endpoint


@pytest.mark.parametrize(
    "endpoint",
    sorted(
        name for name, rule in ACCESS.items() if rule in ("signed_in", "owner_or_admin")
    ),
)
def test_signed_in_pages_send_visitors_to_login(app, store, endpoint):
    anonymous = app.test_client()
    for rule in rules_for(app, endpoint):
        if "GET" in rule.methods:
            response = anonymous.get(url_for_rule(rule, store, store["olive"]))
            assert response.status_code == 302
            assert response.headers["Location"].startswith("/users/login?next=")


@pytest.mark.parametrize(
    "endpoint",
    sorted(name for name, rule in ACCESS.items() if rule == "owner_or_admin"),
)
def test_owner_pages_hide_other_customers_from_a_shopper(app, store, endpoint):
    shopper = client_for(app, "sam@example.com")
    admin = client_for(app, "admin@example.com")
    for rule in rules_for(app, endpoint):
        url = url_for_rule(rule, store, store["olive"])
        response = shopper.get(url)
        assert response.status_code in (403, 404)
        assert "olive@example.com" not in response.get_data(as_text=True)
        assert admin.get(url).status_code == 200


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "anyone")
)
def test_public_pages_answer_visitors(app, store, endpoint):
    anonymous = app.test_client()
    for rule in rules_for(app, endpoint):
        if "GET" in rule.methods:
            response = anonymous.get(url_for_rule(rule, store, store["olive"]))
            assert response.status_code in (200, 302), endpoint
            if response.status_code == 302:
                assert not response.headers["Location"].startswith("/users/login")
