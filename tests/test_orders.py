"""An order's life after checkout, through HTTP with the pages' own CSRF
tokens: the admin's moves and refunds, the shopper's cancel, who may see and
change an order, what a cancelled or refunded order stops counting for, the
admin's order list and its CSV, and the order page as a receipt.

Every refused request is checked to have written nothing (store_state: the
orders' every changing column, their events, the lines' `counted`, stock,
running totals, settings and the audit trail), and the running totals are
recounted from the rows after every kind of move.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Item, Order, User, UserItem
from app.orders import statuses
from app.orders.statuses import LABELS, STATUSES
from tests.helpers import (
    TEST_ADDRESS,
    after_redirect,
    assert_totals_match_rows,
    cancel_order,
    client_for,
    flashes,
    get_html,
    html_of,
    item_ids_linked,
    move_order,
    order_events_of,
    order_row,
    order_status,
    order_url,
    place_order,
    post_form,
    refund_order,
    stock_of,
    store_state,
    table_rows,
    valid_csrf,
)

# The contract's moves (../shared/CONTRACT.md, "Checkout and orders").
CONTRACT_MOVES = {
    "pending_payment": {"paid", "cancelled"},
    "paid": {"shipped", "cancelled", "refunded"},
    "shipped": {"delivered", "refunded"},
    "delivered": {"refunded"},
    "cancelled": set(),
    "refunded": set(),
}
# How the tests bring an order to each status from pending_payment (admin moves).
PATH_TO = {
    "pending_payment": [],
    "paid": ["paid"],
    "shipped": ["paid", "shipped"],
    "delivered": ["paid", "shipped", "delivered"],
    "cancelled": ["cancelled"],
    "refunded": ["paid", "refunded"],
}
TRACKING = "1Z999AA10123456784"
LAMP_PRICE, MUG_PRICE, STOCK = 1999, 450, 10
# Sam's usual order: two lamps and a mug, standard delivery ($4.95), no tax.
USUAL = {"lamp": 2, "mug": 1}
USUAL_TOTAL = 2 * LAMP_PRICE + MUG_PRICE + 495
MOVE_BUTTON_RE = re.compile(r'name="status" value="([^"]*)"')
TIMELINE_RE = re.compile(r'<ol class="timeline">(.*?)</ol>', re.S)
BUYERS_RE = re.compile(r'<section id="buyers".*?</section>', re.S)
ALSO_BOUGHT_RE = re.compile(r'<section class="also-bought".*?</section>', re.S)
POPULAR_RE = re.compile(r'<section class="popular".*?</section>', re.S)
PRINT_RE = re.compile(r"@media print\s*\{(.*?)\n\}", re.S)


@dataclass
class Shop:
    """Sam and Olive (shoppers) and Alex (an admin), each signed in in a
    browser of their own, and a lamp and a mug, ten of each."""

    app: Flask
    sam: int
    olive: int
    admin: int
    lamp: int
    mug: int
    shopper: FlaskClient
    other: FlaskClient
    staff: FlaskClient

    def lines(self, **quantities: int) -> dict[int, int]:
        return {getattr(self, name): quantity for name, quantity in quantities.items()}

    def stock(self) -> tuple[int, int]:
        return stock_of(self.app, self.lamp), stock_of(self.app, self.mug)


def open_shop(app: Flask, make_user, make_item) -> Shop:
    ids = {
        "sam": make_user("Sam Shopper", "sam@example.com"),
        "olive": make_user("Olive Other", "olive@example.com"),
        "admin": make_user("Alex Admin", "admin@example.com", is_admin=True),
        "lamp": make_item(name="Lamp", price_cents=LAMP_PRICE, stock=STOCK),
        "mug": make_item(name="Mug", price_cents=MUG_PRICE, stock=STOCK),
    }
    return Shop(
        app=app,
        **ids,
        shopper=client_for(app, "sam@example.com"),
        other=client_for(app, "olive@example.com"),
        staff=client_for(app, "admin@example.com"),
    )


def moved(shop: Shop, number: str, status: str, **fields: str) -> str:
    """The admin moves the order (which must succeed); the page it lands on."""
    html = after_redirect(shop.staff, move_order(shop.staff, number, status, **fields))
    assert f"Order {number} is now {LABELS[status].lower()}." in flashes(html), html
    return html


def order_in(shop: Shop, status: str, lines: dict[str, int] = USUAL) -> str:
    """Sam places an order, which the admin brings to `status`; its number."""
    number = place_order(shop.shopper, shop.lines(**lines))
    for step in PATH_TO[status]:
        extra = {"tracking_number": TRACKING} if step == "shipped" else {}
        moved(shop, number, step, **extra)
    assert order_status(shop.app, number)[0] == status
    return number


def offered_moves(html: str) -> set[str]:
    return set(MOVE_BUTTON_RE.findall(html))


def counted_lines(app: Flask, number: str) -> list[bool]:
    with app.app_context():
        return db.session.scalars(
            sa.select(UserItem.counted)
            .join(Order, Order.id == UserItem.order_id)
            .where(Order.number == number)
            .order_by(UserItem.id)
        ).all()


def refused(client: FlaskClient, response, *phrases: str) -> str:
    """A form answered with a redirect to the order page and an error saying
    one of `phrases`; the messages."""
    html = after_redirect(client, response)
    messages = " ".join(flashes(html))
    assert re.search(r'class="flash flash-error"', html), messages
    assert any(phrase in messages for phrase in phrases), messages
    return messages


# --- the moves ----------------------------------------------------------------------


def test_the_store_allows_exactly_the_contracts_moves():
    assert set(statuses.STATUSES) == set(CONTRACT_MOVES)
    assert {k: set(v) for k, v in statuses.MOVES.items()} == CONTRACT_MOVES


ALLOWED = [(source, target) for source in STATUSES for target in CONTRACT_MOVES[source]]


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_every_allowed_move_writes_one_event_with_its_actor(
    app, make_user, make_item, source, target
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, source)
    page = get_html(shop.staff, order_url(number))
    assert offered_moves(page) == CONTRACT_MOVES[source]
    events = order_events_of(app, number)
    stock = shop.stock()
    refunded_before = order_status(app, number)[1]

    extra = {"tracking_number": TRACKING} if target == "shipped" else {}
    html = moved(shop, number, target, note="Checked by phone.", **extra)

    after = order_events_of(app, number)
    assert after[:-1] == events
    assert after[-1][:3] == (source, target, shop.admin)
    assert after[-1][3].endswith("Checked by phone.")
    status, refunded, total, tracking = order_status(app, number)
    assert (status, total) == (target, USUAL_TOTAL)
    refunds_all = target == "refunded" or (
        target == "cancelled" and source != "pending_payment"
    )
    assert refunded == (total if refunds_all else refunded_before)
    if refunds_all:
        assert f"Refunded ${total // 100}.{total % 100:02d}." in after[-1][3]
    # Only a cancellation puts the units back; a refund does not.
    assert shop.stock() == ((STOCK, STOCK) if target == "cancelled" else stock)
    assert counted_lines(app, number) == [target not in ("cancelled", "refunded")] * 2
    assert_totals_match_rows(app)
    # The page says so, with the move in its timeline and who made it.
    timeline = TIMELINE_RE.search(html).group(1)
    assert timeline.count("<li>") == len(after)
    assert "by Alex Admin" in timeline
    assert offered_moves(html) == CONTRACT_MOVES[target]
    if target == "shipped":
        assert tracking == TRACKING
        assert f"Tracking number {TRACKING}." in after[-1][3]


def test_the_shopper_sees_the_status_and_the_tracking_number(app, make_user, make_item):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "shipped")
    html = get_html(shop.shopper, order_url(number))
    assert '<span class="status status-shipped">Shipped</span>' in html
    assert f'<strong id="tracking">{TRACKING}</strong>' in html
    assert offered_moves(html) == set()  # no admin forms for a shopper
    assert "by Alex Admin" not in html  # nor who in the shop did what
    listed = get_html(shop.shopper, "/purchases/")
    assert number in listed and "Shipped" in listed


@pytest.mark.parametrize("source", STATUSES)
def test_moves_the_table_does_not_allow_are_refused_and_write_nothing(
    app, make_user, make_item, source
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, source)
    forged = ("lost", "", "PAID", "paid ", "shipped;", "x" * 300)
    for target in (*STATUSES, *forged):
        if target in CONTRACT_MOVES[source]:
            continue
        before = store_state(app)
        response = move_order(shop.staff, number, target, tracking_number="1Z1")
        refused(
            shop.staff,
            response,
            "cannot be marked",
            "Choose one of the order's next statuses.",
        )
        assert store_state(app) == before, target
    assert order_status(app, number)[0] == source


def test_a_move_from_a_page_that_showed_another_status_is_refused(
    app, make_user, make_item
):
    """The admin's page showed Paid; meanwhile someone shipped the order: its
    "Refund in full" button must not refund a shipped order unseen."""
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "paid")
    form_page = get_html(shop.staff, order_url(number))
    assert 'name="from_status" value="paid"' in form_page
    assert move_order(shop.staff, number, "shipped").status_code == 302
    before = store_state(app)
    response = move_order(shop.staff, number, "refunded", from_status="paid")
    refused(shop.staff, response, "changed while you were looking")
    assert store_state(app) == before
    assert order_status(app, number)[0] == "shipped"
    # A script that names no status it saw moves from the current one.
    assert move_order(shop.staff, number, "delivered").status_code == 302
    assert order_status(app, number)[0] == "delivered"


def test_a_shopper_cannot_move_or_refund_even_their_own_order(
    app, make_user, make_item
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "pending_payment")
    before = store_state(app)
    for response in (
        move_order(shop.shopper, number, "paid"),
        refund_order(shop.shopper, number, "1.00"),
    ):
        assert response.status_code == 403
    visitor = app.test_client()
    token = valid_csrf(visitor)
    for action in ("status", "cancel", "refund"):
        response = visitor.post(
            order_url(number, action),
            data={"csrf_token": token, "status": "paid", "amount": "1.00"},
        )
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/users/login?next=")
    assert visitor.get(order_url(number)).status_code == 302
    assert store_state(app) == before


# --- the shopper's cancel ---------------------------------------------------------------


@pytest.mark.parametrize("source", ["pending_payment", "paid"])
def test_the_shopper_cancels_and_the_stock_comes_back_exactly_once(
    app, make_user, make_item, source
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, source)
    assert shop.stock() == (STOCK - 2, STOCK - 1)
    page = get_html(shop.shopper, order_url(number))
    assert f'action="{order_url(number, "cancel")}"' in page
    if source == "paid":
        assert f"we refund the ${USUAL_TOTAL / 100:.2f} you paid" in page

    html = after_redirect(shop.shopper, cancel_order(shop.shopper, number))
    assert f"Order {number} is now cancelled." in flashes(html)
    assert shop.stock() == (STOCK, STOCK)
    status, refunded, total, _ = order_status(app, number)
    assert status == "cancelled"
    assert refunded == (total if source == "paid" else 0)
    last = order_events_of(app, number)[-1]
    assert last[:3] == (source, "cancelled", shop.sam)
    assert "Stock returned." in last[3] and "Cancelled by the shopper." in last[3]
    assert f'action="{order_url(number, "cancel")}"' not in html
    assert_totals_match_rows(app)

    # Pressed again (a second tab, a double click): refused, nothing written.
    before = store_state(app)
    refused(
        shop.shopper,
        cancel_order(shop.shopper, number),
        "can no longer be cancelled",
    )
    assert store_state(app) == before
    assert shop.stock() == (STOCK, STOCK)


@pytest.mark.parametrize("source", ["shipped", "delivered", "refunded", "cancelled"])
def test_the_shopper_cannot_cancel_once_it_has_left_the_shop(
    app, make_user, make_item, source
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, source)
    page = get_html(shop.shopper, order_url(number))
    assert f'action="{order_url(number, "cancel")}"' not in page
    before = store_state(app)
    refused(
        shop.shopper,
        cancel_order(shop.shopper, number),
        "can no longer be cancelled",
    )
    assert store_state(app) == before


def test_someone_elses_order_is_a_404_and_admins_use_the_status_form(
    app, make_user, make_item
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "paid")
    before = store_state(app)
    for url in (order_url(number), order_url(number.lower())):
        response = shop.other.get(url)
        assert response.status_code == 404
        assert number not in html_of(response)
        assert "sam@example.com" not in html_of(response)
    assert cancel_order(shop.other, number).status_code == 404
    # The admin sees the order but cancels it through /status, not as its owner.
    assert shop.staff.get(order_url(number)).status_code == 200
    assert cancel_order(shop.staff, number).status_code == 404
    assert store_state(app) == before
    moved(shop, number, "cancelled")
    assert shop.stock() == (STOCK, STOCK)


@pytest.mark.parametrize(
    "number",
    [
        "ZZZZZZZZZZ",
        "ZZZZZZZZ",
        "abc",
        "1",
        "A" * 17,
        "A" * 400,
        "%00",
        "ABCD-EFGH-J",
        "ABCD%20EFGH",
        "%3Cscript%3E",
        "%E2%80%8BABCDEFGH",
        "１２３４５６７８",
    ],
)
def test_unknown_or_malformed_numbers_are_404(app, make_user, make_item, number):
    shop = open_shop(app, make_user, make_item)
    order_in(shop, "paid")
    before = store_state(app)
    for client in (shop.shopper, shop.staff):
        assert client.get(order_url(number)).status_code == 404
    assert cancel_order(shop.shopper, number).status_code == 404
    assert move_order(shop.staff, number, "shipped").status_code == 404
    assert refund_order(shop.staff, number, "1.00").status_code == 404
    assert store_state(app) == before


def test_the_number_is_found_in_any_case_and_the_id_is_not_a_number(
    app, make_user, make_item
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "paid")
    assert number in get_html(shop.shopper, order_url(f" {number.lower()} "))
    with app.app_context():
        order_id = db.session.scalar(sa.select(Order.id))
    assert shop.shopper.get(order_url(str(order_id))).status_code == 404


# --- refunds ----------------------------------------------------------------------------


def test_partial_refunds_then_the_rest_make_it_refunded(app, make_user, make_item):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "shipped")
    stock = shop.stock()
    html = after_redirect(
        shop.staff, refund_order(shop.staff, number, "5.00", "Scratched lamp.")
    )
    left = USUAL_TOTAL - 500
    assert (
        f"Refunded $5.00 of order {number} (${left // 100}.{left % 100:02d} left "
        "to refund)." in flashes(html)
    )
    assert '<dd id="order-refunded">$5.00</dd>' in html
    after_redirect(shop.staff, refund_order(shop.staff, number, "2.50"))
    assert order_status(app, number)[:2] == ("shipped", 750)
    assert counted_lines(app, number) == [True, True]  # still a purchase
    assert_totals_match_rows(app)

    rest = f"{(USUAL_TOTAL - 750) / 100:.2f}"
    html = after_redirect(shop.staff, refund_order(shop.staff, number, rest))
    assert f"order {number} is refunded in full." in " ".join(flashes(html))
    assert order_status(app, number)[:2] == ("refunded", USUAL_TOTAL)
    assert [event[:3] for event in order_events_of(app, number)[-4:]] == [
        ("shipped", "shipped", shop.admin),
        ("shipped", "shipped", shop.admin),
        ("shipped", "shipped", shop.admin),
        ("shipped", "refunded", shop.admin),
    ]
    notes = [event[3] for event in order_events_of(app, number)[-4:]]
    assert notes[:2] == ["Refunded $5.00. Scratched lamp.", "Refunded $2.50."]
    assert notes[3] == "Refunded in full."
    assert shop.stock() == stock  # refunds do not restock
    assert counted_lines(app, number) == [False, False]
    assert_totals_match_rows(app)
    assert offered_moves(html) == set()
    assert 'class="refund-form"' not in html


def test_a_refund_of_more_than_is_left_is_refused(app, make_user, make_item):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "delivered")
    after_redirect(shop.staff, refund_order(shop.staff, number, "40.00"))
    before = store_state(app)
    left = f"{(USUAL_TOTAL - 4000) / 100:.2f}"
    over = f"{(USUAL_TOTAL - 4000 + 1) / 100:.2f}"
    messages = refused(
        shop.staff, refund_order(shop.staff, number, over), "Nothing was refunded."
    )
    assert f"At most ${left}" in messages
    refused(
        shop.staff,
        refund_order(shop.staff, number, "99999999.99"),
        "Nothing was refunded.",
    )
    assert store_state(app) == before
    assert order_status(app, number)[:2] == ("delivered", 4000)


@pytest.mark.parametrize("source", ["pending_payment", "cancelled", "refunded"])
def test_a_refund_of_an_order_the_shop_holds_no_money_for_is_refused(
    app, make_user, make_item, source
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, source)
    assert 'class="refund-form"' not in get_html(shop.staff, order_url(number))
    before = store_state(app)
    refused(
        shop.staff,
        refund_order(shop.staff, number, "1.00"),
        "only paid, shipped or delivered orders can be refunded",
    )
    assert store_state(app) == before


@pytest.mark.parametrize(
    "amount",
    [
        "-1",
        "abc",
        "1.234",
        "9" * 309,
        "1" + "0" * 308 + ".00",
        "",
        " ",
        "0",
        "0.00",
        "1e3",
        "1,00",
        "$5",
        "NaN",
        "Infinity",
        "١٢",
        "5.",
        ".5",
        "5\x00",
    ],
)
def test_malformed_refund_amounts_are_refused_and_write_nothing(
    app, make_user, make_item, amount
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "paid")
    before = store_state(app)
    response = refund_order(shop.staff, number, amount)
    assert response.status_code == 302
    html = after_redirect(shop.staff, response)
    assert 'class="flash flash-error"' in html
    assert flashes(html)
    assert store_state(app) == before


# --- what a cancelled or refunded order stops counting for -----------------------------


def seen(shop: Shop) -> dict[str, object]:
    """Where a purchase shows: user.items / item.users, the shoppers' profiles,
    the admin's buyers lists, the recommendation blocks, the running totals."""
    app = shop.app
    with app.app_context():
        users = {
            name: sorted(item.name for item in db.session.get(User, user_id).items)
            for name, user_id in (("sam", shop.sam), ("olive", shop.olive))
        }
        buyers = {
            name: sorted(user.name for user in db.session.get(Item, item_id).users)
            for name, item_id in (("lamp", shop.lamp), ("mug", shop.mug))
        }
        units = {
            name: db.session.get(Item, item_id).units_sold
            for name, item_id in (("lamp", shop.lamp), ("mug", shop.mug))
        }
    profiles = {
        name: set(item_ids_linked(get_html(client, f"/users/{user_id}")))
        for name, client, user_id in (
            ("sam", shop.shopper, shop.sam),
            ("olive", shop.other, shop.olive),
        )
    }
    listed = {}
    for name, item_id in (("lamp", shop.lamp), ("mug", shop.mug)):
        block = BUYERS_RE.search(get_html(shop.staff, f"/items/{item_id}")).group(0)
        listed[name] = sorted(
            who for who in ("Sam Shopper", "Olive Other") if who in block
        )
    lamp_page = get_html(app.test_client(), f"/items/{shop.lamp}")
    also = ALSO_BOUGHT_RE.search(lamp_page)
    popular = POPULAR_RE.search(get_html(app.test_client(), "/items/"))
    return {
        "items": users,
        "users": buyers,
        "units": units,
        "profiles": profiles,
        "buyers": listed,
        "also_bought": item_ids_linked(also.group(0)) if also else [],
        "popular": sorted(item_ids_linked(popular.group(0))) if popular else [],
    }


