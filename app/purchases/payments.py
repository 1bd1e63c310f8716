"""Paying by card (/purchases/payments/...): the card step, the shopper's
return from it, and Stripe's webhook.

The card's number goes from the shopper's browser to Stripe's own script and
never reaches the store: the step's form posts only the id Stripe gave the
card. Whether the order is paid is decided in app/orders/payments.py, by one
conditional statement, whichever of the return and the webhook comes first.
"""

from __future__ import annotations

import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import csrf, db
from app.models import Order
from app.orders import payments, stripe_card
from app.orders.methods import CARD
from app.orders.numbers import normalize
from app.orders.statuses import PENDING_PAYMENT
from app.orders.stripe_card import ProviderDown
from app.purchases import bp
from app.purchases.forms import CardForm
from app.security import card_step_csp

WEBHOOK_MAX_BYTES = 256 * 1024


def _own_card_order(number: str) -> Order:
    """The signed-in shopper's own card order (anyone else's is a 404)."""
    normalized = normalize(number)
    order = (
        db.session.scalar(db.select(Order).where(Order.number == normalized))
        if normalized
        else None
    )
    if order is None or order.user_id != current_user.id:
        abort(404)
    return order


def _not_payable(order: Order):
    """Where to send the shopper when this order has no card step to take."""
    if order.payment_method != CARD or not stripe_card.enabled():
        flash("This order is not paid by card.", "info")
    elif order.status != PENDING_PAYMENT:
        flash(f"Order {order.number} is already settled: nothing to pay.", "info")
    else:
        return None
    return redirect(url_for("purchases.order", number=order.number))


def _window_end(order: Order):
    window = current_app.config["PAYMENT_WINDOWS"].get(CARD)
    return order.created_at + window if window else None


def _render(order: Order, form: CardForm, status: int = 200, intent=None):
    response = current_app.make_response(
        (
            render_template(
                "purchases/card.html",
                order=order,
                form=form,
                intent=intent,
                publishable_key=current_app.config["STRIPE_PUBLISHABLE_KEY"] or "",
                stripe_js_url=current_app.config["STRIPE_JS_URL"],
                held_until=_window_end(order),
                provider_down=intent is None,
            ),
            status,
        )
    )
    response.headers["Content-Security-Policy"] = card_step_csp(
        *stripe_card.script_origins()
    )
    return response


@bp.get("/payments/<number>/card")
@login_required
def card_step(number: str):
    """The card form: Stripe's own script draws the card fields."""
    order = _own_card_order(number)
    if (away := _not_payable(order)) is not None:
        return away
    form = CardForm()
    try:
        _, intent = payments.intent_for(order)
    except ProviderDown:
        return _render(order, form, 503)
    if intent.status == payments.SUCCEEDED:
        return _settled(payments.settle(intent), order)
    return _render(order, form, intent=intent)


@bp.post("/payments/<number>/card")
@login_required
def card_pay(number: str):
    """Charge the card Stripe's script registered (its id, never its number)."""
    order = _own_card_order(number)
    if (away := _not_payable(order)) is not None:
        return away
    form = CardForm()
    if not form.validate():
        flash(" ".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("purchases.card_step", number=order.number))
    try:
        outcome = payments.pay(order, form.payment_method.data)
    except ProviderDown:
        flash(
            "The card service is not answering right now, so nothing was charged. "
            "Your order is kept with its items; please try again in a few minutes.",
            "error",
        )
        return redirect(url_for("purchases.order", number=order.number))
    return _settled(outcome, order)


@bp.get("/payments/<number>/return")
@login_required
def card_return(number: str):
    """Back from Stripe (after a bank's check): read the intent, settle it."""
    order = _own_card_order(number)
    payment = payments.payment_of(order.id)
    if payment is None or not payment.intent_id or order.status != PENDING_PAYMENT:
        return redirect(url_for("purchases.order", number=order.number))
    try:
        intent = stripe_card.retrieve_intent(payment.intent_id)
    except ProviderDown:
        flash(
            "The card service is not answering, so we cannot tell yet whether "
            "the payment went through. We will update your order when it does.",
            "warning",
        )
        return redirect(url_for("purchases.order", number=order.number))
    if intent.status == payments.SUCCEEDED:
        return _settled(payments.settle(intent), order)
    flash(intent.error or "The payment did not go through: try again.", "error")
    return redirect(url_for("purchases.card_step", number=order.number))


def _settled(outcome, order: Order):
    db.session.rollback()
    current = db.session.get(Order, order.id)
    if outcome.applied or (current and current.status != PENDING_PAYMENT):
        flash(f"Thank you! Order {order.number} is paid.", "success")
        return redirect(url_for("purchases.order", number=order.number))
    flash(outcome.message, "error")
    return redirect(url_for("purchases.card_step", number=order.number))


@bp.post("/payments/stripe/webhook")
@csrf.exempt
def stripe_webhook():
    """Stripe's events, signed with STRIPE_WEBHOOK_SECRET: 400 unless the
    `Stripe-Signature` header signs this body within five minutes; each
    event id recorded once; 200 for every correctly signed event."""
    if not current_app.config.get("STRIPE_WEBHOOK_SECRET"):
        abort(404)
    if (request.content_length or 0) > WEBHOOK_MAX_BYTES:
        abort(413)
    payload = request.get_data(cache=False)
    signature = request.headers.get("Stripe-Signature", "")
    if not signature or len(payload) > WEBHOOK_MAX_BYTES:
        return {"error": "missing or oversized signature"}, 400
    try:
        event = stripe_card.verified_event(payload, signature)
    except ValueError:
        return {"error": "bad signature"}, 400
    event_id, kind = event.get("id"), event.get("type")
    if not (isinstance(event_id, str) and _EVENT_ID.fullmatch(event_id)) or not (
        isinstance(kind, str) and 0 < len(kind) <= 100
    ):
        return {"error": "not an event"}, 400
    return {"received": True, "outcome": payments.handle_event(event)}, 200


_EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
