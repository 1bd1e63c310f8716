"""An admin, on a desktop and on a phone: add an item (after one wrong price),
edit it, archive and restore it, see who bought what, filter every purchase
and download them as CSV; and fulfil an order a shopper placed: find it in
the order list, mark it paid, ship it with a tracking number."""

from __future__ import annotations

import csv
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.models import Item, Order, OrderEvent, User
from tests.e2e.helpers import (
    ADMIN,
    ARTIFACTS,
    BUYER,
    DESKTOP,
    PHONE,
    nav_link,
    sign_in,
    sign_out,
)
from tests.helpers import client_for, place_order
from tests.helpers import sign_in as sign_in_over_http

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("viewport", "new_item"),
    [(DESKTOP, "Copper Watering Can"), (PHONE, "Rattan Plant Stand")],
    ids=["desktop", "phone"],
)
def test_admin_manages_an_item_and_sees_its_buyers(
    store, open_page, make_look, viewport, new_item
):
    page = open_page(viewport)
    look = make_look(page)
    page.goto("/")
    sign_in(page, ADMIN)

    # Add an item; a price with three decimals is refused next to the field.
    nav_link(page, "Add item").click()
    expect(page.get_by_role("heading", name="Add an item")).to_be_visible()
    look("admin-item-form")
    page.get_by_label("Name").fill(new_item)
    page.get_by_label("Description").fill("Made by hand.\nHolds two litres.")
    page.get_by_label("Price ($)").fill("1.234")
    page.get_by_label("Stock").fill("7")
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_role("alert")).to_contain_text("nothing was saved")
    price = page.get_by_label("Price ($)")
    expect(price).to_have_attribute("aria-invalid", "true")
    expect(price).to_have_accessible_description(re.compile("at most two decimals"))
    expect(price).to_have_value("1.234")
    expect(page.get_by_label("Name")).to_have_value(new_item)
    look("admin-item-form-error")
    assert store.scalar(sa.select(Item.id).where(Item.name == new_item)) is None

    price.fill("18.50")
    page.get_by_role("button", name="Add item").click()
    expect(page.get_by_role("heading", name=new_item, level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"Added “{new_item}”.")
    expect(page.get_by_text("$18.50")).to_be_visible()
    expect(page.get_by_text("7 in stock")).to_be_visible()
    expect(page.get_by_text("Nobody has bought this item yet.")).to_be_visible()
    look("admin-item")

    # Edit: a new price, restocked.
    page.get_by_role("button", name="Edit or restock").click()
    expect(page.get_by_role("heading", name=f"Edit “{new_item}”")).to_be_visible()
    expect(page.get_by_label("Price ($)")).to_have_value("18.50")
    page.get_by_label("Price ($)").fill("19.75")
    page.get_by_label("Stock").fill("9")
    look("admin-item-edit")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_have_text(f"Saved “{new_item}”.")
    expect(page.get_by_text("$19.75")).to_be_visible()
    expect(page.get_by_text("9 in stock")).to_be_visible()

    # Archive: gone from the catalogue.
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("status")).to_contain_text(f"Archived “{new_item}”")
    expect(page.get_by_text("This item is archived")).to_be_visible()
    look("admin-item-archived")
    nav_link(page, "Catalogue").click()
    page.get_by_role("searchbox", name="Search").fill(new_item)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text(f"No items match “{new_item}”.")).to_be_visible()

    # Restore it from the stock page's Archived tab.
    nav_link(page, "Stock").click()
    expect(page.get_by_role("heading", name="Stock", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Stock filters").get_by_role(
        "link", name=re.compile("^Archived")
    ).click()
    look("admin-stock-archived")
    page.get_by_role("link", name=new_item, exact=True).click()
    page.get_by_role("button", name="Restore to catalogue").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Restored “{new_item}” to the catalogue."
    )
    assert (
        store.scalar(sa.select(Item.archived_at).where(Item.name == new_item)) is None
    )

    # Who bought the walnut board: found from the stock page's search.
    nav_link(page, "Stock").click()
    page.get_by_role("searchbox", name="Search").fill("walnut")
    page.get_by_role("button", name="Show").click()
    look("admin-stock")
    page.get_by_role("link", name="Walnut Cutting Board", exact=True).click()
    buyers = page.get_by_role("region", name="Buyers")
    expect(buyers).to_contain_text("2 units sold to 1 customer")
    row = buyers.get_by_role("row", name=re.compile("Bea Buyer"))
    expect(row.get_by_role("cell").nth(2)).to_have_text("2")
    look("admin-buyers")

    # Customers.
    nav_link(page, "Customers").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    expect(page.get_by_role("link", name="Bea Buyer", exact=True)).to_be_visible()
    look("admin-customers")

    # Every item sold (from the orders page), filtered to the walnut
    # board, then to Bea.
    nav_link(page, "Orders").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    page.get_by_role("link", name="Every item sold").click()
    expect(page.get_by_role("heading", name="All purchases")).to_be_visible()
    look("admin-purchases")
    walnut_id = store.item_id("Walnut Cutting Board")
    page.get_by_label("Item id").fill(str(walnut_id))
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("table")
    expect(table.get_by_role("row")).to_have_count(2)  # the header and one line
    expect(table).to_contain_text("Walnut Cutting Board")
    expect(table).not_to_contain_text("Ceramic Mug")
    table.get_by_role("link", name="Bea Buyer", exact=True).click()
    expect(page.get_by_text("Purchases by Bea Buyer")).to_be_visible()
    expect(page.get_by_label("Item id")).to_have_value(str(walnut_id))
    look("admin-purchases-filtered")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    saved = ARTIFACTS / "downloads" / f"purchases-{viewport['width']}.csv"
    download.save_as(saved)
    with saved.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [(r["user_email"], r["item_name"], r["quantity"]) for r in rows] == [
        ("bea@example.com", "Walnut Cutting Board", "2")
    ]
    assert rows[0]["unit_price"] == "38.00"

    sign_out(page)


