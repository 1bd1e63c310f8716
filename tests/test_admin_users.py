"""The admin's customer list (/users/) and access changes (admin, enabled)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import User, UserItem
from tests.helpers import (
    HOSTILE,
    TEST_PASSWORD,
    audit_events,
    count,
    count_queries,
    csrf_token_from,
    flashes,
    html_of,
    minutes_ago,
    post_form,
    row_of,
    sign_in,
    table_rows,
)


def customers(html: str) -> dict[str, list[str]]:
    """Each body row of the customer table by name: its cells' text."""
    return {cells[0]: cells for cells in table_rows(html)}


def test_customer_list_shows_purchase_totals(
    client, admin, make_user, make_item, make_purchase
):
    ann = make_user(name="Ann Buyer", email="ann@example.com")
    make_user(name="Nora Never", email="nora@example.com")
    mug, lamp = make_item(price_cents=1250), make_item(price_cents=300)
    make_purchase(ann, mug, 2, 1250)
    make_purchase(ann, lamp, 1, 300)
    response = client.get("/users/")
    assert response.status_code == 200
    rows = customers(response.get_data(as_text=True))
    assert set(rows) == {"Alex Admin", "Ann Buyer", "Nora Never"}
    # name, email, joined, lines, units, spent, access
    assert rows["Ann Buyer"][1] == "ann@example.com"
    assert rows["Ann Buyer"][3:6] == ["2", "3", "$28.00"]
    assert rows["Nora Never"][3:6] == ["0", "0", "$0.00"]
    html = response.get_data(as_text=True)
    assert f'href="/users/{ann}"' in html
    assert f'href="/purchases/all?user_id={ann}"' in html


def test_customer_list_totals_do_not_overflow_32_bits(
    app, client, admin, make_user, make_item
):
    big = make_user(name="Big Spender")
    item = make_item()
    with app.app_context():
        db.session.add(
            UserItem(
                user_id=big,
                item_id=item,
                quantity=1000,
                unit_price_cents=100_000_000,
            )
        )
        db.session.commit()
    rows = customers(client.get("/users/").get_data(as_text=True))
    assert rows["Big Spender"][5] == "$1,000,000,000.00"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ann", {"Ann Buyer"}),
        ("ANN", {"Ann Buyer"}),
        ("nora@EXAMPLE", {"Nora Never"}),
        ("example.com", {"Alex Admin", "Ann Buyer", "Nora Never"}),
        ("%", set()),
        ("ann\x00", {"Ann Buyer"}),
        ("_", set()),
        ("' OR 1=1--", set()),
        ("%' UNION SELECT password_hash FROM users--", set()),
    ],
)
def test_customer_search_by_name_or_email(client, admin, make_user, query, expected):
    make_user(name="Ann Buyer", email="ann@example.com")
    make_user(name="Nora Never", email="nora@example.com")
    response = client.get("/users/", query_string={"q": query})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert set(customers(html)) == expected
    assert "scrypt:" not in html and "pbkdf2:" not in html


def test_customer_list_sorts_by_total_spent(
    client, admin, make_user, make_item, make_purchase
):
    item = make_item()
    small, large = make_user(name="Small"), make_user(name="Large")
    make_purchase(small, item, 1, 100)
    make_purchase(large, item, 1, 9_000)
    html = client.get("/users/?sort=spent").get_data(as_text=True)
    assert list(customers(html))[:2] == ["Large", "Small"]
    assert client.get("/users/?sort=password_hash").status_code == 200


def test_customer_list_escapes_hostile_names(client, admin, make_user):
    make_user(name=HOSTILE)
    html = client.get(f"/users/?q={HOSTILE[:20]}").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"onmouseover=' not in html


def test_customer_list_pages_by_fifty(client, admin, make_users):
    make_users(55)
    first = customers(client.get("/users/").get_data(as_text=True))
    second = client.get("/users/?page=2").get_data(as_text=True)
    assert len(first) == 50
    assert len(customers(second)) == 6  # 55 buyers and the admin
    assert 'href="/users/?page=1"' in second


