"""Races on one order (SECURITY 37, 38): two status changes at once apply
exactly once (one event, stock back at most once), and refunds, alone or
racing, never take refunded_cents past total_cents.

The in-process races run each side in a thread of its own with its own app
(its own engine and pool) and test client, all released together by a
barrier; the last one races eight browsers through four gunicorn workers over
real HTTP. Each race is repeated on several orders, so the requests truly
overlap on some of them, and every one is bounded in time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import OrderEvent
from tests.helpers import (
    CSRF_RE,
    TEST_PASSWORD,
    assert_totals_match_rows,
    client_for,
    flashes,
    get_html,
    html_of,
    move_order,
    order_events_of,
    order_status,
    order_url,
    place_order,
    stock_of,
)
from tests.test_production_server import (
    NO_CONTROL_SOCKET,
    gunicorn_store,
    statuses_in_access_log,
)

ROUNDS = 4  # orders raced on, one after the other
DEADLINE = 60  # seconds a whole race may take
STOCK = 20
LAMP_PRICE = 1999
# What the browsers that lost are told: lost in the UPDATE, or too late to
# see an order that could still be cancelled.
LOST_CANCEL = (
    "was already cancelled: nothing changed|can no longer be cancelled|"
    "cannot be marked cancelled|changed while you were looking"
)


@dataclass
class Side:
    """One racer: a browser of its own, on an app of its own, and the form it
    will post (with the CSRF token of the page it opened)."""

    client: FlaskClient
    url: str
    data: dict[str, str]


def race(sides: list[Side]) -> list:
    """Post every side's form at the same moment; the answers, in order."""
    barrier = threading.Barrier(len(sides))

    def post(side: Side):
        barrier.wait(timeout=30)
        return side.client.post(side.url, data=side.data)

    started = time.monotonic()
    with ThreadPoolExecutor(len(sides)) as pool:
        futures = [pool.submit(post, side) for side in sides]
        answers = [future.result(timeout=DEADLINE) for future in futures]
    assert time.monotonic() - started < DEADLINE
    return answers


def outcome(client: FlaskClient, answer) -> str:
    """What the racer was told: the flash messages of the page it was sent to."""
    assert answer.status_code == 302, html_of(answer)
    return " ".join(flashes(get_html(client, answer.headers["Location"])))


def token_for(client: FlaskClient, number: str) -> str:
    return CSRF_RE.search(get_html(client, order_url(number))).group(1)


def order_form(client: FlaskClient, number: str, action: str, **fields: str) -> Side:
    """A racer with the order page's form for `action` (status, refund,
    cancel) open, filled in with `fields`."""
    data = {"csrf_token": token_for(client, number), **fields}
    return Side(client, order_url(number, action), data)


@dataclass
class Store:
    app: Flask
    sam: int
    admins: list[int]
    lamp: int
    shopper: FlaskClient
    staff: FlaskClient

    def order(self, status: str = "paid", units: int = 2) -> str:
        number = place_order(self.shopper, {self.lamp: units})
        if status != "pending_payment":
            answer = move_order(self.staff, number, "paid")
            assert "is now paid" in outcome(self.staff, answer)
        return number


def open_store(app: Flask, make_user, make_item) -> Store:
    sam = make_user("Sam Shopper", "sam@example.com")
    admins = [
        make_user("Alex Admin", "admin@example.com", is_admin=True),
        make_user("Ada Admin", "ada@example.com", is_admin=True),
    ]
    lamp = make_item(name="Lamp", price_cents=LAMP_PRICE, stock=STOCK)
    return Store(
        app,
        sam,
        admins,
        lamp,
        client_for(app, "sam@example.com"),
        client_for(app, "admin@example.com"),
    )


def browsers(make_app: Callable[..., Flask], *emails: str) -> list[FlaskClient]:
    """A browser on an app of its own for each email, signed in."""
    return [client_for(make_app(), email) for email in emails]


def events_to(app: Flask, number: str, status: str) -> list[tuple]:
    return [e for e in order_events_of(app, number) if e[1] == status]


# --- two status changes at once (SECURITY 37) -----------------------------------------


