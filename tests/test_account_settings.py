"""The account page (/users/account): the name; the email (the current
password needed, the new address confirmed by a link sent to it); the
password (the current one needed, other sessions end); deleting the account
(personal details removed, orders kept, sign-in impossible).
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Address, Order, OutboxMessage, User
from tests.helpers import (
    TEST_ADDRESS,
    TEST_PASSWORD,
    client_for,
    count,
    db_state,
    html_of,
    is_signed_in,
    outbox_rows,
    post_form,
    row_of,
    send_all,
    the_link,
)

NEW_PASSWORD = "a-brand-new-passphrase"
CONFIRM = "/users/account/email/"


def settings(client, **changes):
    """Submit the account form with the page's current values, some changed."""
    form = {"name": "Sam Shopper", "email": "sam@example.com", **changes}
    return post_form(client, "/users/account", form)


def can_sign_in(app, email: str, password: str) -> bool:
    response = post_form(
        app.test_client(), "/users/login", {"email": email, "password": password}
    )
    return response.status_code == 302


def test_the_account_page_shows_the_current_name_and_email(app, store):
    sam = client_for(app, "sam@example.com")
    html = html_of(sam.get("/users/account"))
    assert 'value="Sam Shopper"' in html and 'value="sam@example.com"' in html
    assert 'name="current_password"' in html and 'name="password_confirm"' in html


def test_a_name_change_needs_no_password(app, store):
    sam = client_for(app, "sam@example.com")
    response = settings(sam, name="Samantha Shopper")
    assert response.status_code == 302
    assert row_of(app, User, store["sam"]).name == "Samantha Shopper"
    assert "Your name is saved." in html_of(sam.get("/users/account"))
    assert count(app, OutboxMessage) == 0


