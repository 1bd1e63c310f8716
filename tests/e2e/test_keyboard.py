"""Keyboard only: sign in, find an item, fill the cart, fill in the checkout
page and place the order with Tab, typing and Enter, and see where the focus
is at every step."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import SHOPPERS, nav_link

pytestmark = pytest.mark.browser

MAX_TABS = 40
# A visible focus indicator on the control itself: an outline, or a box-shadow
# ring (Pico's way) that is neither transparent nor zero-sized.
FOCUS_RING = r"""el => {
    const style = getComputedStyle(el);
    if (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) {
        return true;
    }
    if (style.boxShadow === "none") return false;
    return style.boxShadow.split(/,(?![^(]*\))/).some(shadow => {
        const color = shadow.match(/rgba?\(([^)]*)\)/);
        const parts = color ? color[1].split(",") : [];
        const alpha = parts.length === 4 ? parseFloat(parts[3]) : 1;
        const sizes = shadow.replace(/rgba?\([^)]*\)/, "").trim().split(/\s+/);
        return alpha > 0 && sizes.length >= 4 && parseFloat(sizes[3]) > 0;
    });
}"""


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            assert target.evaluate(FOCUS_RING), "the focused control shows no focus"
            return
    raise AssertionError(f"{MAX_TABS} presses of Tab never reached {target}")


def test_keyboard_only_checkout(page: Page):
    kim = SHOPPERS[0]
    page.goto("/")

    # The first Tab reaches the skip link.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    tab_to(page, nav_link(page, "Sign in"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(kim["email"])
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(kim["password"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text(f"Signed in as {kim['name']}.")

    tab_to(page, page.get_by_role("searchbox", name="Search"))
    page.keyboard.type("candle")
    tab_to(page, page.get_by_role("button", name="Search"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Results for “candle”")).to_be_visible()
    tab_to(page, page.get_by_role("link", name="Beeswax Candle Pair"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Beeswax Candle Pair")).to_be_visible()
    tab_to(page, page.get_by_label("Quantity"))
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("2")
    tab_to(page, page.get_by_role("button", name="Add to cart"))
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.locator("#cart-total")).to_have_text("$24.00")
    tab_to(page, page.get_by_role("button", name="Check out · $24.00"))
    page.keyboard.press("Enter")

    # The checkout page: the address typed, the country picked by typing its
    # name, delivery and payment left as they are, Enter on "Place order".
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_value(kim["name"])
    tab_to(page, page.get_by_label("Address", exact=True))
    page.keyboard.type("5 Key Street")
    tab_to(page, page.get_by_label("Town or city"))
    page.keyboard.type("Keyport")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Postcode")).to_be_focused()
    page.keyboard.type("07735")
    tab_to(page, page.get_by_label("Country"))
    page.keyboard.type("United States")
    expect(page.get_by_label("Country")).to_have_value("US")
    expect(
        page.get_by_role("radio", name=re.compile("^Standard delivery"))
    ).to_be_checked()
    expect(page.locator('[data-shipping="standard"]')).to_have_text("$28.95")
    tab_to(page, page.get_by_role("button", name="Place order"))
    page.keyboard.press("Enter")

    heading = page.get_by_role("heading", name=re.compile(r"^Order [A-Z0-9]{8,}$"))
    expect(heading).to_be_visible()
    number = heading.inner_text().removeprefix("Order ")
    expect(page.get_by_role("status")).to_have_text(
        f"Thank you! Your order {number} is placed."
    )
    expect(page.locator("#order-total")).to_have_text("$28.95")
    expect(page.get_by_text("Awaiting payment").first).to_be_visible()

    tab_to(page, page.get_by_role("button", name="Sign out"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
