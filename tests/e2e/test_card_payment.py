"""Paying by card in Chromium, against a real local server that speaks
Stripe's API (localstripe): its stand-in for js.stripe.com/v3/ draws the card
fields on the card step, registers the card with the server, and the store
charges it through Stripe's SDK. A declined card leaves the order waiting
and a second card pays it; localstripe's own signed webhook then finds
nothing left to change."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.models import Order, OrderEvent, PaymentEvent, User
from tests.e2e.helpers import sign_in
from tests.helpers import DECLINED, VISA

pytestmark = pytest.mark.browser

CARA = {"name": "Cara Card", "email": "cara@example.com", "password": "cara-shop-pass"}


@pytest.fixture
def card_store(store, local_stripe):
    """The running store taking cards through the local Stripe server, which
    sends its signed webhooks to the store."""
    settings = local_stripe.settings()
    saved = {key: store.app.config.get(key) for key in settings}
    store.app.config.update(settings)
    store.app.extensions.pop("stripe_client", None)
    local_stripe.webhook("store", f"{store.url}/purchases/payments/stripe/webhook")
    yield store
    store.app.config.update(saved)
    store.app.extensions.pop("stripe_client", None)


def type_card(page: Page, number: str) -> None:
    """The card fields the provider's script drew (not the store's own)."""
    fields = page.locator("#card-element")
    fields.get_by_placeholder("number").fill(number)
    fields.get_by_placeholder("exp_month").fill("12")
    fields.get_by_placeholder("exp_year").fill("34")
    fields.get_by_placeholder("cvc").fill("123")
    fields.get_by_placeholder("postal_code").fill("12345")


def order_to_pay_by_card(card_store, page: Page, item_id: int) -> None:
    """Cara (signed up once) puts one of the item in her cart and places the
    order at checkout, choosing to pay by card: the page goes on to the card step."""
    if card_store.scalar(sa.select(User.id).where(User.email == CARA["email"])) is None:
        card_store.add_user(CARA)
    page.goto("/")
    sign_in(page, CARA)
    page.goto(f"/items/{item_id}")
    page.get_by_role("button", name="Add to cart").click()
    page.goto("/purchases/checkout")
    page.get_by_label("Address", exact=True).fill("9 Card Street")
    page.get_by_label("Town or city").fill("Payton")
    page.get_by_label("Postcode").fill("12345")
    page.get_by_label("Country").select_option(label="United States")
    page.get_by_label("Card", exact=True).check()
    page.get_by_role("button", name="Place order").click()


def test_shopper_pays_by_card_after_a_declined_one(card_store, page: Page, look):
    order_to_pay_by_card(card_store, page, card_store.item_id("Ceramic Mug"))

    expect(
        page.get_by_role("heading", name="Pay for order", exact=False)
    ).to_be_visible()
    number = page.url.split("/")[-2]
    order = card_store.scalar(sa.select(Order).where(Order.number == number))
    assert order.status == "pending_payment"
    # The provider's fields are on the page; the store's form has no card number.
    expect(page.locator("#card-element input")).to_have_count(5)
    assert page.locator("form#card-form input[name=number]").count() == 0
    look.screenshot(f"card-step-{look.width}")
    look.fits_width("card-step")

    type_card(page, DECLINED)
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("alert").first).to_contain_text("declined")
    assert (
        card_store.scalar(sa.select(Order.status).where(Order.number == number))
        == "pending_payment"
    )

    type_card(page, VISA)
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Order {number} is paid")
    expect(page.get_by_text("Paid").first).to_be_visible()
    look("card-paid")

    # localstripe's own signed webhook arrives a second later: recorded, no change.
    deadline = time.monotonic() + 20
    outcomes: list[str] = []
    while time.monotonic() < deadline:
        outcomes = [
            e.outcome
            for e in card_store.scalars(
                sa.select(PaymentEvent).where(
                    PaymentEvent.order_id == order.id,
                    PaymentEvent.type == "payment_intent.succeeded",
                )
            )
        ]
        if outcomes:
            break
        time.sleep(0.2)
    assert outcomes and "already paid" in outcomes[0], outcomes
    paid_moves = card_store.scalars(
        sa.select(OrderEvent).where(
            OrderEvent.order_id == order.id, OrderEvent.to_status == "paid"
        )
    )
    assert len(paid_moves) == 1


def test_a_card_the_bank_asks_to_confirm_pays_on_return(card_store, page: Page):
    """Stripe's 3-D Secure test card: the bank's check (localstripe's dialog,
    drawn by its script), then the return page reads the intent and the
    order is paid."""
    order_to_pay_by_card(card_store, page, card_store.item_id("Beeswax Candle Pair"))
    number = page.url.split("/")[-2]
    type_card(page, "4000002500003155")
    page.get_by_role("button", name="Pay").click()
    expect(page.get_by_role("alert").first).to_contain_text("confirm this payment")
    page.get_by_role("button", name="Complete authentication").click()
    expect(page.get_by_role("status").first).to_contain_text(f"Order {number} is paid")
    assert card_store.scalar(sa.select(Order.status).where(Order.number == number)) == (
        "paid"
    )