@pytest.mark.parametrize(
    ("viewport", "item", "tracking"),
    [
        (DESKTOP, "Oak Coaster Set", "1Z999AA10123456784"),
        (PHONE, "Slate Cheese Board", "JD014600006281234567"),
    ],
    ids=["desktop", "phone"],
)
def test_admin_fulfils_an_order_a_shopper_placed(
    store, open_page, make_look, viewport, item, tracking
):
    # Bea places an order on the checkout page (over HTTP, as her browser would).
    item_id = store.add_item(item, 1500, 6)
    shopper = client_for(store.app)
    sign_in_over_http(shopper, BUYER["email"], BUYER["password"])
    number = place_order(shopper, {item_id: 2})

    page = open_page(viewport)
    look = make_look(page)
    page.goto("/")
    sign_in(page, ADMIN)

    # The order list: the unpaid tab, then the order itself.
    nav_link(page, "Orders").click()
    expect(page.get_by_role("heading", name="Orders", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Orders by status").get_by_role(
        "link", name=re.compile("^Awaiting payment")
    ).click()
    row = page.get_by_role("row", name=re.compile(number))
    expect(row).to_contain_text("Bea Buyer")
    expect(row).to_contain_text("Awaiting payment")
    look("admin-orders")
    row.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"Order {number}")).to_be_visible()
    status = page.locator("hgroup .status")
    expect(status).to_have_text("Awaiting payment")
    expect(page.get_by_role("cell", name=item)).to_be_visible()
    look("admin-order-unpaid")

    # The money arrived: mark it paid.
    page.get_by_role("button", name="Mark paid").click()
    expect(page.get_by_role("status")).to_have_text(f"Order {number} is now paid.")
    expect(status).to_have_text("Paid")
    expect(page.get_by_role("button", name="Mark paid")).to_have_count(0)

    # Shipped, with its tracking number.
    page.get_by_label("Tracking number").fill(tracking)
    page.get_by_role("button", name="Mark shipped").click()
    expect(page.get_by_role("status")).to_have_text(f"Order {number} is now shipped.")
    expect(status).to_have_text("Shipped")
    expect(page.locator("#tracking")).to_have_text(tracking)
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text(f"Tracking number {tracking}.")
    expect(timeline).to_contain_text(f"by {ADMIN['name']}")
    expect(page.get_by_role("button", name="Mark delivered")).to_be_visible()
    look("admin-order-shipped")

    with store.app.app_context():
        order = db.session.scalars(sa.select(Order).where(Order.number == number)).one()
        assert (order.status, order.tracking_number) == ("shipped", tracking)
        moves = db.session.execute(
            sa.select(OrderEvent.from_status, OrderEvent.to_status, User.email)
            .join(User, User.id == OrderEvent.actor_id)
            .where(OrderEvent.order_id == order.id)
            .order_by(OrderEvent.id)
        ).all()
    assert moves == [
        (None, "pending_payment", BUYER["email"]),
        ("pending_payment", "paid", ADMIN["email"]),
        ("paid", "shipped", ADMIN["email"]),
    ]

    # Bea sees it shipped, with the tracking number, and no admin buttons.
    html = shopper.get(f"/purchases/orders/{number}").get_data(as_text=True)
    assert '<span class="status status-shipped">Shipped</span>' in html
    assert tracking in html and "Mark delivered" not in html
    sign_out(page)
