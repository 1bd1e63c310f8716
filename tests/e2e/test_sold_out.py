"""Two shoppers in two browsers race for the last unit: one gets it, the other
is told plainly that it sold out, and the stock never goes below zero."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.models import Item, UserItem
from tests.e2e.helpers import SHOPPERS, sign_in

pytestmark = pytest.mark.browser

LAST_JAR = "Last Jar of Heather Honey"


def fill_cart(page: Page, shopper: dict) -> None:
    """Sign in, find the honey, put the one jar left in the cart."""
    page.goto("/")
    sign_in(page, shopper)
    page.get_by_role("searchbox", name="Search").fill("heather honey")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=LAST_JAR).click()
    expect(page.get_by_text("1 left")).to_be_visible()
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()


def test_two_shoppers_race_for_the_last_unit(store, open_page, make_look):
    item_id = store.add_item(LAST_JAR, 1450, 1, description="Raw, 340 g.")
    lee, max_ = SHOPPERS[1], SHOPPERS[2]
    pages = {lee["name"]: open_page(), max_["name"]: open_page()}
    for shopper, page in zip((lee, max_), pages.values(), strict=True):
        fill_cart(page, shopper)

    # Both press "Check out" before either page has an answer.
    first, second = pages.values()
    with first.expect_navigation(), second.expect_navigation():
        for page in (first, second):
            page.get_by_role("button", name="Check out · $14.50").click(
                no_wait_after=True
            )

    outcomes = {}
    for name, page in pages.items():
        message = page.get_by_role("status").or_(page.get_by_role("alert"))
        outcomes[name] = message.inner_text()

    won = [name for name, text in outcomes.items() if "order is placed" in text]
    lost = [name for name in outcomes if name not in won]
    assert len(won) == 1 and len(lost) == 1, outcomes
    winner, loser = pages[won[0]], pages[lost[0]]

    expect(winner.get_by_role("heading", name="Order #", exact=False)).to_be_visible()
    make_look(winner)("sold-out-winner")

    # The other shopper stays on the cart, told why, with nothing bought.
    expect(loser.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(loser.get_by_role("alert")).to_have_text(
        f"Not enough stock for: {LAST_JAR}. Nothing was bought."
    )
    expect(loser.get_by_text("Only 0 left: lower the quantity.")).to_be_visible()
    make_look(loser)("sold-out-loser")

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
