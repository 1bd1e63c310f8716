"""The order emails: placed (with the bank-transfer details), paid, shipped
(with tracking), cancelled and refunded. Each is written to the outbox in
the transaction of the order's change, once per event, and reaches a real
SMTP server through the worker.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Order, OutboxMessage, ShopSettings, utcnow
from tests.helpers import (
    add_to_cart,
    checkout,
    checkout_form,
    client_for,
    count,
    csrf_token_from,
    html_of,
    order_number,
    outbox_rows,
    post_form,
    row_of,
    send_all,
    set_item,
    the_only,
)

BANK = "Corner Store Ltd\nIBAN GB33 BUKB 2020 1555 5555 55"


@pytest.fixture
def placed(app, store) -> dict:
    """Sam's order of two lamps by bank transfer, placed through checkout."""
    with app.app_context():
        db.session.get(ShopSettings, 1).bank_transfer_details = BANK
        db.session.commit()
    sam = client_for(app, "sam@example.com")
    add_to_cart(sam, store["lamp"], 2)
    response = checkout(sam)
    assert response.status_code == 302
    number = order_number(response)
    with app.app_context():
        order_id = db.session.scalar(sa.select(Order.id).where(Order.number == number))
    return {**store, "client": sam, "number": number, "id": order_id}


def kinds(app) -> list[str]:
    return [row.kind for row in outbox_rows(app)]


def move(client, number: str, status: str, **extra):
    url = f"/purchases/orders/{number}/status"
    return post_form(
        client, url, {"status": status, **extra}, page=f"/purchases/orders/{number}"
    )


def test_placing_an_order_queues_its_receipt_with_the_transfer_details(
    app, placed, mailer, smtp
):
    row = the_only(app, OutboxMessage)
    assert (row.kind, row.recipient, row.status) == (
        "order_placed",
        "sam@example.com",
        "pending",
    )
    assert row.dedupe_key == f"order:{placed['id']}:placed"
    send_all(mailer)
    [email] = smtp.to("sam@example.com")
    number = placed["number"]
    assert email.subject == f"Your order {number} is placed"
    for part in (email.text, email.html):
        assert number in part
        assert "GB33 BUKB 2020 1555 5555 55" in part
        assert "$39.98" in part  # 2 × $19.99, the amount to transfer
        assert "Lamp" in part
        assert "1 Test Street" in part
    order = row_of(app, Order, placed["id"])
    pay_by = (order.created_at + timedelta(days=7)).strftime("%Y-%m-%d %H:%M UTC")
    assert f"Please pay by {pay_by}" in email.text
    assert f"http://store.test/purchases/orders/{number}" in email.text
    assert 'href="http://store.test/purchases/orders/' in email.html


def test_a_checkout_that_buys_nothing_sends_nothing(app, store):
    sam = client_for(app, "sam@example.com")
    add_to_cart(sam, store["mug"], 2)
    set_item(app, store["mug"], stock=1)  # sold out meanwhile
    assert checkout(sam).status_code == 409
    assert count(app, OutboxMessage) == 0


def test_a_double_submitted_checkout_sends_one_receipt(app, store):
    sam = client_for(app, "sam@example.com")
    add_to_cart(sam, store["lamp"], 1)
    form = checkout_form(sam)
    first = sam.post("/purchases/checkout", data=form)
    again = sam.post("/purchases/checkout", data=form)
    assert first.status_code == again.status_code == 302
    assert kinds(app) == ["order_placed"]


def test_each_status_move_sends_its_email_once(app, placed, mailer, smtp):
    admin = client_for(app, "admin@example.com")
    number = placed["number"]
    assert move(admin, number, "paid").status_code == 302
    # The same move again (a second admin, a double click) loses: no second email.
    assert move(admin, number, "paid").status_code == 302
    assert (
        move(admin, number, "shipped", tracking_number="1Z999AA10123456784").status_code
        == 302
    )
    assert move(admin, number, "delivered").status_code == 302
    assert move(admin, number, "refunded").status_code == 302
    assert kinds(app) == [
        "order_placed",
        "order_paid",
        "order_shipped",
        "order_refunded",
    ]  # delivered sends none
    send_all(mailer)
    send_all(mailer)  # nothing twice
    emails = smtp.to("sam@example.com")
    assert [e.subject for e in emails] == [
        f"Your order {number} is placed",
        f"We received your payment for order {number}",
        f"Your order {number} is on its way",
        f"We refunded $44.93 of your order {number}",
    ]
    paid, shipped, refunded = emails[1:]
    assert "$44.93" in paid.text  # $39.98 + $4.95 standard delivery
    assert "Tracking number: 1Z999AA10123456784" in shipped.text
    assert "1Z999AA10123456784" in shipped.html
    assert "refunded in full" in refunded.text


