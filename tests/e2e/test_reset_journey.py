"""A shopper who forgot the password: asks for a link, reads the email the
store sent to a real SMTP server, follows the link, chooses a new password
and signs in with it; the old password and the used link no longer work."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import main_nav, sign_in
from tests.helpers import LINK_RE

pytestmark = pytest.mark.browser

RITA = {"name": "Rita Reset", "email": "rita@example.com", "password": "rita-old-pass"}
NEW = "rita-new-passphrase"


def test_a_forgotten_password_is_reset_by_email(page: Page, store, smtp, worker, look):
    store.add_user(RITA)
    worker()  # the store's earlier emails (other journeys' orders) go first
    page.goto("/")
    main_nav(page).get_by_role("link", name="Sign in").click()
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(RITA["email"])
    look("forgot-password")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"If an account uses {RITA['email']}, we have sent it a link"
    )

    assert worker() == 1
    [email] = smtp.to(RITA["email"])
    assert email.subject == "Reset your Corner Store password"
    [link] = [url for url in LINK_RE.findall(email.text) if "/password/reset/" in url]
    assert link.startswith(store.url)

    # The HTML part, as a mail program shows it (outside the store's CSP,
    # which would drop its inline styles): its button is the same link.
    page.goto("about:blank")
    page.set_content(email.html)
    expect(page.get_by_role("link", name="Choose a new password")).to_have_attribute(
        "href", link
    )
    look("email-password-reset")

    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill(NEW)
    page.get_by_label("Confirm password").fill(NEW)
    look("reset-password")
    page.get_by_role("button", name="Save new password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The old password is refused; the new one signs in.
    page.get_by_label("Email", exact=True).fill(RITA["email"])
    page.get_by_label("Password", exact=True).fill(RITA["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Invalid email or password.")).to_be_visible()
    page.goto("/")
    sign_in(page, {**RITA, "password": NEW})

    # The link worked once.
    page.goto(link)
    expect(
        page.get_by_role("heading", name="This link was already used")
    ).to_be_visible()
    look("reset-link-used")
    # And the owner was told the password changed.
    assert worker() == 1
    assert (
        smtp.to(RITA["email"])[-1].subject == "Your Corner Store password was changed"
    )
