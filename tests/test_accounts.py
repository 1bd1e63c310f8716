"""Accounts: sign-up, sign-in (remember me, safe ?next=, rate limit), fresh
sessions that keep the cart, logout that kills old cookies, profiles; and the
security checks of signing up, signing in and sessions, each named after its
item (test_s06_..., SECURITY 6, 12, 18, 22-24, 26-28, 31)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer

from app.extensions import db
from app.models import User
from tests.helpers import (
    CSRF_RE,
    TEST_PASSWORD,
    add_to_cart,
    assert_local,
    assert_no_hash,
    cart_count,
    client_for,
    cookie_flags,
    count,
    csrf_token_from,
    html_of,
    is_signed_in,
    post_form,
    row_of,
    set_cookies,
    sign_in,
    sign_out,
)

SESSIONS = SecureCookieSessionInterface()
GOOD_SIGNUP = {
    "name": "New Person",
    "email": "New.Person@Example.COM",
    "password": "a-long-unusual-passphrase",
    "password_confirm": "a-long-unusual-passphrase",
}


# --- registration -----------------------------------------------------------------


def test_register_creates_a_lower_cased_account_and_signs_in(app, client):
    response = post_form(client, "/users/register", GOOD_SIGNUP)

    assert response.status_code == 302
    assert response.headers["Location"] == "/items/"
    with app.app_context():
        user = db.session.scalar(db.select(User))
    assert (user.name, user.email, user.is_admin) == (
        "New Person",
        "new.person@example.com",
        False,
    )
    assert user.check_password(GOOD_SIGNUP["password"])
    assert GOOD_SIGNUP["password"] not in user.password_hash
    html = html_of(client.get("/items/"))
    assert "Welcome, New Person! Your account is ready." in html
    assert "Sign out" in html
    assert is_signed_in(client)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "Enter your name."),
        ({"name": "   "}, "Enter your name."),
        ({"name": "\x00"}, "Enter your name."),
        ({"email": ""}, "Enter your email address."),
        ({"password": "", "password_confirm": ""}, "Choose a password."),
        ({"password_confirm": ""}, "Type the password again."),
        ({"password_confirm": "a-long-unusual-passphrasE"}, "do not match"),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": "a@b@example.com"}, "Enter a valid email address."),
        ({"email": "new\x00person@example.com"}, "Enter a valid email address."),
        ({"password": "short1", "password_confirm": "short1"}, "at least 8"),
        (
            {"password": "password123", "password_confirm": "password123"},
            "too common",
        ),
        (
            {"password": "PASSWORD123", "password_confirm": "PASSWORD123"},
            "too common",
        ),
        ({"name": "x" * 101}, "100"),
        ({"email": "x" * 250 + "@example.com"}, "254"),
        ({"password": "p" * 200, "password_confirm": "p" * 200}, "128"),
    ],
)
def test_register_with_bad_input_shows_errors_and_writes_no_user(
    app, client, changes, message
):
    response = post_form(client, "/users/register", {**GOOD_SIGNUP, **changes})

    assert response.status_code == 422
    assert message in html_of(response)
    assert count(app, User) == 0
    assert not is_signed_in(client)


def test_register_with_missing_fields_writes_no_user(app, client):
    response = post_form(client, "/users/register", {"name": "Only a name"})
    assert response.status_code == 422
    assert count(app, User) == 0


@pytest.mark.parametrize(
    "email", ["sam@example.com", "SAM@EXAMPLE.COM", " Sam@Example.com "]
)
def test_register_with_a_taken_email_in_any_case_is_refused(
    app, client, make_user, email
):
    make_user(email="sam@example.com")
    response = post_form(client, "/users/register", {**GOOD_SIGNUP, "email": email})
    assert response.status_code == 422
    html = html_of(response)
    assert "already has an account: sign in, or reset your password" in html
    assert 'href="/users/password/forgot"' in html
    assert count(app, User) == 1
    assert not is_signed_in(client)


def test_register_keeps_the_form_values_but_never_the_password(client):
    response = post_form(
        client, "/users/register", {**GOOD_SIGNUP, "password_confirm": "x"}
    )
    html = html_of(response)
    assert 'value="New Person"' in html
    assert GOOD_SIGNUP["password"] not in html


# --- signing in -------------------------------------------------------------------


@pytest.fixture
def sam(make_user) -> int:
    """A shopper who is not signed in yet."""
    return make_user("Sam Shopper", "sam@example.com")


def test_login_signs_in_and_flashes(client, sam):
    response = sign_in(client, "SAM@example.com ")
    assert response.headers["Location"] == "/items/"
    html = html_of(client.get("/items/"))
    assert "Signed in as Sam Shopper." in html
    assert f'href="/users/{sam}"' in html
    assert is_signed_in(client)


def test_login_without_remember_sets_no_remember_cookie(client, sam):
    response = sign_in(client, "sam@example.com")
    cookies = response.headers.getlist("Set-Cookie")
    assert not any(c.startswith("remember_token=") for c in cookies)
    session_cookie = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session_cookie
    assert "SameSite=Lax" in session_cookie


def test_login_with_remember_me_sets_an_http_only_remember_cookie(client, sam):
    response = sign_in(client, "sam@example.com", remember=True)
    remember = [
        c
        for c in response.headers.getlist("Set-Cookie")
        if c.startswith("remember_token=")
    ]
    assert len(remember) == 1
    assert "HttpOnly" in remember[0]
    assert "SameSite=Lax" in remember[0]
    assert "Expires=" in remember[0]

    # The remember cookie alone signs a new browser in.
    other = client.application.test_client()
    other.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert is_signed_in(other)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("sam@example.com", "wrong-password-1"),
        ("nobody@example.com", TEST_PASSWORD),
        ("x@example.com'--", "anything-at-all"),
        ("sam@example.com' OR '1'='1", "' OR '1'='1"),
        ("nobody\x00@example.com", TEST_PASSWORD),
        ("sam@example.com", "wrong\x00password"),
    ],
)
def test_failed_logins_all_get_the_same_answer(client, sam, email, password):
    response = post_form(client, "/users/login", {"email": email, "password": password})
    assert response.status_code == 422
    errors = re.findall(r'class="field-error">([^<]*)<', html_of(response))
    assert errors == ["Invalid email or password."]
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/%09/evil.example",
        " //evil.example",
        "\t//evil.example",
    ],
)
def test_login_never_redirects_off_site(client, sam, target):
    response = post_form(
        client,
        f"/users/login?next={target}",
        {"email": "sam@example.com", "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.scheme in ("", "http")
    assert parts.netloc in ("", "localhost")
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "\\" not in location
    assert "evil" not in location


def test_signed_in_visit_to_login_page_never_redirects_off_site(client, sam):
    sign_in(client, "sam@example.com")
    response = client.get("/users/login?next=//evil.example")
    assert response.status_code == 302
    assert response.headers["Location"] == "/items/"


def test_anonymous_visit_to_a_signed_in_page_comes_back_after_login(client, sam):
    response = client.get("/purchases/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login?next=%2Fpurchases%2F"
    response = post_form(
        client,
        response.headers["Location"],
        {"email": "sam@example.com", "password": TEST_PASSWORD},
    )
    assert response.headers["Location"] == "/purchases/"


def test_login_starts_a_fresh_session_but_keeps_the_cart(client, sam, make_item):
    item_id = make_item(stock=5)
    assert add_to_cart(client, item_id, 2).status_code == 302
    with client.session_transaction() as session:
        session["planted"] = "attacker-chosen"
        before = dict(session)
    old_cookie = client.get_cookie("session").value

    sign_in(client, "sam@example.com")

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["cart"] == before["cart"]
        assert session.get("csrf_token") != before.get("csrf_token")
    assert client.get_cookie("session").value != old_cookie
    assert cart_count(html_of(client.get("/purchases/cart"))) == 2


def test_register_starts_a_fresh_session_but_keeps_the_cart(client, make_item):
    item_id = make_item(stock=5)
    add_to_cart(client, item_id, 3)
    with client.session_transaction() as session:
        session["planted"] = "attacker-chosen"
    assert post_form(client, "/users/register", GOOD_SIGNUP).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["cart"] == {str(item_id): 3}
    assert cart_count(html_of(client.get("/purchases/cart"))) == 3


def test_login_rate_limit_answers_429_with_retry_after(make_app, sam):
    strict = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = strict.test_client()
    bad = {"email": "sam@example.com", "password": "wrong-password-1"}

    statuses = [post_form(client, "/users/login", bad).status_code for _ in range(3)]
    assert statuses == [422, 422, 422]

    blocked = post_form(client, "/users/login", bad)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts" in html_of(blocked)
    # Even the right password waits out the limit.
    right = post_form(
        client, "/users/login", {"email": "sam@example.com", "password": TEST_PASSWORD}
    )
    assert right.status_code == 429
    assert not is_signed_in(client)


# --- signing out ------------------------------------------------------------------


def test_logout_by_get_is_not_allowed(client, sam):
    sign_in(client, "sam@example.com")
    assert client.get("/users/logout").status_code == 405
    assert is_signed_in(client)


def test_logout_without_csrf_token_is_refused(client, sam):
    sign_in(client, "sam@example.com")
    assert client.post("/users/logout").status_code == 400
    assert is_signed_in(client)


def test_logout_signs_out_and_old_cookies_stop_working(client, sam):
    sign_in(client, "sam@example.com", remember=True)
    session_cookie = client.get_cookie("session").value
    remember_cookie = client.get_cookie("remember_token").value

    response = sign_out(client)
    assert response.status_code == 302
    assert "You are signed out." in html_of(client.get("/items/"))
    assert not is_signed_in(client)

    replay = client.application.test_client()
    replay.set_cookie("session", session_cookie)
    response = replay.get("/purchases/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/users/login")

    replay = client.application.test_client()
    replay.set_cookie("remember_token", remember_cookie)
    assert not is_signed_in(replay)


def test_tampered_session_cookie_is_anonymous(client, sam, app):
    sign_in(client, "sam@example.com")
    value = client.get_cookie("session").value
    payload, _, signature = value.rpartition(".")

    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    with client.session_transaction() as session:
        identity = session["_user_id"]
    forger = Flask("forger")
    forger.secret_key = "not-the-secret-key"
    forged_with_other_key = SESSIONS.get_signing_serializer(forger).dumps(
        {"_user_id": identity, "_fresh": True}
    )
    # Signed with the real key but naming an old session token: still anonymous.
    stale_token = SESSIONS.get_signing_serializer(app).dumps(
        {"_user_id": f"{sam}:{'0' * 32}", "_fresh": True}
    )
    cookies = [f"{payload}.{flipped}", forged_with_other_key, stale_token, "garbage"]
    for cookie in cookies:
        fresh_client = app.test_client()
        fresh_client.set_cookie("session", cookie)
        response = fresh_client.get("/purchases/")
        assert response.status_code == 302, cookie
        assert "Sign in" in html_of(fresh_client.get("/items/"))


# --- profiles ---------------------------------------------------------------------


@pytest.fixture
def buyer_with_purchases(make_user, make_item, make_purchase) -> tuple[int, dict]:
    buyer = make_user("Bea Buyer", "bea@example.com")
    kettle = make_item(name="Copper Kettle", price_cents=4500)
    mugs = make_item(name="Blue Mug", price_cents=800)
    make_purchase(buyer, kettle, 1, 4500)
    make_purchase(buyer, mugs, 2, 800)
    make_purchase(buyer, mugs, 3, 700)
    return buyer, {"kettle": kettle, "mugs": mugs}


def test_profile_lists_the_items_the_user_bought_with_units(
    app, client, buyer_with_purchases
):
    buyer, items = buyer_with_purchases
    sign_in(client, "bea@example.com")
    response = client.get(f"/users/{buyer}")
    assert response.status_code == 200
    html = html_of(response)
    assert "Bea Buyer" in html
    with app.app_context():
        bought = [(item.id, item.name) for item in db.session.get(User, buyer).items]
    assert len(bought) == 2
    for item_id, name in bought:
        assert f'<a href="/items/{item_id}">{name}</a>' in html
    # One row per item, with the units added up over its purchase lines.
    mug_row = html[html.index(f'href="/items/{items["mugs"]}"') :].split("</tr>")[0]
    assert '<td class="num">5</td>' in mug_row
    assert "$37.00" in mug_row
    kettle_row = html[html.index(f'href="/items/{items["kettle"]}"') :]
    assert '<td class="num">1</td>' in kettle_row.split("</tr>")[0]
    assert "3 purchases, $82.00 spent." in html
    assert_no_hash(html)


def test_profile_is_visible_to_admins(client, make_user, buyer_with_purchases):
    buyer, _ = buyer_with_purchases
    make_user("Alex Admin", "admin@example.com", is_admin=True)
    sign_in(client, "admin@example.com")
    html = html_of(client.get(f"/users/{buyer}"))
    assert "Bea Buyer" in html
    assert "Copper Kettle" in html


def test_profile_of_another_shopper_is_403_without_their_data(
    client, make_user, buyer_with_purchases
):
    buyer, _ = buyer_with_purchases
    make_user("Nosy Neighbour", "nosy@example.com")
    sign_in(client, "nosy@example.com")
    response = client.get(f"/users/{buyer}")
    assert response.status_code == 403
    html = html_of(response)
    assert "Bea Buyer" not in html
    assert "bea@example.com" not in html
    assert "Copper Kettle" not in html


def test_profile_sends_anonymous_visitors_to_login(client, buyer_with_purchases):
    buyer, _ = buyer_with_purchases
    response = client.get(f"/users/{buyer}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/users/login?next=%2Fusers%2F{buyer}"


def test_unknown_profile_is_not_found_for_admins(client, admin):
    for user_id in (999999, 2**31, 10**30):
        assert client.get(f"/users/{user_id}").status_code == 404


def test_login_page_token_is_required(client, sam):
    response = client.post(
        "/users/login", data={"email": "sam@example.com", "password": TEST_PASSWORD}
    )
    assert response.status_code == 400
    assert not is_signed_in(client)
    html = html_of(client.get("/users/login"))
    assert csrf_token_from(html)


# --- sign-in and sessions, item by item (SECURITY 6, 12, 18, 22-24, 26-28, 31) ------


def test_s06_sql_in_the_login_email_is_an_ordinary_failure(app, store):
    for email in ("sam@example.com'--", "' OR '1'='1", "sam@example.com' OR 1=1--"):
        for password in ("anything-at-all", TEST_PASSWORD):
            client = app.test_client()
            form = {"email": email, "password": password}
            response = post_form(client, "/users/login", form)
            assert response.status_code == 422, email
            assert "Invalid email or password." in html_of(response)
            assert not is_signed_in(client)


BAD_SIGNUPS = (
    {"name": ""},
    {"name": "Admin\u202e"},  # bidirectional override
    {"name": "Ad\u200bmin"},  # zero-width space
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


def test_s18_session_and_remember_cookies_are_httponly_and_lax(app, store):
    response = sign_in(app.test_client(), "sam@example.com", remember=True)
    cookies = set_cookies(response)
    assert {"session", "remember_token"} <= set(cookies)
    for name in ("session", "remember_token"):
        flags = cookie_flags(cookies[name])
        assert {"httponly", "samesite=lax"} <= flags, name
        assert "secure" not in flags, name  # development over plain HTTP


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
    client = strict.test_client()
    bad = {"email": "sam@example.com", "password": "wrong-pass-1"}
    statuses = [post_form(client, "/users/login", bad).status_code for _ in range(3)]
    assert statuses == [422, 422, 422]
    blocked = post_form(client, "/users/login", bad)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts" in html_of(blocked)
    right = {"email": "sam@example.com", "password": TEST_PASSWORD}
    client = strict.test_client()
    assert post_form(client, "/users/login", right).status_code == 429
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    "first", ["/users/login", "/users/register", "/users/password/forgot"]
)
def test_s42_sign_in_sign_up_and_reset_share_one_budget_per_address(
    make_app, store, first
):
    """Sign-up cannot test emails beside sign-in's guesses: spending the
    budget on any of the three forms leaves none for the others."""
    strict = make_app(LOGIN_RATE_LIMIT="3 per minute")
    forms = {
        "/users/login": {"email": "sam@example.com", "password": "wrong-pass-1"},
        "/users/register": {**GOOD_SIGNUP, "email": "olive@example.com"},
        "/users/password/forgot": {"email": "nobody@example.com"},
    }
    client = strict.test_client()
    for _ in range(3):
        assert post_form(client, first, forms[first]).status_code in (302, 422)
    for url, data in forms.items():
        blocked = post_form(strict.test_client(), url, data)
        assert blocked.status_code == 429, url
        assert int(blocked.headers["Retry-After"]) > 0
    # Drawing the forms is free.
    for url in forms:
        assert client.get(url).status_code == 200


def test_s42_one_account_has_a_budget_of_its_own_across_addresses(make_app, store):
    """Guesses at one account from many addresses: the account's own limit
    stops them; another account is not affected."""
    strict = make_app(ACCOUNT_RATE_LIMIT="3 per minute")
    bad = {"email": "Sam@Example.com", "password": "wrong-pass-1"}
    statuses = []
    for n, url in enumerate(
        ["/users/login", "/users/password/forgot", "/users/register", "/users/login"]
    ):
        client = strict.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n + 1}"
        data = {**GOOD_SIGNUP, **bad} if url == "/users/register" else bad
        statuses.append(post_form(client, url, data).status_code)
    assert statuses == [422, 302, 422, 429]
    other = strict.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    right = {"email": "olive@example.com", "password": TEST_PASSWORD}
    assert post_form(other, "/users/login", right).status_code == 302


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


@pytest.mark.parametrize(
    ("url", "query", "target"),
    [
        ("/users/login", {"next": "/purchases/cart"}, "/purchases/cart"),
        ("/users/login?next=/purchases/?page=1", None, "/purchases/?page=1"),
    ],
    ids=["next-in-the-query", "next-in-the-form-url"],
)
def test_s26_a_local_next_is_honoured(app, store, url, query, target):
    client = app.test_client()
    response = post_form(
        client,
        url,
        {"email": "sam@example.com", "password": TEST_PASSWORD},
        page=url,
        query_string=query,
    )
    assert response.headers["Location"] == target


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


@pytest.mark.parametrize(
    "extra",
    [
        {"is_admin": "1", "is_enabled": "1"},
        {
            "is_admin": "1",
            "is_admin_": "true",
            "admin": "on",
            "is_enabled": "1",
            "session_token": "chosen",
            "id": "1",
        },
    ],
    ids=["is_admin", "every-account-field"],
)
def test_s31_registering_with_extra_fields_never_makes_an_admin(app, extra):
    client = app.test_client()
    assert (
        post_form(client, "/users/register", {**GOOD_SIGNUP, **extra}).status_code
        == 302
    )
    with app.app_context():
        user = db.session.scalars(sa.select(User)).one()
    assert user.is_admin is False
    assert user.session_token != "chosen"
    assert client.get("/users/").status_code == 403