def test_cancelling_a_paid_order_says_what_was_refunded(app, placed, mailer, smtp):
    admin = client_for(app, "admin@example.com")
    move(admin, placed["number"], "paid")
    sam = placed["client"]
    number = placed["number"]
    response = post_form(
        sam, f"/purchases/orders/{number}/cancel", page=f"/purchases/orders/{number}"
    )
    assert response.status_code == 302
    assert kinds(app)[-1] == "order_cancelled"
    send_all(mailer)
    cancelled = smtp.to("sam@example.com")[-1]
    assert cancelled.subject == f"Your order {number} is cancelled"
    assert "We refunded $44.93" in cancelled.text


def test_an_unpaid_order_cancelled_says_nothing_was_charged(app, placed, mailer, smtp):
    number = placed["number"]
    post_form(
        placed["client"],
        f"/purchases/orders/{number}/cancel",
        page=f"/purchases/orders/{number}",
    )
    send_all(mailer)
    assert "Nothing was charged" in smtp.to("sam@example.com")[-1].text


def test_each_partial_refund_sends_its_own_email(app, placed, mailer, smtp):
    admin = client_for(app, "admin@example.com")
    number = placed["number"]
    move(admin, number, "paid")
    page = f"/purchases/orders/{number}"
    for amount in ("10.00", "34.93"):
        response = post_form(
            admin, f"/purchases/orders/{number}/refund", {"amount": amount}, page=page
        )
        assert response.status_code == 302
    assert kinds(app) == [
        "order_placed",
        "order_paid",
        "order_refunded",
        "order_refunded",
    ]
    send_all(mailer)
    first, second = smtp.to("sam@example.com")[2:]
    assert first.subject == f"We refunded $10.00 of your order {number}"
    assert "In all we refunded $10.00 of $44.93" in first.text
    assert "refunded in full" not in first.text
    assert second.subject == f"We refunded $34.93 of your order {number}"
    assert "refunded in full" in second.text


def test_racing_moves_send_one_email(app, make_app, placed):
    """Two admins mark the same order paid at the same moment: one move, one email."""
    apps = [make_app(), make_app()]
    clients = [client_for(a, "admin@example.com") for a in apps]
    number = placed["number"]
    page = f"/purchases/orders/{number}"
    tokens = [csrf_token_from(html_of(c.get(page))) for c in clients]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def press(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = (
            clients[i]
            .post(f"{page}/status", data={"csrf_token": tokens[i], "status": "paid"})
            .status_code
        )

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [302, 302]
    assert kinds(app) == ["order_placed", "order_paid"]


def test_expiring_an_unpaid_order_emails_the_shopper(app, placed, runner):
    with app.app_context():
        db.session.execute(
            sa.update(Order).values(created_at=utcnow() - timedelta(days=8))
        )
        db.session.commit()
    result = runner.invoke(args=["orders", "expire"])
    assert result.exit_code == 0, result.output
    assert kinds(app) == ["order_placed", "order_cancelled"]
    assert "Not paid" not in outbox_rows(app)[-1].body_text  # the email, not the note


def test_an_unreachable_mail_server_costs_the_shopper_nothing(app, make_app, store):
    """The order is placed and its page shown; the email waits in the outbox."""
    down = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=1)
    sam = client_for(down, "sam@example.com")
    add_to_cart(sam, store["lamp"], 1)
    response = checkout(sam)
    assert response.status_code == 302
    assert sam.get(response.headers["Location"]).status_code == 200
    send_all(down)
    row = the_only(app, OutboxMessage)
    assert (row.kind, row.status, row.attempts) == ("order_placed", "pending", 1)