@pytest.mark.parametrize(("page", "status"), [("0", 404), ("-1", 404), ("7", 404)])
def test_customer_list_bad_pages(client, admin, page, status):
    assert client.get(f"/users/?page={page}").status_code == status


def test_customer_list_junk_page_is_the_first(client, admin):
    assert client.get("/users/?page=abc").status_code == 200
    assert client.get(f"/users/?page={'9' * 40}").status_code in (200, 404)


def test_customer_list_query_count_does_not_grow(
    app, client, admin, make_item, make_purchase, make_users
):
    item = make_item()

    def queries() -> int:
        with count_queries(app) as statements:
            assert client.get("/users/").status_code == 200
        return len(statements)

    for user_id, _ in make_users(3, "few"):
        make_purchase(user_id, item)
    few = queries()
    for user_id, _ in make_users(27, "more"):
        make_purchase(user_id, item, 2)
        make_purchase(user_id, item, 1)
    assert queries() == few


# --- access changes -------------------------------------------------------------


def test_grant_and_revoke_admin(app, client, admin, make_user):
    sam = make_user(name="Sam")
    response = post_form(client, f"/users/{sam}/grant-admin", page="/users/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/"
    assert row_of(app, User, sam).is_admin
    assert "Sam is now an admin." in client.get("/users/").get_data(as_text=True)
    post_form(client, f"/users/{sam}/revoke-admin", page="/users/")
    assert not row_of(app, User, sam).is_admin


def test_access_change_returns_to_the_same_list(client, admin, make_user):
    sam = make_user(name="Sam")
    url = f"/users/{sam}/disable?q=sam&sort=spent&page=1"
    response = post_form(client, url, page="/users/?q=sam&sort=spent")
    assert response.headers["Location"] == "/users/?q=sam&sort=spent"


def test_disable_ends_the_users_sessions_and_enable_restores(
    app, client, admin, make_user
):
    sam = make_user(name="Sam", email="sam@example.com")
    sams_client = app.test_client()
    sign_in(sams_client, "sam@example.com")
    assert sams_client.get("/purchases/").status_code == 200
    token_before = row_of(app, User, sam).session_token

    response = post_form(client, f"/users/{sam}/disable", page="/users/")
    assert response.status_code == 302
    user = row_of(app, User, sam)
    assert not user.is_enabled
    assert user.session_token != token_before
    signed_out = sams_client.get("/purchases/")
    assert signed_out.status_code == 302
    assert "/users/login" in signed_out.headers["Location"]
    refused = post_form(
        sams_client,
        "/users/login",
        {"email": "sam@example.com", "password": TEST_PASSWORD},
    )
    assert refused.status_code != 302

    post_form(client, f"/users/{sam}/enable", page="/users/")
    assert row_of(app, User, sam).is_enabled
    sign_in(sams_client, "sam@example.com")


def test_admin_cannot_demote_or_disable_themselves(app, client, admin):
    for action, message in [
        ("revoke-admin", "You cannot remove your own admin rights."),
        ("disable", "You cannot disable your own account."),
    ]:
        before = row_of(app, User, admin).session_token
        response = post_form(
            client, f"/users/{admin}/{action}", page="/users/", follow_redirects=True
        )
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)
        user = row_of(app, User, admin)
        assert (user.is_admin, user.is_enabled, user.session_token) == (
            True,
            True,
            before,
        )
    html = client.get("/users/").get_data(as_text=True)
    assert f'action="/users/{admin}/' not in html  # no buttons for yourself


@pytest.mark.parametrize("user_id", ["999", "2147483648", "9" * 30])
def test_access_change_for_unknown_user_is_404(client, admin, user_id):
    for action in ("grant-admin", "revoke-admin", "disable", "enable"):
        url = f"/users/{user_id}/{action}"
        assert post_form(client, url, page="/users/").status_code == 404


def test_access_changes_need_post_and_csrf(app, client, admin, make_user):
    sam = make_user(name="Sam")
    for action in ("grant-admin", "revoke-admin", "disable", "enable"):
        assert client.get(f"/users/{sam}/{action}").status_code == 405
    assert client.post(f"/users/{sam}/grant-admin").status_code == 400
    assert client.post(f"/users/{sam}/disable").status_code == 400
    user = row_of(app, User, sam)
    assert (user.is_admin, user.is_enabled) == (False, True)