def test_cancelled_and_refunded_lines_stop_counting_as_purchases(
    app, make_user, make_item
):
    shop = open_shop(app, make_user, make_item)
    lamp, mug = shop.lamp, shop.mug
    nothing = {
        "items": {"sam": [], "olive": []},
        "users": {"lamp": [], "mug": []},
        "units": {"lamp": 0, "mug": 0},
        "profiles": {"sam": set(), "olive": set()},
        "buyers": {"lamp": [], "mug": []},
        "also_bought": [],
        "popular": [],
    }
    assert seen(shop) == nothing

    # Sam's order counts while it waits for payment (a purchase not cancelled).
    sams = place_order(shop.shopper, shop.lines(lamp=1, mug=1))
    bought = seen(shop)
    assert bought == {
        "items": {"sam": ["Lamp", "Mug"], "olive": []},
        "users": {"lamp": ["Sam Shopper"], "mug": ["Sam Shopper"]},
        "units": {"lamp": 1, "mug": 1},
        "profiles": {"sam": {lamp, mug}, "olive": set()},
        "buyers": {"lamp": ["Sam Shopper"], "mug": ["Sam Shopper"]},
        "also_bought": [mug],
        "popular": sorted([lamp, mug]),
    }
    assert_totals_match_rows(app)
    after_redirect(shop.shopper, cancel_order(shop.shopper, sams))
    assert seen(shop) == nothing
    assert_totals_match_rows(app)

    # Olive's goes all the way: paid, shipped, delivered, part refunded (still
    # a purchase), then refunded in full (no longer one).
    olives = place_order(shop.other, shop.lines(lamp=1, mug=2))
    olive_counts = {
        "items": {"sam": [], "olive": ["Lamp", "Mug"]},
        "users": {"lamp": ["Olive Other"], "mug": ["Olive Other"]},
        "units": {"lamp": 1, "mug": 2},
        "profiles": {"sam": set(), "olive": {lamp, mug}},
        "buyers": {"lamp": ["Olive Other"], "mug": ["Olive Other"]},
        "also_bought": [mug],
        "popular": sorted([lamp, mug]),
    }
    for step in ("paid", "shipped", "delivered"):
        moved(shop, olives, step)
        assert seen(shop) == olive_counts, step
        assert_totals_match_rows(app)
    after_redirect(shop.staff, refund_order(shop.staff, olives, "1.00"))
    assert seen(shop) == olive_counts
    assert_totals_match_rows(app)
    total = order_status(app, olives)[2]
    rest = f"{(total - 100) / 100:.2f}"
    after_redirect(shop.staff, refund_order(shop.staff, olives, rest))
    assert order_status(app, olives)[0] == "refunded"
    assert seen(shop) == nothing
    assert_totals_match_rows(app)

    # A third order by Sam, refunded in one move from paid: the same.
    third = order_in(shop, "paid", {"mug": 3})
    assert seen(shop)["items"]["sam"] == ["Mug"]
    moved(shop, third, "refunded")
    assert seen(shop) == nothing
    assert_totals_match_rows(app)
    # The lines stay in the history, on their orders' pages and the admin's CSV.
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(UserItem.id))) == 5
    assert "Mug" in get_html(shop.shopper, order_url(third))