def test_two_admins_marking_one_order_shipped_at_once_ship_it_once(
    app, make_app, make_user, make_item
):
    store = open_store(app, make_user, make_item)
    alex, ada = browsers(make_app, "admin@example.com", "ada@example.com")
    for round_ in range(ROUNDS):
        number = store.order()
        sides = [
            order_form(
                client,
                number,
                "status",
                status="shipped",
                tracking_number=f"1Z{round_}{who}",
            )
            for who, client in enumerate((alex, ada))
        ]
        answers = race(sides)
        told = [outcome(side.client, a) for side, a in zip(sides, answers, strict=True)]
        won = [
            i
            for i, text in enumerate(told)
            if f"Order {number} is now shipped." in text
        ]
        assert len(won) == 1, told
        (loser,) = {0, 1} - set(won)
        # The one that lost is told nothing changed: lost in the UPDATE, or
        # too late to see a paid order at all.
        assert re.search(
            "already shipped: nothing changed|cannot be marked shipped|"
            "changed while you were looking",
            told[loser],
        ), told[loser]
        shipped = events_to(app, number, "shipped")
        assert [e[:3] for e in shipped] == [("paid", "shipped", store.admins[won[0]])]
        status, refunded, _, tracking = order_status(app, number)
        assert (status, refunded, tracking) == ("shipped", 0, f"1Z{round_}{won[0]}")
    assert stock_of(app, store.lamp) == STOCK - 2 * ROUNDS  # shipping restocks nothing
    assert_totals_match_rows(app)


@pytest.mark.parametrize("source", ["pending_payment", "paid"])
def test_an_admin_cancelling_while_the_shopper_cancels_returns_stock_once(
    app, make_app, make_user, make_item, source
):
    store = open_store(app, make_user, make_item)
    admin, shopper = browsers(make_app, "admin@example.com", "sam@example.com")
    for _ in range(ROUNDS):
        number = store.order(source, units=3)
        before = stock_of(app, store.lamp)
        sides = [
            order_form(admin, number, "status", status="cancelled"),
            order_form(shopper, number, "cancel"),
        ]
        answers = race(sides)
        told = [outcome(side.client, a) for side, a in zip(sides, answers, strict=True)]
        won = [
            i
            for i, text in enumerate(told)
            if f"Order {number} is now cancelled." in text
        ]
        assert len(won) == 1, told
        (loser,) = {0, 1} - set(won)
        assert re.search(LOST_CANCEL, told[loser]), told[loser]
        cancelled = events_to(app, number, "cancelled")
        actor = (store.admins[0], store.sam)[won[0]]
        assert [e[:3] for e in cancelled] == [(source, "cancelled", actor)]
        assert stock_of(app, store.lamp) == before + 3  # back exactly once
        status, refunded, total, _ = order_status(app, number)
        assert status == "cancelled"
        assert refunded == (total if source == "paid" else 0)
    assert stock_of(app, store.lamp) == STOCK
    assert_totals_match_rows(app)


def test_a_refund_in_full_racing_a_shipment_applies_one_of_them(
    app, make_app, make_user, make_item
):
    """paid → shipped and paid → refunded at once: whichever lands first, the
    other either follows from the new status (shipped → refunded is a move
    too) or is refused; never two events for one move, never past the total."""
    store = open_store(app, make_user, make_item)
    alex, ada = browsers(make_app, "admin@example.com", "ada@example.com")
    for _ in range(ROUNDS):
        number = store.order()
        sides = [
            order_form(alex, number, "status", status="shipped"),
            order_form(ada, number, "status", status="refunded"),
        ]
        race(sides)
        moves = [e[1] for e in order_events_of(app, number)[2:]]
        assert moves in (["shipped", "refunded"], ["refunded"], ["shipped"]), moves
        status, refunded, total, _ = order_status(app, number)
        assert status == moves[-1]
        assert refunded == (total if "refunded" in moves else 0)
    assert_totals_match_rows(app)


# --- refunds racing (SECURITY 38) -----------------------------------------------------


def test_two_refunds_whose_sum_exceeds_the_total_never_refund_past_it(
    app, make_app, make_user, make_item
):
    store = open_store(app, make_user, make_item)
    alex, ada = browsers(make_app, "admin@example.com", "ada@example.com")
    for _ in range(ROUNDS):
        number = store.order()
        total = order_status(app, number)[2]
        amounts = [total - 100, 200]  # each alone fits; together they do not
        sides = [
            order_form(client, number, "refund", amount=f"{amount / 100:.2f}")
            for client, amount in zip((alex, ada), amounts, strict=True)
        ]
        answers = race(sides)
        told = [outcome(side.client, a) for side, a in zip(sides, answers, strict=True)]
        applied = [i for i, text in enumerate(told) if text.startswith("Refunded $")]
        assert len(applied) == 1, told
        (refused,) = {0, 1} - set(applied)
        assert "Nothing was refunded." in told[refused], told
        status, refunded, total_after, _ = order_status(app, number)
        assert (status, total_after) == ("paid", total)
        assert refunded == amounts[applied[0]] <= total
        refunds = [e for e in order_events_of(app, number) if e[0] == e[1]]
        assert len(refunds) == 1
    assert_totals_match_rows(app)


