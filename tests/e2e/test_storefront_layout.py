"""The storefront on a phone (375 × 812) and a desktop, with the demo data
`flask seed` writes: the header takes at most a fifth of a phone's screen
for any visitor (admins included), its menu opens without a script, every
price and button in the cart is inside the screen, nothing scrolls sideways;
and the README's screenshots, taken here from the demo store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.demo import seed_store
from app.extensions import db
from app.models import Item, User
from tests.e2e.helpers import DESKTOP, PHONE, ROOT, Store, main_nav, open_menu, served

pytestmark = pytest.mark.browser

README_SCREENSHOTS = ROOT / "docs" / "screenshots"
DEMO_ADMIN = {
    "name": "Demo Admin",
    "email": "admin@example.com",
    "password": "demo-admin-pass",
}
DEMO_SHOPPER = {"email": "shopper@example.com", "password": "demo-shopper-pass"}
HEADER_SHARE = 1 / 5  # of the screen's height, at most


@pytest.fixture(scope="module")
def demo() -> Iterator[Store]:
    """The demo store (`flask seed`'s data, as `make run` shows it) under
    werkzeug's threaded server, on its own database."""

    def fill() -> None:
        seed_store(48, 12, 200, 1)
        admin = User(name=DEMO_ADMIN["name"], email=DEMO_ADMIN["email"], is_admin=True)
        admin.set_password(DEMO_ADMIN["password"])
        db.session.add(admin)
        db.session.commit()

    with served("store-demo-", fill) as running:
        yield running


@pytest.fixture
def demo_page(browser, browser_context_args: dict, demo: Store):
    """A page on the demo store, in a fresh context of its own, at a width."""
    contexts = []

    def opener(viewport: dict) -> Page:
        args = {**browser_context_args, "viewport": viewport, "base_url": demo.url}
        contexts.append(browser.new_context(**args))
        page = contexts[-1].new_page()
        page.set_default_timeout(10_000)
        return page

    yield opener
    for context in contexts:
        context.close()


def in_stock_items(demo: Store, n: int) -> list[int]:
    return demo.scalars(
        sa.select(Item.id)
        .where(Item.archived_at.is_(None), Item.stock >= 2)
        .order_by(Item.id)
        .limit(n)
    )


def sign_in_as(page: Page, email: str, password: str) -> None:
    page.goto("/users/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.locator("main").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_contain_text("Signed in as")


def fill_cart(page: Page, item_ids: list[int]) -> None:
    for item_id in item_ids:
        page.goto(f"/items/{item_id}")
        page.get_by_role("button", name="Add to cart").click()
        expect(page.get_by_role("status")).to_contain_text("cart")


def header_height(page: Page) -> float:
    return page.locator("header.site-header").bounding_box()["height"]


def assert_no_sideways_scroll(page: Page, where: str) -> None:
    wide, window = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert wide <= window, f"{where}: {wide} px wide in a {window} px window"


def assert_inside_the_screen(page: Page, locator, what: str) -> None:
    width = page.viewport_size["width"]
    count = locator.count()
    assert count, f"no {what} on the page"
    for n in range(count):
        element = locator.nth(n)
        element.scroll_into_view_if_needed()
        expect(element).to_be_visible()
        box = element.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (
            f"{what} #{n} runs outside the {width} px screen: {box}"
        )


@pytest.mark.parametrize("visitor", ["anonymous", "shopper", "admin"])
def test_on_a_phone_the_header_takes_at_most_a_fifth_of_the_screen(
    demo, demo_page, visitor
):
    page = demo_page(PHONE)
    if visitor == "shopper":
        sign_in_as(page, DEMO_SHOPPER["email"], DEMO_SHOPPER["password"])
    elif visitor == "admin":
        sign_in_as(page, DEMO_ADMIN["email"], DEMO_ADMIN["password"])
    item = in_stock_items(demo, 1)[0]
    for url in ("/items/", f"/items/{item}", "/purchases/cart", "/pages/returns"):
        page.goto(url)
        height = header_height(page)
        assert height <= PHONE["height"] * HEADER_SHARE, (url, visitor, height)
        assert_no_sideways_scroll(page, f"{url} as {visitor}")
    # The cart is always in reach; the rest is one tap away, in the menu.
    cart = page.locator("header.site-header .cart-link")
    expect(cart).to_be_visible()
    menu = page.locator("header.site-header details.menu")
    expect(menu.get_by_role("link", name="Catalogue")).to_be_hidden()
    open_menu(page)
    expect(menu.get_by_role("link", name="Catalogue")).to_be_visible()
    if visitor == "admin":
        expect(menu.get_by_role("link", name="Orders")).to_be_visible()
        expect(menu.get_by_role("button", name="Sign out")).to_be_visible()


def test_on_a_desktop_the_menu_is_one_row_of_links(demo, demo_page):
    page = demo_page(DESKTOP)
    sign_in_as(page, DEMO_ADMIN["email"], DEMO_ADMIN["password"])
    page.goto("/items/")
    nav = main_nav(page)
    expect(page.locator("header.site-header summary")).to_be_hidden()
    for name in ("Catalogue", "Add item", "Stock", "Orders", "Customers", "Pages"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    assert header_height(page) <= 90


def test_on_a_phone_every_price_and_button_of_the_cart_is_on_screen(demo, demo_page):
    page = demo_page(PHONE)
    fill_cart(page, in_stock_items(demo, 3))
    page.goto("/purchases/cart")
    assert_no_sideways_scroll(page, "the cart")
    lines = page.locator(".cart-lines tbody tr")
    expect(lines).to_have_count(3)
    assert_inside_the_screen(page, page.locator(".cart-lines td.num"), "price")
    assert_inside_the_screen(page, page.locator("#cart-total"), "cart total")
    assert_inside_the_screen(
        page,
        page.locator(".cart-lines").get_by_role("button", name="Remove"),
        "Remove button",
    )
    assert_inside_the_screen(
        page,
        page.locator(".cart-lines").get_by_role("button", name="Update"),
        "Update button",
    )
    # Each price says what it is (the table's head is for screen readers only).
    first = lines.first
    expect(first.locator('td[data-label="Price"]')).to_be_visible()
    expect(first.locator('td[data-label="Line total"]')).to_be_visible()


def test_the_catalogue_is_a_two_column_grid_on_a_phone(demo, demo_page):
    page = demo_page(PHONE)
    page.goto("/items/")
    cards = page.get_by_role("region", name="Items").locator("article.card")
    expect(cards).to_have_count(24)
    first, second, third = (cards.nth(n).bounding_box() for n in range(3))
    assert abs(first["y"] - second["y"]) < 1 and second["x"] > first["x"]
    assert third["y"] > first["y"]  # the third starts the second row
    # The picture area keeps its shape whatever the name's length.
    media = cards.first.locator(".card-media").bounding_box()
    assert abs(media["width"] / media["height"] - 4 / 3) < 0.02
    assert_no_sideways_scroll(page, "the catalogue")


def test_the_readme_screenshots_come_from_the_demo_store(demo, demo_page):
    """Desktop and phone: the catalogue, an item page and a filled cart."""
    README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    items = in_stock_items(demo, 3)
    for viewport in (DESKTOP, PHONE):
        page = demo_page(viewport)
        width = viewport["width"]
        page.goto("/items/")
        expect(page.get_by_role("heading", name="Catalogue", level=1)).to_be_visible()
        page.screenshot(path=README_SCREENSHOTS / f"catalogue-{width}.png")
        page.goto(f"/items/{items[0]}")
        expect(page.get_by_role("button", name="Add to cart")).to_be_visible()
        page.screenshot(path=README_SCREENSHOTS / f"item-{width}.png")
        fill_cart(page, items)
        page.goto("/purchases/cart")
        expect(page.locator("#cart-total")).to_be_visible()
        page.screenshot(path=README_SCREENSHOTS / f"cart-{width}.png", full_page=True)
        for name in ("catalogue", "item", "cart"):
            assert (README_SCREENSHOTS / f"{name}-{width}.png").stat().st_size > 10_000
