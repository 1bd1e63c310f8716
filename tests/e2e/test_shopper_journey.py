"""A new shopper, on a phone and on a desktop: browse, search, fill the cart,
sign up at checkout, fill in the checkout page's address (one mistake first),
place the order, find it in the history of orders and on the profile."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.models import Address, Item, Order, User, UserItem
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
    expect(page).to_have_url(re.compile(r"/users/login\?next=/purchases/checkout$"))
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

    # At the checkout page, signed in, the cart kept.
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome, {shopper['name']}!")
    summary = page.get_by_role("article", name="Your order")
    expect(
        summary.get_by_role("row", name=re.compile("Brass Desk Lamp")).get_by_role(
            "cell"
        )
    ).to_have_text(["Brass Desk Lamp", "3", "$73.50"])
    expect(summary.locator("#subtotal")).to_have_text("$73.50")
    # $73.50 is over standard delivery's $50.00: it is free.
    standard = page.get_by_role("radio", name=re.compile("^Standard delivery"))
    express = page.get_by_role("radio", name=re.compile("^Express delivery"))
    expect(standard).to_be_checked()
    expect(page.get_by_text(re.compile(r"Standard delivery .* · Free"))).to_be_visible()
    expect(page.get_by_role("radio", name="Bank transfer")).to_be_checked()

    # The address, typed like a person: a ZIP code that is not one first.
    expect(page.get_by_label("Full name")).to_have_value(shopper["name"])
    page.get_by_label("Address", exact=True).fill("12 Harbour Road")
    page.get_by_label("Town or city").fill("Portsmouth")
    page.get_by_label("Postcode").fill("NH1")
    page.get_by_label("Country").select_option(label="United States")
    page.get_by_label("Save this address for next time").check()
    look("checkout")
    page.get_by_role("button", name="Place order").click()
    postcode = page.get_by_label("Postcode")
    expect(postcode).to_have_attribute("aria-invalid", "true")
    expect(postcode).to_have_accessible_description(
        "Enter a ZIP code like 12345 or 12345-6789."
    )
    expect(page.get_by_label("Address", exact=True)).to_have_value("12 Harbour Road")
    look("checkout-error")
    assert (
        store.scalar(
            sa.select(sa.func.count(Order.id))
            .join(User)
            .where(User.email == shopper["email"])
        )
        == 0
    )
    postcode.fill("03801")
    express.check()  # and faster delivery, after all
    expect(page.locator('[data-shipping="express"]')).to_have_text("$86.45")
    page.get_by_role("button", name="Place order").click()

    # The order's page: its number, awaiting the transfer.
    heading = page.get_by_role("heading", name=re.compile(r"^Order [A-Z0-9]{8,}$"))
    expect(heading).to_be_visible()
    number = heading.inner_text().removeprefix("Order ")
    expect(page.get_by_role("status")).to_have_text(
        f"Thank you! Your order {number} is placed."
    )
    expect(page.get_by_text("Awaiting payment").first).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Brass Desk Lamp"))
    expect(row.get_by_role("cell")).to_have_text(
        ["Brass Desk Lamp", "3", "$24.50", "$73.50"]
    )
    expect(page.locator("#order-total")).to_have_text("$86.45")
    expect(page.get_by_role("heading", name="Pay by bank transfer")).to_be_visible()
    expect(page.locator("address")).to_contain_text("12 Harbour Road")
    expect(nav_link(page, "Cart, 0 items")).to_be_visible()
    look("order")

    # The history of orders.
    nav_link(page, "Your orders").click()
    expect(page.get_by_role("heading", name="Your orders")).to_be_visible()
    row = page.get_by_role("row", name=re.compile(number))
    expect(row).to_have_count(1)
    cells = row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text(number)
    expect(cells.nth(2)).to_have_text("3 × Brass Desk Lamp")
    expect(cells.nth(3)).to_have_text("Awaiting payment")
    expect(cells.nth(4)).to_have_text("$86.45")
    look("history")
    row.get_by_role("link", name=number).click()
    expect(heading).to_be_visible()

    # The profile lists the item bought.
    nav_link(page, shopper["name"]).click()
    expect(page.get_by_role("heading", name=shopper["name"], level=1)).to_be_visible()
    expect(page.get_by_text("1 purchase, $73.50 spent.")).to_be_visible()
    bought = page.get_by_role("region", name="Items bought")
    expect(bought.get_by_role("link", name="Brass Desk Lamp")).to_be_visible()
    look("profile")

    sign_out(page)
    look("signed-out")

    # What the database holds: the order as placed, one line at the price
    # paid, the stock taken, the address saved once.
    user_id = store.scalar(sa.select(User.id).where(User.email == shopper["email"]))
    [order] = store.scalars(sa.select(Order).where(Order.user_id == user_id))
    assert order.number == number
    assert (order.status, order.shipping_method) == ("pending_payment", "express")
    assert (order.subtotal_cents, order.shipping_cents, order.total_cents) == (
        7350,
        1295,
        8645,
    )
    assert (order.ship_name, order.ship_line1, order.ship_city) == (
        shopper["name"],
        "12 Harbour Road",
        "Portsmouth",
    )
    assert (order.ship_postcode, order.ship_country) == ("03801", "US")
    bought = store.scalars(
        sa.select(UserItem.quantity).where(
            UserItem.user_id == user_id, UserItem.item_id == lamp_id
        )
    )
    assert bought == [3]
    assert store.scalar(sa.select(Item.stock).where(Item.id == lamp_id)) == (
        stock_before - 3
    )
    saved = store.scalars(sa.select(Address.line1).where(Address.user_id == user_id))
    assert saved == ["12 Harbour Road"]
