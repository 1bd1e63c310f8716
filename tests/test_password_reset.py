"""A forgotten password (SECURITY 41-43): the same answer whether or not an
account exists; a link by email (read from a real SMTP server) that works
once, expires, and ends every session; `flask users set-password` for
operators, granting nothing.
"""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner

from app.models import OutboxMessage, User
from tests.helpers import (
    CSRF_RE,
    TEST_PASSWORD,
    assert_plain_error_page,
    client_for,
    count,
    csrf_token_from,
    db_state,
    html_of,
    is_signed_in,
    outbox_rows,
    post_form,
    row_of,
    send_all,
    the_link,
    valid_csrf,
)

NEW_PASSWORD = "a-brand-new-passphrase"
RESET = "/users/password/reset/"


def ask_for_reset(client, email: str):
    return post_form(client, "/users/password/forgot", {"email": email})


def reset_link(app, mailer, smtp, email: str = "sam@example.com") -> str:
    assert ask_for_reset(app.test_client(), email).status_code == 302
    send_all(mailer)
    return the_link(smtp.to(email)[-1], RESET)


def choose(client, link: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return post_form(
        client,
        link,
        {"password": password, "password_confirm": confirm or password},
    )


def can_sign_in(app, email: str, password: str) -> bool:
    response = post_form(
        app.test_client(), "/users/login", {"email": email, "password": password}
    )
    return response.status_code == 302


def test_s42_forgot_answers_the_same_for_known_and_unknown_emails(app, store):
    """Same status, same redirect, same page: only the known one queues an email."""
    answers = []
    for email in ("sam@example.com", "nobody@example.com"):
        client = app.test_client()
        response = ask_for_reset(client, email)
        page = html_of(client.get(response.headers["Location"]))
        answers.append((response.status_code, response.headers["Location"], page))
    (status_a, where_a, page_a), (status_b, where_b, page_b) = answers
    assert (status_a, where_a) == (status_b, where_b) == (302, "/users/password/forgot")
    assert _without(page_a, "sam@example.com") == _without(page_b, "nobody@example.com")
    assert "If an account uses sam@example.com, we have sent it a link" in page_a
    assert [row.recipient for row in outbox_rows(app)] == ["sam@example.com"]


def _without(html: str, email: str) -> str:
    """The page with the typed email and the CSRF token (random) taken out."""
    return CSRF_RE.sub("", html.replace(email, "EMAIL"))


def test_forgot_sends_no_link_to_a_disabled_account(app, store, make_user):
    user_id = make_user(name="Off", email="off@example.com")
    admin = client_for(app, "admin@example.com")
    post_form(admin, f"/users/{user_id}/disable", page="/users/")
    assert row_of(app, User, user_id).is_enabled is False
    assert ask_for_reset(app.test_client(), "off@example.com").status_code == 302
    assert count(app, OutboxMessage) == 0


def test_forgot_with_a_bad_email_shows_the_form_again(app, store):
    response = ask_for_reset(app.test_client(), "not an email")
    assert response.status_code == 422
    assert "Enter a valid email address." in html_of(response)
    assert count(app, OutboxMessage) == 0


def test_s41_the_whole_reset_by_email_ends_every_session(app, store, mailer, smtp):
    before = row_of(app, User, store["sam"])
    elsewhere = client_for(app, "sam@example.com")  # another signed-in browser
    link = reset_link(app, mailer, smtp)
    email = smtp.to("sam@example.com")[0]
    assert email.subject == "Reset your Corner Store password"
    assert email.rcpt_tos == ["sam@example.com"]
    assert "works once, for 1 hour" in email.text
    token = link.removeprefix(RESET)
    assert all(ch.isalnum() or ch in "._~-" for ch in token)
    assert f'href="http://store.test{link}"' in email.html

    client = app.test_client()
    page = client.get(link)
    assert page.status_code == 200
    assert "Choose a new password" in html_of(page)
    assert row_of(app, User, store["sam"]).password_hash == before.password_hash

    response = choose(client, link)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login"
    after = row_of(app, User, store["sam"])
    assert after.password_hash != before.password_hash
    assert after.session_token != before.session_token
    assert not is_signed_in(elsewhere)  # every session ended
    assert can_sign_in(app, "sam@example.com", NEW_PASSWORD)
    assert not can_sign_in(app, "sam@example.com", TEST_PASSWORD)
    # The owner is told, and the link in the outbox is gone once sent.
    send_all(mailer)
    assert smtp.to("sam@example.com")[-1].subject == (
        "Your Corner Store password was changed"
    )
    reset_row = outbox_rows(app, "password_reset")[0]
    assert token not in reset_row.body_text + reset_row.body_html


def test_s41_a_used_link_gets_a_clear_page_and_changes_nothing(
    app, store, mailer, smtp
):
    link = reset_link(app, mailer, smtp)
    assert choose(app.test_client(), link).status_code == 302
    before = db_state(app)
    client = app.test_client()
    again = {
        "csrf_token": valid_csrf(client),
        "password": "yet-another-passphrase",
        "password_confirm": "yet-another-passphrase",
    }
    for response in (client.get(link), client.post(link, data=again)):
        assert response.status_code == 400
        assert "This link was already used" in html_of(response)
        assert 'href="/users/password/forgot"' in html_of(response)
    assert db_state(app) == before
    assert can_sign_in(app, "sam@example.com", NEW_PASSWORD)


def test_s41_an_expired_link_gets_a_clear_page_and_changes_nothing(
    app, store, mailer, smtp, monkeypatch
):
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(
        TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 61 * 60
    )
    link = reset_link(app, mailer, smtp)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    before = db_state(app)
    client = app.test_client()
    response = client.get(link)
    assert response.status_code == 400
    assert "This link has expired" in html_of(response)
    assert db_state(app) == before


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the signature
        lambda t: "x" + t[1:],  # the payload
        lambda t: t.split(".")[0],  # cut short
        lambda t: "nonsense",
        lambda t: "a" * 5_000,
        lambda t: t + "%00",
    ],
    ids=["signature", "payload", "truncated", "nonsense", "huge", "nul"],
)
def test_s41_a_tampered_link_gets_a_clear_page_and_changes_nothing(
    app, store, mailer, smtp, mangle
):
    token = reset_link(app, mailer, smtp).removeprefix(RESET)
    before = db_state(app)
    client = app.test_client()
    bad = RESET + mangle(token)
    page = client.get(bad)
    assert page.status_code in (400, 404)
    if page.status_code == 400:
        assert "This link does not work" in html_of(page)
    assert_plain_error_page(page, page.status_code)
    posted = client.post(
        bad,
        data={
            "csrf_token": valid_csrf(client),
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert posted.status_code in (400, 404)
    assert db_state(app) == before


def test_s41_a_reset_link_stops_working_when_the_password_changes_otherwise(
    app, store, mailer, smtp, runner
):
    link = reset_link(app, mailer, smtp)
    result = runner.invoke(
        args=["users", "set-password", "sam@example.com", "--password", NEW_PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "This link was already used" in html_of(app.test_client().get(link))


def test_a_weak_or_mismatched_new_password_is_refused(app, store, mailer, smtp):
    link = reset_link(app, mailer, smtp)
    before = db_state(app)
    client = app.test_client()
    for password, confirm in (
        ("short", "short"),
        ("password", "password"),
        (NEW_PASSWORD, "other-passphrase"),
    ):
        response = choose(client, link, password, confirm)
        assert response.status_code == 422
    assert db_state(app) == before
    assert choose(client, link).status_code == 302  # the link still works


def test_s43_a_name_cannot_inject_headers_into_the_reset_email(app, mailer, smtp):
    client = app.test_client()
    response = post_form(
        client,
        "/users/register",
        {
            "name": "Eve\r\nBcc: spy@example.com\r\nSubject: pwned",
            "email": "eve@example.com",
            "password": "a-long-unusual-passphrase",
            "password_confirm": "a-long-unusual-passphrase",
        },
    )
    assert response.status_code == 302
    reset_link(app, mailer, smtp, "eve@example.com")
    [email] = smtp.messages()
    assert email.rcpt_tos == ["eve@example.com"]
    assert email.message["Bcc"] is None
    assert email.subject == "Reset your Corner Store password"
    assert "spy@example.com" not in email.message.as_string().split("\n\n")[0]


# --- flask users set-password ---------------------------------------------------


def set_password(runner, email: str, password: str = NEW_PASSWORD):
    return runner.invoke(args=["users", "set-password", email, "--password", password])


def test_set_password_sets_it_ends_sessions_and_grants_nothing(app, store, runner):
    signed_in = client_for(app, "sam@example.com")
    before = row_of(app, User, store["sam"])
    result = set_password(runner, " SAM@example.com ")
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    after = row_of(app, User, store["sam"])
    assert (after.is_admin, after.is_enabled) == (before.is_admin, before.is_enabled)
    assert after.is_admin is False
    assert not is_signed_in(signed_in)
    assert can_sign_in(app, "sam@example.com", NEW_PASSWORD)
    assert [row.kind for row in outbox_rows(app)] == ["password_changed"]


def test_set_password_prompts_without_echo(app, store, runner):
    result = runner.invoke(
        args=["users", "set-password", "sam@example.com"],
        input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert can_sign_in(app, "sam@example.com", NEW_PASSWORD)


def test_set_password_refuses_unknown_emails_and_weak_passwords(app, store, runner):
    before = db_state(app)
    unknown = set_password(runner, "nobody@example.com")
    assert (
        unknown.exit_code == 1
        and "No account uses nobody@example.com" in unknown.output
    )
    weak = set_password(runner, "sam@example.com", "short")
    assert weak.exit_code == 2 and "at least 8 characters" in weak.output
    assert db_state(app) == before


def test_s43_the_link_is_on_the_stores_address_whatever_the_host_header(
    app, store, mailer, smtp
):
    """A reset asked for with `Host: evil.example` still links to the store."""
    client = app.test_client()
    evil = "http://evil.example"
    page = client.get("/users/password/forgot", base_url=evil)
    response = client.post(
        "/users/password/forgot",
        data={"csrf_token": csrf_token_from(html_of(page)), "email": "sam@example.com"},
        base_url=evil,
    )
    assert response.status_code == 302
    send_all(mailer)
    [email] = smtp.to("sam@example.com")
    assert all(link.startswith("http://store.test/") for link in email.links())
    assert "evil.example" not in email.text + email.html


def test_s42_signing_up_with_a_taken_email_tells_its_owner_once_an_hour(
    app, store, mailer, smtp
):
    """The page says only "sign in or reset your password"; the address's
    owner gets one email about it, however often it is tried."""
    signup = {
        "name": "Mallory",
        "email": "Sam@Example.com",
        "password": "a-long-unusual-passphrase",
        "password_confirm": "a-long-unusual-passphrase",
    }
    for _ in range(3):
        response = post_form(app.test_client(), "/users/register", signup)
        assert response.status_code == 422
        html = html_of(response)
        assert "sign in, or reset your password" in html
        assert "Mallory" not in row_of(app, User, store["sam"]).name
    send_all(mailer)
    [email] = smtp.to("sam@example.com")
    assert email.subject == "You already have a Corner Store account"
    assert "Someone tried to sign up at Corner Store with this address" in email.text
    assert "http://store.test/users/password/forgot" in email.text
    assert count(app, User) == 3
