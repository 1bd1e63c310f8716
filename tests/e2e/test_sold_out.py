"""Two shoppers in two browsers press "Place order" for the last unit at once:
one gets it, the other gets the checkout page back saying plainly that it sold
out, and the stock never goes below zero."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.models import Item, UserItem
from tests.e2e.helpers import SHOPPERS, sign_in

pytestmark = pytest.mark.browser

LAST_JAR = "Last Jar of Heather Honey"


def fill_cart(page: Page, shopper: dict) -> None:
    """Sign in, find the honey, put the one jar left in the cart, open the
    checkout page and fill in the address."""
    page.goto("/")
    sign_in(page, shopper)
    page.get_by_role("searchbox", name="Search").fill("heather honey")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=LAST_JAR).click()
    expect(page.get_by_text("1 left")).to_be_visible()
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    page.get_by_role("button", name="Check out · $14.50").click()
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    page.get_by_label("Address", exact=True).fill("3 Hive Lane")
    page.get_by_label("Town or city").fill("Beeston")
    page.get_by_label("Postcode").fill("NG9 1AA")
    page.get_by_label("Country").select_option(label="United Kingdom")


def test_two_shoppers_race_for_the_last_unit(store, open_page, make_look):
    item_id = store.add_item(LAST_JAR, 1450, 1, description="Raw, 340 g.")
    lee, max_ = SHOPPERS[1], SHOPPERS[2]
    pages = {lee["name"]: open_page(), max_["name"]: open_page()}
    for shopper, page in zip((lee, max_), pages.values(), strict=True):
        fill_cart(page, shopper)

    # Both press "Place order" before either page has an answer.
    first, second = pages.values()
    with first.expect_navigation(), second.expect_navigation():
        for page in (first, second):
            page.get_by_role("button", name="Place order").click(no_wait_after=True)

    outcomes = {}
    for name, page in pages.items():
        message = page.get_by_role("status").or_(page.get_by_role("alert"))
        outcomes[name] = message.inner_text()

    won = [name for name, text in outcomes.items() if "is placed" in text]
    lost = [name for name in outcomes if name not in won]
    assert len(won) == 1 and len(lost) == 1, outcomes
    winner, loser = pages[won[0]], pages[lost[0]]

    expect(
        winner.get_by_role("heading", name=re.compile(r"^Order [A-Z0-9]{8,}$"))
    ).to_be_visible()
    expect(winner.get_by_text("Awaiting payment").first).to_be_visible()
    make_look(winner)("sold-out-winner")

    # The other shopper gets the checkout page back, told why, nothing bought,
    # and cannot send it again as it is.
    expect(loser.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    alert = loser.get_by_role("alert")
    expect(alert).to_contain_text("nothing was bought")
    expect(alert.get_by_role("listitem")).to_have_text(
        [f"{LAST_JAR} sold out: remove it from your cart."]
    )
    expect(loser.get_by_role("button", name="Place order")).to_be_disabled()
    expect(loser.get_by_label("Address", exact=True)).to_have_value("3 Hive Lane")
    make_look(loser)("sold-out-loser")

    # The cart says so too.
    loser.get_by_role("link", name="change your cart").click()
    expect(loser.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(loser.get_by_text("Only 0 left: lower the quantity.")).to_be_visible()

    # The item page now says so, and the button is off.
    loser.get_by_role("link", name=LAST_JAR).click()
    expect(loser.get_by_text("Out of stock").first).to_be_visible()
    expect(loser.get_by_role("button", name="Out of stock")).to_be_disabled()

    assert store.scalar(sa.select(Item.stock).where(Item.id == item_id)) == 0
    assert (
        store.scalar(
            sa.select(sa.func.sum(UserItem.quantity)).where(UserItem.item_id == item_id)
        )
        == 1
    )
    assert (
        store.scalar(
            sa.select(sa.func.count(sa.distinct(UserItem.order_id))).where(
                UserItem.item_id == item_id
            )
        )
        == 1
    )