# --- the admin's order list and its CSV -----------------------------------------------

BASE = datetime(2024, 5, 1, 12, 0)


def write_orders(app: Flask, rows: list[dict]) -> list[str]:
    """Orders written straight to the database (with one lamp line each):
    {user_id, email, status, minutes (before the tests' clock), ship_name};
    their numbers."""
    with app.app_context():
        item = Item(name="Desk Lamp", price_cents=1000, stock=5)
        db.session.add(item)
        db.session.flush()
        orders = []
        for index, row in enumerate(rows):
            when = BASE - timedelta(minutes=row.get("minutes", index))
            order = order_row(
                row["user_id"],
                row["email"],
                1000,
                f"list-{index}",
                status=row.get("status", "paid"),
                ship_name=row.get("ship_name", TEST_ADDRESS["name"]),
                created_at=when,
                refunded_cents=1000 if row.get("status") == "refunded" else 0,
            )
            order.lines.append(
                UserItem(
                    user_id=row["user_id"],
                    item_id=item.id,
                    item_name="Desk Lamp",
                    quantity=1,
                    unit_price_cents=1000,
                    created_at=when,
                    counted=row.get("status") not in ("cancelled", "refunded"),
                )
            )
            orders.append(order)
        db.session.add_all(orders)
        db.session.commit()
        return [order.number for order in orders]