def test_many_refunds_at_once_add_up_to_at_most_the_total(
    app, make_app, make_user, make_item
):
    """Six admins' browsers refund 30% each of one order at once: three fit,
    and when they reach the total exactly the order is refunded in full."""
    store = open_store(app, make_user, make_item)
    clients = browsers(make_app, *["admin@example.com", "ada@example.com"] * 3)
    number = store.order(units=5)  # $99.95: delivery is free over $50
    total = order_status(app, number)[2]
    part = total * 3 // 10
    sides = [
        order_form(client, number, "refund", amount=f"{part / 100:.2f}")
        for client in clients
    ]
    answers = race(sides)
    told = [outcome(side.client, a) for side, a in zip(sides, answers, strict=True)]
    applied = sum(text.startswith("Refunded $") for text in told)
    assert applied == 3, told
    status, refunded, _, _ = order_status(app, number)
    assert refunded == 3 * part <= total
    assert status == "paid"
    with app.app_context():
        refunds = db.session.scalar(
            sa.select(sa.func.count(OrderEvent.id)).where(
                OrderEvent.from_status == OrderEvent.to_status
            )
        )
    assert refunds == 3


def test_a_partial_refund_racing_a_refund_in_full_stays_within_the_total(
    app, make_app, make_user, make_item
):
    store = open_store(app, make_user, make_item)
    alex, ada = browsers(make_app, "admin@example.com", "ada@example.com")
    for _ in range(ROUNDS):
        number = store.order()
        sides = [
            order_form(alex, number, "status", status="refunded"),
            order_form(ada, number, "refund", amount="10.00"),
        ]
        race(sides)
        status, refunded, total, _ = order_status(app, number)
        assert (status, refunded) == ("refunded", total)
        assert len(events_to(app, number, "refunded")) == 1
    assert_totals_match_rows(app)


# --- eight browsers, four gunicorn workers --------------------------------------------

BROWSERS = 8


@pytest.mark.slow
def test_eight_browsers_cancelling_one_paid_order_on_four_workers_cancel_it_once(
    app, database_uri, make_user, make_item, tmp_path
):
    """The shopper in four browsers presses Cancel while an admin in four
    presses "Cancel order", all at once, through four gunicorn processes:
    one cancellation, one event, the stock back once, the money refunded once."""
    store = open_store(app, make_user, make_item)
    number = store.order(units=4)
    total = order_status(app, number)[2]
    assert stock_of(app, store.lamp) == STOCK - 4
    with gunicorn_store(
        database_uri,
        tmp_path,
        workers=4,
        threads=2,
        extra_args=NO_CONTROL_SOCKET,
        LOGIN_RATE_LIMIT="1000 per minute",
        # Every thread may write: this race is about the database's rules,
        # not about shedding writes beyond the slots (tests/test_faults.py).
        WRITE_SLOTS="2",
    ) as server:
        people = ["sam@example.com", "admin@example.com"] * (BROWSERS // 2)
        prepared = []
        for email in people:
            browser = server.browser()
            login = browser.submit(
                "/users/login",
                "/users/login",
                {"email": email, "password": TEST_PASSWORD},
            )
            assert login.status == 302, login.text
            page = browser.get(order_url(number))
            assert page.status == 200, page.text
            form = {"csrf_token": CSRF_RE.search(page.text).group(1)}
            if email == "sam@example.com":
                prepared.append((browser, order_url(number, "cancel"), form))
            else:
                form["status"] = "cancelled"
                prepared.append((browser, order_url(number, "status"), form))
        barrier = threading.Barrier(BROWSERS)
        results: list = [None] * BROWSERS

        def press(index: int) -> None:
            browser, url, form = prepared[index]
            try:
                barrier.wait(timeout=30)
                results[index] = browser.post(url, form)
            except BaseException as error:  # reported below
                results[index] = error

        threads = [threading.Thread(target=press, args=(i,)) for i in range(BROWSERS)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=DEADLINE)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in threads), "a cancel hung"
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors
        assert elapsed < 30, f"the race took {elapsed:.1f}s"
        assert [r.status for r in results] == [302] * BROWSERS
        told = []
        for (browser, _, _), result in zip(prepared, results, strict=True):
            assert result.location == order_url(number)
            page = browser.get(result.location).text
            told.append(" ".join(flashes(page)))
        log = server.log_text()
    won = [text for text in told if f"Order {number} is now cancelled." in text]
    assert len(won) == 1, told
    lost = [text for text in told if text not in won]
    assert all(re.search(LOST_CANCEL, text) for text in lost), told
    status, refunded, _, _ = order_status(app, number)
    assert (status, refunded) == ("cancelled", total)
    assert stock_of(app, store.lamp) == STOCK
    assert len(events_to(app, number, "cancelled")) == 1
    assert len(order_events_of(app, number)) == 3  # placed, paid, cancelled
    assert_totals_match_rows(app)
    logged = statuses_in_access_log(log)
    assert 500 not in logged and 503 not in logged
    assert "Traceback" not in log and "database is locked" not in log
