"""The route table: every endpoint says who may use it, and admin ones hold.

A new route without an entry in ACCESS fails the suite, so nobody can add a
page without deciding who may see it.
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import Rule

from tests.helpers import (
    GOOD_ITEM,
    TEST_PASSWORD,
    add_to_cart,
    assert_local,
    client_for,
    html_of,
    is_signed_in,
    number_of,
    order_status,
    rules_of,
    stock_of,
    store_state,
    url_for_route,
    valid_csrf,
)

# link_holder: whoever holds an emailed link (reset, email change);
# owner: the row's owner only, admins included in "everyone else" (a 404);
# owner_or_admin: the owner and admins (others get a 404 or 403).
# payer: the order's owner paying by card, and nobody else (admins included:
# a 404); provider: the payment provider, proven by the body's signature,
# not by a session or a CSRF token (tests/test_payments.py).
RULES = (
    "anyone",
    "link_holder",
    "signed_in",
    "owner",
    "owner_or_admin",
    "payer",
    "provider",
    "admin",
)

ACCESS = {
    # the shop front
    "main.index": "anyone",
    "main.healthz": "anyone",
    "main.live": "anyone",
    "main.ready": "anyone",
    "main.sitemap": "anyone",
    "main.sitemap_pages": "anyone",
    "main.sitemap_items": "anyone",
    "main.robots": "anyone",
    "pages.show": "anyone",
    "static": "anyone",
    "items.index": "anyone",
    "items.detail": "anyone",  # archived items: admins only (404 for others)
    "media.serve": "anyone",  # a picture's resized copies
    "users.register": "anyone",
    "users.login": "anyone",
    "users.forgot_password": "anyone",
    # the emailed links: whoever holds one (a bad token gets a clear 400 page)
    "users.reset_password": "link_holder",
    "users.confirm_email": "link_holder",
    "users.unsubscribe": "link_holder",  # the "back in stock" emails' link
    # RFC 8058's one-click POST from a mail program: the signed token in the
    # URL is its authority, so it alone takes no CSRF token (test_wishlist.py)
    "users.unsubscribe_one_click": "link_holder",
    "purchases.cart": "anyone",
    "purchases.cart_add": "anyone",
    "purchases.cart_update": "anyone",
    "purchases.cart_remove": "anyone",
    # accounts
    "users.logout": "signed_in",
    "users.account": "signed_in",
    "users.delete_account": "signed_in",
    "purchases.checkout": "signed_in",
    "purchases.index": "signed_in",  # admins are sent to purchases.admin_index
    "users.detail": "owner_or_admin",
    "purchases.order": "owner_or_admin",  # by its number, never its id
    "purchases.cancel": "owner",  # admins move orders through change_status
    "purchases.card_step": "payer",
    "purchases.card_pay": "payer",
    "purchases.card_return": "payer",
    "purchases.stripe_webhook": "provider",  # Stripe-Signature, never a session
    # reviews (only a buyer's is written: test_reviews.py) and the wishlist
    "items.review_create": "signed_in",
    "items.review_edit": "signed_in",  # one's own review; none: 404
    "items.review_withdraw": "signed_in",
    "items.wishlist_toggle": "signed_in",
    "users.wishlist": "signed_in",
    "users.wishlist_emails": "signed_in",
    # the admin's store
    "items.create": "admin",
    "items.edit": "admin",
    "items.archive": "admin",
    "items.restore": "admin",
    "items.manage": "admin",
    "items.import_items": "admin",
    "items.import_template": "admin",
    "items.export": "admin",
    "items.review_hide": "admin",
    "items.review_show": "admin",
    "items.add_image": "admin",
    "items.delete_image": "admin",
    "items.move_image": "admin",
    "items.categories": "admin",
    "items.move_category": "admin",
    "users.index": "admin",
    "users.grant_admin": "admin",
    "users.revoke_admin": "admin",
    "users.disable": "admin",
    "users.enable": "admin",
    "purchases.admin_index": "admin",
    "purchases.export": "admin",
    "purchases.orders_index": "admin",
    "purchases.change_status": "admin",
    "purchases.refund": "admin",
    "purchases.orders_export": "admin",
    "purchases.settings": "admin",
    "audit.index": "admin",
    "pages.index": "admin",
    "pages.edit": "admin",
    "mail.index": "admin",
    "mail.retry": "admin",
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
    # an order's move or refund, the shop's settings, a new shipping method
    "status": "cancelled",
    "tracking_number": "1Z999",
    "amount": "19.99",
    "form": "shop",
    "shop-tax_rate": "50",
    "shop-bank_transfer_details": "Send it to me",
    "new-code": "free",
    "new-name": "Free",
    "new-price": "0",
    # a picture, a category
    "alt": "Hacked",
    "direction": "up",
    "parent_id": "",
    "slug": "hacked",
}


def endpoints_of(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()}


def rules_for(app: Flask, endpoint: str) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]


def methods_of(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def test_s32_every_route_has_an_access_rule(app):
    missing = sorted(endpoints_of(app) - set(ACCESS))
    assert not missing, (
        f"add these endpoints to ACCESS with who may use them: {missing}"
    )
    assert set(ACCESS.values()) <= set(RULES)


def test_access_table_names_only_real_endpoints(app):
    assert not sorted(set(ACCESS) - endpoints_of(app) - PLANNED)


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
    before = store_state(app)
    for rule in rules:
        url = url_for_route(app, rule, store, store["olive"])
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
    assert store_state(app) == before


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS)
def test_admin_endpoint_serves_an_admin(app, store, endpoint):
    rules = rules_for(app, endpoint)
    if not rules:
        pytest.skip(f"{endpoint} is not built yet")
    admin = client_for(app, "admin@example.com")
    for rule in rules:
        if "GET" in rule.methods:
            response = admin.get(url_for_route(app, rule, store, store["olive"]))
            assert response.status_code == 200, endpoint


@pytest.mark.parametrize(
    "endpoint",
    sorted(
        name
        for name, rule in ACCESS.items()
        if rule in ("signed_in", "owner", "owner_or_admin", "payer")
    ),
)
def test_signed_in_pages_send_visitors_to_login(app, store, endpoint):
    anonymous = app.test_client()
    before = store_state(app)
    for rule in rules_for(app, endpoint):
        url = url_for_route(app, rule, store, store["olive"])
        for method in methods_of(rule):
            data = None
            if method == "POST":
                data = {"csrf_token": valid_csrf(anonymous), **PAYLOAD}
            response = anonymous.open(url, method=method, data=data)
            assert response.status_code == 302, (method, url)
            if method == "GET" or ACCESS[endpoint] != "signed_in":
                assert response.headers["Location"].startswith("/users/login?next=")
    assert store_state(app) == before


@pytest.mark.parametrize(
    "endpoint",
    sorted(name for name, rule in ACCESS.items() if rule == "owner_or_admin"),
)
def test_owner_pages_hide_other_customers_from_a_shopper(app, store, endpoint):
    shopper = client_for(app, "sam@example.com")
    admin = client_for(app, "admin@example.com")
    for rule in rules_for(app, endpoint):
        url = url_for_route(app, rule, store, store["olive"])
        response = shopper.get(url)
        assert response.status_code in (403, 404)
        assert "olive@example.com" not in response.get_data(as_text=True)
        assert admin.get(url).status_code == 200


def assert_404_for_sam_and_the_admin(app, store, endpoint: str) -> None:
    """Every rule of `endpoint` on Olive's order, asked by Sam the shopper and
    by the admin with a valid token: a 404 that names nothing of hers."""
    for email in ("sam@example.com", "admin@example.com"):
        other = client_for(app, email)
        for rule in rules_for(app, endpoint):
            url = url_for_route(app, rule, store, store["olive"])
            data = {"csrf_token": valid_csrf(other), **PAYLOAD}
            response = other.open(url, method=methods_of(rule)[0], data=data)
            assert response.status_code == 404, (email, url)
            assert "olive@example.com" not in html_of(response)


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "owner")
)
def test_owner_actions_are_404_for_everyone_else_admins_included(app, store, endpoint):
    """Olive's own order: Sam the shopper and the admin both get a 404 (the
    admin moves it through its status form) and nothing changes; Olive may."""
    before = store_state(app)
    assert_404_for_sam_and_the_admin(app, store, endpoint)
    assert store_state(app) == before
    olive = client_for(app, "olive@example.com")
    for rule in rules_for(app, endpoint):
        url = url_for_route(app, rule, store, store["olive"])
        response = olive.open(
            url, method=methods_of(rule)[0], data={"csrf_token": valid_csrf(olive)}
        )
        assert response.status_code == 302, url
    assert store_state(app) != before


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "payer")
)
def test_payer_pages_are_404_for_everyone_else_admins_included(app, store, endpoint):
    """Olive's order's card step: Sam and the admin get a 404 and nothing is
    written; Olive (whose order is paid by transfer) is sent to her order."""
    before = store_state(app)
    assert_404_for_sam_and_the_admin(app, store, endpoint)
    olive = client_for(app, "olive@example.com")
    for rule in rules_for(app, endpoint):
        url = url_for_route(app, rule, store, store["olive"])
        data = {"csrf_token": valid_csrf(olive)}
        response = olive.open(url, method=methods_of(rule)[0], data=data)
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/purchases/orders/")
    assert store_state(app) == before


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "provider")
)
def test_provider_endpoints_refuse_every_session(app, make_app, store, endpoint):
    """Without a webhook secret the endpoint is a 404; with one, a session and a
    CSRF token count for nothing without the signature (a 400), and nothing
    is written."""
    signed = make_app(STRIPE_WEBHOOK_SECRET="whsec_route_table")
    before = store_state(app)
    for target, expected in ((app, 404), (signed, 400)):
        for email in (None, "sam@example.com", "admin@example.com"):
            client = client_for(target, email)
            for rule in rules_for(target, endpoint):
                url = url_for_route(target, rule, store)
                data = {"csrf_token": valid_csrf(client), **PAYLOAD}
                assert client.post(url, data=data).status_code == expected, url
    assert store_state(app) == before


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "anyone")
)
def test_public_pages_answer_visitors(app, store, endpoint):
    anonymous = app.test_client()
    for rule in rules_for(app, endpoint):
        if "GET" in rule.methods:
            response = anonymous.get(url_for_route(app, rule, store, store["olive"]))
            assert response.status_code in (200, 302), endpoint
            if response.status_code == 302:
                assert not response.headers["Location"].startswith("/users/login")


@pytest.mark.parametrize(
    "endpoint", sorted(name for name, rule in ACCESS.items() if rule == "link_holder")
)
def test_emailed_link_pages_need_the_link_and_nothing_else(app, store, endpoint):
    """Without a good token: a clear 400 page for anyone, signed in or not,
    and nothing written (the pages with a good token: test_password_reset.py,
    test_account_settings.py)."""
    before = store_state(app)
    for client in (app.test_client(), client_for(app, "sam@example.com")):
        for rule in rules_for(app, endpoint):
            url = url_for_route(app, rule, store, store["olive"])
            if "GET" not in rule.methods:  # a mail program's POST: a 400 page
                assert client.post(url).status_code == 400, endpoint
                continue
            response = client.get(url)
            assert response.status_code == 400, endpoint
            assert "This link does not work" in html_of(response)
    assert store_state(app) == before


# --- every route, every method: CSRF, POST only, sign-in, owners (SECURITY 16, 17, 29, 30) ---


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
    before = store_state(app)
    for rule in post_rules(app):
        if ACCESS[rule.endpoint] == "provider":
            continue  # signed by the provider instead (its own test above)
        url = url_for_route(app, rule, store)
        for token in (None, "", "forged-token", valid_csrf(app.test_client())):
            data = dict(payload) if token is None else {**payload, "csrf_token": token}
            response = client.post(url, data=data)
            assert response.status_code == 400, (url, token)
            assert "Bad request" in html_of(response)
    assert store_state(app) == before
    assert client.get("/purchases/cart").status_code == 200


def test_s17_state_changes_only_by_post(app, store):
    admin = client_for(app, "admin@example.com")
    before = store_state(app)
    for url in ("/users/logout", f"/items/{store['lamp']}/archive"):
        assert admin.get(url).status_code == 405
    get_paths = {rule.rule for rule in rules_of(app) if "GET" in rule.methods}
    for rule in post_rules(app):
        if rule.rule in get_paths:
            continue  # a form page (or the cart): GET draws it, writing nothing
        url = url_for_route(app, rule, store)
        response = admin.get(url)
        assert response.status_code == 405, url
        assert "POST" in response.headers["Allow"]
    assert store_state(app) == before
    assert is_signed_in(admin)


def test_s29_visitors_sign_in_first_and_shoppers_get_403_on_admin_pages(app, store):
    anonymous = app.test_client()
    shopper = client_for(app, "sam@example.com")
    before = store_state(app)
    for rule in rules_of(app):
        rule_for = ACCESS[rule.endpoint]
        if rule_for in ("anyone", "link_holder", "provider"):
            continue
        url = url_for_route(app, rule, store)
        for method in methods_of(rule):
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
    assert store_state(app) == before


def test_s30_shoppers_never_see_another_customers_data(app, store):
    sam = client_for(app, "sam@example.com")
    number = number_of(app, store["olive_order"])
    for url in (
        f"/users/{store['olive']}",
        f"/purchases/orders/{number}",
        f"/purchases/orders/{number.lower()}",
        f"/purchases/orders/{store['olive_order']}",  # an id is not a number
    ):
        response = sam.get(url)
        assert response.status_code in (403, 404), url
        html = html_of(response)
        assert "olive@example.com" not in html and "Olive" not in html, url
        assert number not in html, url
    for url in (
        f"/purchases/orders/{number}/cancel",
        f"/purchases/orders/{number}/status",
        f"/purchases/orders/{number}/refund",
    ):
        data = {"csrf_token": valid_csrf(sam), "status": "cancelled", "amount": "1"}
        assert sam.post(url, data=data).status_code in (403, 404), url
    assert order_status(app, number)[:2] == ("paid", 0)
    assert stock_of(app, store["lamp"]) == 4
    orders = html_of(sam.get("/purchases/"))
    assert number not in orders and "Olive" not in orders
    for query in (f"user_id={store['olive']}", f"item_id={store['lamp']}"):
        html = html_of(sam.get(f"/purchases/?{query}"))
        assert "Olive" not in html and "olive@example.com" not in html
        assert "Lamp" not in html  # Sam bought nothing; Olive's lamp is hers
    assert sam.get("/purchases/export.csv").status_code == 403
    assert sam.get("/purchases/orders/export.csv").status_code == 403
    assert sam.get("/purchases/orders/").status_code == 403
    assert sam.get("/users/").status_code == 403