def listed_numbers(html: str) -> list[str]:
    return [row[0] for row in table_rows(html)]


def tab_counts(html: str) -> dict[str, int]:
    nav = re.search(r'<nav class="filter-tabs".*?</nav>', html, re.S).group(0)
    return {
        label: int(n.replace(",", ""))
        for label, n in re.findall(r">([A-Z][a-z ]+) \(([\d,]+)\)</a>", nav)
    }


def write_many_orders(app: Flask, make_user) -> list[str]:
    """Olive's two orders and Sam's five, of every status, newest first (Olive's
    newest ships to "Grace Hopper"), and an admin; their numbers."""
    sam = make_user("Sam Shopper", "sam@example.com")
    olive = make_user("Olive Other", "olive.other@example.com")
    make_user("Alex Admin", "admin@example.com", is_admin=True)
    rows = [
        {
            "user_id": olive,
            "email": "olive.other@example.com",
            "ship_name": "Grace Hopper",
        },
        {
            "user_id": olive,
            "email": "olive.other@example.com",
            "status": "shipped",
            "ship_name": "Olive Other",
        },
        {"user_id": sam, "email": "sam@example.com", "status": "pending_payment"},
        {"user_id": sam, "email": "sam@example.com", "status": "pending_payment"},
        {"user_id": sam, "email": "sam@example.com", "status": "cancelled"},
        {"user_id": sam, "email": "sam@example.com", "status": "refunded"},
        {"user_id": sam, "email": "sam@example.com", "status": "delivered"},
    ]
    return write_orders(app, rows)