def test_shopper_cannot_list_or_change_users(app, make_user):
    client = app.test_client()
    sam = make_user(name="Sam", email="sam@example.com")
    other = make_user(name="Olive", email="olive@example.com")
    sign_in(client, "sam@example.com")
    assert client.get("/users/").status_code == 403
    token = csrf_token_from(client.get("/items/").get_data(as_text=True))
    for target in (sam, other):
        for action in ("grant-admin", "revoke-admin", "disable", "enable"):
            url = f"/users/{target}/{action}"
            assert client.post(url, data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.execute(
            sa.select(User.is_admin, User.is_enabled).order_by(User.id)
        ).all() == [(False, True), (False, True)]
    assert count(app, User) == 2


def test_joined_date_and_markers(app, client, admin, make_user):
    sam = make_user(name="Sam")
    with app.app_context():
        db.session.execute(
            sa.update(User)
            .where(User.id == sam)
            .values(is_enabled=False, created_at=minutes_ago(0))
        )
        db.session.commit()
    row = customers(client.get("/users/").get_data(as_text=True))["Sam"]
    assert row[2] == "2024-05-01 12:00 UTC"  # stored and shown in UTC
    assert "Disabled" in row[6]
    assert "Enable" in row[6]


@pytest.mark.parametrize(
    "actions",
    [("revoke-admin", "revoke-admin"), ("disable", "disable"),
     ("revoke-admin", "disable")],
    ids=["revoke-revoke", "disable-disable", "revoke-disable"],
)  # fmt: skip
def test_two_admins_taking_each_other_away_at_once_leave_one_admin(
    app, make_app, make_user, actions
):
    """Each on an app of its own, at the same moment, several rounds: one
    change applies, the other is refused with a message (never a deadlock's
    500), one enabled admin is left, and one audit event is written."""
    from tests.test_order_races import Side, race

    for round_ in range(3):
        ada = make_user("Ada", f"ada{round_}@example.com", is_admin=True)
        bob = make_user("Bob", f"bob{round_}@example.com", is_admin=True)
        with app.app_context():  # the earlier rounds' pair steps aside
            db.session.execute(
                sa.update(User).where(User.id.not_in((ada, bob))).values(is_admin=False)
            )
            db.session.commit()
        events_before = len(audit_events(app))
        sides = []
        for email, target, action in (
            (f"ada{round_}@example.com", bob, actions[0]),
            (f"bob{round_}@example.com", ada, actions[1]),
        ):
            browser = make_app().test_client()
            sign_in(browser, email)
            token = csrf_token_from(browser.get("/users/").get_data(as_text=True))
            sides.append(
                Side(browser, f"/users/{target}/{action}", {"csrf_token": token})
            )
        answers = race(sides)
        codes = sorted(a.status_code for a in answers)
        # Both requests mostly pass the admin check before either commits; on
        # a loaded machine one may be read after the other's commit, and is
        # then refused as no longer an admin (a 403) before it acts.
        assert codes in ([302, 302], [302, 403]), codes
        if codes == [302, 302]:
            # The winner's page, and the loser's (a 403 for whoever was
            # revoked), with the message each was flashed.
            told = [
                " ".join(flashes(html_of(side.client.get(a.headers["Location"]))))
                for side, a in zip(sides, answers, strict=True)
            ]
            # The loser is told, unless the winner disabled them: then they
            # are signed out, and the message goes with their ended session.
            refused = [t for t in told if "must keep an enabled admin" in t]
            assert len(refused) == 1 or "disable" in actions, told
        else:
            told = [html_of(a) for a in answers if a.status_code == 403]
        with app.app_context():
            left = db.session.scalars(
                sa.select(User.id).where(User.is_admin, User.is_enabled)
            ).all()
        assert len(left) == 1, (told, left)
        assert len(audit_events(app)) == events_before + 1
