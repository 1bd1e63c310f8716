"""A new shopper, on a phone and on a desktop: browse, search, fill the cart,
sign up at checkout, buy, find the purchase in the history and on the profile."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.models import Item, User, UserItem
from tests.e2e.helpers import DESKTOP, PHONE, nav_link, sign_out

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("viewport", "shopper"),
    [
        (DESKTOP, {"name": "Robin Reed", "email": "robin@example.com"}),
        (PHONE, {"name": "Pat Phone", "email": "pat@example.com"}),
    ],
    ids=["desktop", "phone"],
)
def test_new_shopper_buys_and_finds_the_purchase(
    store, open_page, make_look, viewport, shopper
):
    page = open_page(viewport)
    look = make_look(page)
    lamp_id = store.item_id("Brass Desk Lamp")
    stock_before = store.scalar(sa.select(Item.stock).where(Item.id == lamp_id))

    # The front page is the catalogue.
    page.goto("/")
    expect(page.get_by_role("heading", name="Catalogue", level=1)).to_be_visible()
    catalogue = page.get_by_role("region", name="Items")
    expect(catalogue.get_by_role("link", name="Cast Iron Skillet")).to_be_visible()
    look("catalogue")

    # Search for lamps: only the two lamps are listed.
    page.get_by_role("searchbox", name="Search").fill("lamp")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Results for “lamp”")).to_be_visible()
    results = page.get_by_role("region", name="Items").get_by_role("link")
    expect(results).to_have_text(["Brass Desk Lamp", "Paper Lamp Shade"])
    look("search")

    # The item page: price, stock, description.
    page.get_by_role("link", name="Brass Desk Lamp").click()
    expect(page.get_by_role("heading", name="Brass Desk Lamp", level=1)).to_be_visible()
    expect(page.get_by_text("$24.50")).to_be_visible()
    expect(page.get_by_text(f"{stock_before} in stock")).to_be_visible()
    expect(page.get_by_text("A heavy brass lamp with a linen shade.")).to_be_visible()
    look("item")

    # Two into the cart.
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        "Added 2 × Brass Desk Lamp to your cart."
    )
    expect(nav_link(page, "Cart, 2 items")).to_be_visible()
    expect(page.locator("#cart-total")).to_have_text("$49.00")

    # Make it three.
    page.get_by_label("Quantity of Brass Desk Lamp").fill("3")
    page.get_by_role("button", name="Update").click()
    expect(page.get_by_role("status")).to_have_text("Updated Brass Desk Lamp to 3.")
    expect(page.locator("#cart-total")).to_have_text("$73.50")
    expect(nav_link(page, "Cart, 3 items")).to_be_visible()
    look("cart")

    # Checking out asks a stranger to sign in; they sign up instead.
    page.get_by_role("button", name="Sign in to check out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Please sign in to check out")
    look("login")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Name").fill(shopper["name"])
    page.get_by_label("Email").fill(shopper["email"])
    page.get_by_label("Password", exact=True).fill("a-long-new-secret")
    page.get_by_label("Confirm password").fill("a-long-new-secreT")
    page.get_by_role("button", name="Create account").click()
    # A typo in the confirmation: said next to the field, nothing created.
    confirm = page.get_by_label("Confirm password")
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("The passwords do not match.")).to_be_visible()
    look("register-error")
    assert (
        store.scalar(sa.select(User.id).where(User.email == shopper["email"])) is None
    )
    page.get_by_label("Password", exact=True).fill("a-long-new-secret")
    confirm.fill("a-long-new-secret")
    page.get_by_role("button", name="Create account").click()

    # Back at the cart, signed in, the cart kept.
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {shopper['name']}!")
    expect(page.get_by_label("Quantity of Brass Desk Lamp")).to_have_value("3")
    page.get_by_role("button", name="Check out · $73.50").click()

    # The order confirmation.
    expect(
        page.get_by_role("heading", name=re.compile(r"^Order #\d+$"))
    ).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Thank you! Your order is placed.")
    row = page.get_by_role("row", name=re.compile("Brass Desk Lamp"))
    expect(row.get_by_role("cell")).to_have_text(
        ["Brass Desk Lamp", "3", "$24.50", "$73.50"]
    )
    expect(nav_link(page, "Cart, 0 items")).to_be_visible()
    look("order")

    # The purchase history.
    nav_link(page, "Purchases").click()
    expect(page.get_by_role("heading", name="Your purchases")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Brass Desk Lamp"))
    expect(row).to_have_count(1)
    expect(row.get_by_role("cell").nth(2)).to_have_text("3")
    expect(row.get_by_role("cell").nth(4)).to_have_text("$73.50")
    look("history")

    # The profile lists the item bought.
    nav_link(page, shopper["name"]).click()
    expect(page.get_by_role("heading", name=shopper["name"], level=1)).to_be_visible()
    expect(page.get_by_text("1 purchase line, $73.50 spent.")).to_be_visible()
    bought = page.get_by_role("region", name="Items bought")
    expect(bought.get_by_role("link", name="Brass Desk Lamp")).to_be_visible()
    look("profile")

    sign_out(page)
    look("signed-out")

    # What the database holds: one line at the price paid, the stock taken.
    user_id = store.scalar(sa.select(User.id).where(User.email == shopper["email"]))
    bought = store.scalars(
        sa.select(UserItem.quantity).where(
            UserItem.user_id == user_id, UserItem.item_id == lamp_id
        )
    )
    assert bought == [3]
    assert store.scalar(sa.select(Item.stock).where(Item.id == lamp_id)) == (
        stock_before - 3
    )