def test_the_order_list_shows_every_order_newest_first_with_tab_counts(app, make_user):
    numbers = write_many_orders(app, make_user)
    admin = client_for(app, "admin@example.com")
    html = get_html(admin, "/purchases/orders/")
    assert listed_numbers(html) == numbers
    assert tab_counts(html) == {
        "All": 7,
        "Awaiting payment": 2,
        "Paid": 1,
        "Shipped": 1,
        "Delivered": 1,
        "Cancelled": 1,
        "Refunded": 1,
    }
    first = table_rows(html)[0]
    assert first[2] == "Olive Other olive.other@example.com"
    assert first[3].startswith("Grace Hopper")
    assert first[4] == "Paid" and first[5] == "$10.00"
    assert "2024-05-01 12:00 UTC" in first[1]
    pending = get_html(admin, "/purchases/orders/?status=pending_payment")
    assert listed_numbers(pending) == numbers[2:4]
    assert 'aria-current="page">Awaiting payment (2)' in pending
    assert tab_counts(pending)["All"] == 7  # the tabs count every status


@pytest.mark.parametrize(
    "status", ["lost", "PAID", "paid ", "%00", "' OR 1=1 --", "x" * 300]
)
def test_an_unknown_status_tab_is_a_400(app, make_user, status):
    write_many_orders(app, make_user)
    admin = client_for(app, "admin@example.com")
    assert admin.get(f"/purchases/orders/?status={status}").status_code == 400
    assert admin.get(f"/purchases/orders/export.csv?status={status}").status_code == 400