def test_email_and_password_changes_need_the_current_password(app, store):
    sam = client_for(app, "sam@example.com")
    before = db_state(app)
    for current in ("", "wrong-password-1"):
        for change in (
            {"email": "sam.new@example.com"},
            {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
            {"name": "Renamed", "email": "sam.new@example.com"},
        ):
            response = settings(sam, current_password=current, **change)
            assert response.status_code == 422, (current, change)
            html = html_of(response)
            assert (
                "That is not your current password." in html
                if current
                else "Enter your current password" in html
            )
    assert db_state(app) == before  # not even the name
    assert count(app, OutboxMessage) == 0


def test_a_new_email_takes_effect_when_its_link_is_used(app, store, mailer, smtp):
    sam = client_for(app, "sam@example.com")
    response = settings(
        sam, email="Sam.New@Example.com", current_password=TEST_PASSWORD
    )
    assert response.status_code == 302
    assert "We sent a link to sam.new@example.com" in html_of(sam.get("/users/account"))
    assert row_of(app, User, store["sam"]).email == "sam@example.com"  # not yet
    send_all(mailer)
    [email] = smtp.to("sam.new@example.com")
    assert email.subject == "Confirm your new email for Corner Store"
    link = the_link(email, CONFIRM)

    # Opening the link (a mail scanner, a preview) changes nothing.
    anonymous = app.test_client()
    page = anonymous.get(link)
    assert page.status_code == 200
    assert "Use sam.new@example.com" in html_of(page)
    assert row_of(app, User, store["sam"]).email == "sam@example.com"

    assert post_form(anonymous, link).status_code == 302
    assert row_of(app, User, store["sam"]).email == "sam.new@example.com"
    assert can_sign_in(app, "sam.new@example.com", TEST_PASSWORD)
    assert not can_sign_in(app, "sam@example.com", TEST_PASSWORD)
    # The old address hears of it; the link works once.
    send_all(mailer)
    assert (
        smtp.to("sam@example.com")[-1].subject == "Your Corner Store email was changed"
    )
    before = db_state(app)
    again = anonymous.get(link)
    assert again.status_code == 400
    assert "This link was already used" in html_of(again)
    assert db_state(app) == before


def test_a_taken_email_is_not_revealed_and_its_owner_is_told(app, store, mailer, smtp):
    sam = client_for(app, "sam@example.com")
    response = settings(sam, email="olive@example.com", current_password=TEST_PASSWORD)
    assert response.status_code == 302
    assert "We sent a link to olive@example.com" in html_of(sam.get("/users/account"))
    send_all(mailer)
    [note] = smtp.messages()
    assert note.rcpt_tos == ["olive@example.com"]
    assert "move another Corner Store account to this address" in note.text
    assert not [link for link in note.links() if CONFIRM in link]
    assert row_of(app, User, store["sam"]).email == "sam@example.com"


def test_a_password_change_ends_the_other_sessions_only(app, store, mailer, smtp):
    sam = client_for(app, "sam@example.com")
    other = client_for(app, "sam@example.com")
    response = settings(
        sam,
        current_password=TEST_PASSWORD,
        password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD,
    )
    assert response.status_code == 302
    assert is_signed_in(sam)
    assert not is_signed_in(other)
    assert can_sign_in(app, "sam@example.com", NEW_PASSWORD)
    assert not can_sign_in(app, "sam@example.com", TEST_PASSWORD)
    assert [row.kind for row in outbox_rows(app)] == ["password_changed"]
    send_all(mailer)
    assert (
        smtp.to("sam@example.com")[0].subject
        == "Your Corner Store password was changed"
    )


def test_a_weak_or_unconfirmed_new_password_is_refused(app, store):
    sam = client_for(app, "sam@example.com")
    before = db_state(app)
    for password, confirm in (("short", "short"), (NEW_PASSWORD, "something-else")):
        response = settings(
            sam,
            current_password=TEST_PASSWORD,
            password=password,
            password_confirm=confirm,
        )
        assert response.status_code == 422
    assert db_state(app) == before


def test_s43_a_name_with_line_breaks_is_kept_to_one_line(app, store):
    sam = client_for(app, "sam@example.com")
    settings(sam, name="Sam\r\nBcc: spy@example.com")
    assert row_of(app, User, store["sam"]).name == "SamBcc: spy@example.com"


# --- deleting the account ---------------------------------------------------------


def delete(client, password: str = TEST_PASSWORD, confirm: bool = True):
    data = {"current_password": password}
    if confirm:
        data["confirm"] = "y"
    return post_form(client, "/users/account/delete", data, page="/users/account")


def test_deleting_the_account_removes_personal_details_and_keeps_orders(app, store):
    olive = client_for(app, "olive@example.com")
    with app.app_context():
        db.session.add(Address(user_id=store["olive"], **TEST_ADDRESS))
        db.session.commit()
    orders_before = count(app, Order)
    response = delete(olive)
    assert response.status_code == 302
    user = row_of(app, User, store["olive"])
    assert user.name == "Deleted account"
    assert "olive" not in user.email
    assert user.deleted_at is not None and not user.is_enabled
    assert not is_signed_in(olive)
    assert not can_sign_in(app, "olive@example.com", TEST_PASSWORD)
    assert count(app, Address) == 0
    assert count(app, Order) == orders_before  # the shop's books
    with app.app_context():
        order = db.session.get(Order, store["olive_order"])
        assert order.user_id == store["olive"]
    # The address is free again, and a reset for it reaches nobody.
    assert (
        post_form(
            app.test_client(), "/users/password/forgot", {"email": "olive@example.com"}
        ).status_code
        == 302
    )
    assert count(app, OutboxMessage) == 0


def test_deleting_needs_the_password_and_the_tick(app, store):
    olive = client_for(app, "olive@example.com")
    before = db_state(app)
    assert delete(olive, "wrong-password-1").status_code == 422
    assert delete(olive, confirm=False).status_code == 422
    assert delete(olive, "").status_code == 422
    assert db_state(app) == before
    assert is_signed_in(olive)


def test_an_admin_cannot_delete_their_account(app, store):
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    response = delete(admin)
    assert response.status_code == 302
    assert db_state(app) == before


def test_a_deleted_account_cannot_be_enabled_again(app, store):
    olive = client_for(app, "olive@example.com")
    delete(olive)
    admin = client_for(app, "admin@example.com")
    before = db_state(app)
    for action in ("enable", "grant-admin"):
        post_form(admin, f"/users/{store['olive']}/{action}", page="/users/")
    assert db_state(app) == before
    with app.app_context():
        assert not db.session.scalar(
            sa.select(User.is_enabled).where(User.id == store["olive"])
        )