def test_the_order_list_searches_numbers_emails_and_names(app, make_user):
    numbers = write_many_orders(app, make_user)
    admin = client_for(app, "admin@example.com")

    def found(q: str) -> list[str]:
        html = get_html(admin, f"/purchases/orders/?q={q}")
        return listed_numbers(html)

    assert found(numbers[3].lower()) == [numbers[3]]
    assert found(f"  {numbers[3]}  ") == [numbers[3]]
    assert found(numbers[3][:6]) == []  # a number is matched whole
    assert found("OLIVE.OTHER@") == numbers[:2]
    assert found("other@exa") == numbers[:2]
    assert found("grace hop") == numbers[:1]
    assert found("Sam Shop") == numbers[2:]  # the account's name (and ship name)
    assert found("nobody") == []
    assert found("%") == [] and found("_") == []  # LIKE's wildcards are text
    searched = get_html(admin, "/purchases/orders/?q=olive&status=shipped")
    assert listed_numbers(searched) == [numbers[1]]
    assert tab_counts(searched) == {
        "All": 2,
        "Awaiting payment": 0,
        "Paid": 1,
        "Shipped": 1,
        "Delivered": 0,
        "Cancelled": 0,
        "Refunded": 0,
    }


def test_the_order_list_pages_by_fifty(app, make_user):
    sam = make_user("Sam Shopper", "sam@example.com")
    make_user("Alex Admin", "admin@example.com", is_admin=True)
    numbers = write_orders(
        app, [{"user_id": sam, "email": "sam@example.com"} for _ in range(53)]
    )
    admin = client_for(app, "admin@example.com")
    first = get_html(admin, "/purchases/orders/")
    second = get_html(admin, "/purchases/orders/?page=2")
    assert listed_numbers(first) == numbers[:50]
    assert listed_numbers(second) == numbers[50:]
    assert 'href="/purchases/orders/?page=2"' in first
    assert admin.get("/purchases/orders/?page=3").status_code == 404
    paid = get_html(admin, "/purchases/orders/?status=paid&page=2")
    assert listed_numbers(paid) == numbers[50:]


def test_the_csv_export_has_a_row_per_order_of_the_lists_filters(app, make_user):
    numbers = write_many_orders(app, make_user)
    admin = client_for(app, "admin@example.com")
    response = admin.get("/purchases/orders/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["number"] for row in rows] == numbers
    first = rows[0]
    assert {
        key: first[key]
        for key in (
            "created_at",
            "status",
            "email",
            "name",
            "items",
            "subtotal",
            "shipping",
            "tax",
            "total",
            "refunded",
            "payment_method",
            "ship_name",
            "ship_country",
        )
    } == {
        "created_at": "2024-05-01 12:00:00 UTC",
        "status": "paid",
        "email": "olive.other@example.com",
        "name": "Olive Other",
        "items": "1 × Desk Lamp",
        "subtotal": "10.00",
        "shipping": "0.00",
        "tax": "0.00",
        "total": "10.00",
        "refunded": "0.00",
        "payment_method": "bank_transfer",
        "ship_name": "Grace Hopper",
        "ship_country": "US",
    }
    assert rows[5]["status"] == "refunded" and rows[5]["refunded"] == "10.00"
    filtered = admin.get("/purchases/orders/export.csv?status=pending_payment&q=sam")
    exported = [r["number"] for r in csv.DictReader(io.StringIO(html_of(filtered)))]
    assert exported == numbers[2:4]
    html = get_html(admin, "/purchases/orders/?status=shipped&q=olive")
    assert 'href="/purchases/orders/export.csv?status=shipped&amp;q=olive"' in html


def test_a_hostile_ship_name_is_text_in_the_list_and_the_csv(app, make_user):
    sam = make_user("Sam Shopper", "sam@example.com")
    make_user("Alex Admin", "admin@example.com", is_admin=True)
    write_orders(
        app,
        [
            {
                "user_id": sam,
                "email": "sam@example.com",
                "ship_name": '=HYPERLINK("http://evil")<script>x</script>',
            }
        ],
    )
    admin = client_for(app, "admin@example.com")
    html = get_html(admin, "/purchases/orders/")
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    rows = list(
        csv.DictReader(io.StringIO(html_of(admin.get("/purchases/orders/export.csv"))))
    )
    assert rows[0]["ship_name"].startswith("'=HYPERLINK")


def test_shoppers_get_403_and_visitors_sign_in_first(app, make_user):
    write_many_orders(app, make_user)
    shopper = client_for(app, "sam@example.com")
    visitor = app.test_client()
    for url in ("/purchases/orders/", "/purchases/orders/export.csv"):
        assert shopper.get(url).status_code == 403
        response = visitor.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/users/login?next=")


# --- the order page as a receipt ------------------------------------------------------


def test_the_order_page_is_a_receipt_that_prints_without_the_shop_around_it(
    app, make_user, make_item
):
    shop = open_shop(app, make_user, make_item)
    number = order_in(shop, "pending_payment")
    html = get_html(shop.shopper, order_url(number))
    assert f"<h1>Order {number}</h1>" in html
    for text in ("Lamp", "Mug", "$19.99", "$39.98", "$44.48", "$4.95", "$49.43"):
        assert text in html, text
    assert f'<strong id="order-total">${USUAL_TOTAL / 100:.2f}</strong>' in html
    assert "1 Test Street" in html and "Testville" in html
    # Times in UTC, said so: the heading's and every event's.
    assert re.search(r"Placed \d{4}-\d\d-\d\d \d\d:\d\d UTC", html)
    times = re.findall(r"<time[^>]*>([^<]*)</time>", html)
    assert times and all(t.endswith(" UTC") for t in times)
    # Printed, the nav, the flashes and every form are hidden.
    stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    css = "\n".join(html_of(shop.shopper.get(href)) for href in stylesheets)
    printed = PRINT_RE.search(css)
    assert printed, "no @media print rules"
    hidden = re.search(r"([^{}]+)\{\s*display:\s*none", printed.group(1)).group(1)
    selectors = {s.strip() for s in hidden.split(",")}
    assert {"header", "form", ".no-print", ".flashes"} <= selectors
    assert "<nav" in html.split("<main", 1)[0].split("<header", 1)[1]  # nav in header
    assert re.search(
        r'<section class="no-print"[^>]*>\s*<h2[^>]*>Changed your mind', html
    )


def test_an_unpaid_order_shows_the_bank_details_with_its_number_as_reference(
    app, make_user, make_item
):
    shop = open_shop(app, make_user, make_item)
    details = "Corner Store Ltd · IBAN GB33 BUKB 2020 1555 5555 55"
    saved = post_form(
        shop.staff,
        "/purchases/settings",
        {"form": "shop", "shop-tax_rate": "0", "shop-bank_transfer_details": details},
    )
    assert saved.status_code == 302
    number = order_in(shop, "pending_payment")
    html = get_html(shop.shopper, order_url(number))
    assert "Pay by bank transfer" in html
    assert f"give <strong>{number}</strong> as the reference" in html
    assert details in html
    moved(shop, number, "paid")
    paid = get_html(shop.shopper, order_url(number))
    assert "Pay by bank transfer" not in paid and details not in paid
