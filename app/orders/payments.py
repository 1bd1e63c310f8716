"""The ways a shopper can pay, and what the database decides about each payment.

- `bank_transfer` is always offered: the order waits in `pending_payment`
  until an admin marks it paid; the order page and the receipt show the
  shop's transfer details with the order number as the reference.
- `card` is offered when STRIPE_SECRET_KEY is set (app/orders/stripe_card.py):
  the order is placed first (stock taken, `pending_payment`), then the card
  step takes the money. The order's PaymentIntent is recorded in `payments`
  (order and intent both unique), so every retry reuses it.

The order becomes `paid` by one conditional statement (`... WHERE status =
'pending_payment'`, app/orders/lifecycle.py) after the intent's amount and
currency are checked against the order, whichever of the shopper's return
and the webhook gets there first: the other finds nothing to change. Each
webhook event id is recorded once (`payment_events.event_id` unique), in the
same transaction as its effect, so a replay changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from app.database import begin_write
from app.extensions import db
from app.models import Order, Payment, PaymentEvent
from app.money import money
from app.orders import lifecycle, stripe_card
from app.orders.lifecycle import Outcome
from app.orders.methods import BANK_TRANSFER, CARD, NAMES
from app.orders.statuses import CANCELLED, PAID, PENDING_PAYMENT
from app.orders.stripe_card import Declined, Intent, ProviderDown

SUCCEEDED = "succeeded"
EVENT_SUCCEEDED = "payment_intent.succeeded"
EVENT_FAILED = "payment_intent.payment_failed"


@dataclass(frozen=True)
class Method:
    """A payment method: its code, its name, whether this store offers it now
    and whether the shopper has a step to take after placing the order."""

    code: str
    name: str
    has_step: bool

    def is_offered(self) -> bool:
        return self.code != CARD or stripe_card.enabled()


METHODS = {
    BANK_TRANSFER: Method(BANK_TRANSFER, NAMES[BANK_TRANSFER], has_step=False),
    CARD: Method(CARD, NAMES[CARD], has_step=True),
}


def offered() -> list[tuple[str, str]]:
    """(code, name) of each method this store takes."""
    return [(m.code, m.name) for m in METHODS.values() if m.is_offered()]


def has_step(code: str) -> bool:
    """Whether an order paid this way goes to a payment step once placed."""
    method = METHODS.get(code)
    return bool(method and method.has_step and method.is_offered())


def payment_of(order_id: int) -> Payment | None:
    return db.session.scalar(sa.select(Payment).where(Payment.order_id == order_id))


def events_of(order_id: int) -> list[PaymentEvent]:
    return list(
        db.session.scalars(
            sa.select(PaymentEvent)
            .where(PaymentEvent.order_id == order_id)
            .order_by(PaymentEvent.id)
        )
    )


# --- the card step ------------------------------------------------------------------


def intent_for(order: Order) -> tuple[Payment, Intent]:
    """The order's PaymentIntent, created once: the `payments` row is written
    first (one per order, a racing second tab finds it), then the intent,
    then its id onto the row. ProviderDown if the provider does not answer
    (the row keeps the error; the order keeps waiting with its stock)."""
    payment = payment_of(order.id)
    if payment is None:
        begin_write()  # SQLite: the write lock first, never a stale snapshot's
        try:
            db.session.add(
                Payment(
                    order_id=order.id,
                    provider=stripe_card.PROVIDER,
                    amount_cents=order.total_cents,
                    currency=current_app.config["STRIPE_CURRENCY"],
                    status="creating",
                )
            )
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()
        payment = payment_of(order.id)
    assert payment is not None
    # Each write after the provider answers starts a write transaction of its
    # own (begin_write): on SQLite the read transaction open meanwhile may
    # have gone stale under a webhook written at that moment, and writing on
    # it would fail instead of waiting its turn.
    try:
        if payment.intent_id:
            intent = stripe_card.retrieve_intent(payment.intent_id)
            if intent.status == "requires_payment_method" and intent.error:
                intent = _replace_failed(order, payment, intent)
        else:
            intent = stripe_card.create_intent(
                order.number, payment.amount_cents, payment.currency
            )
            begin_write()
            db.session.execute(
                sa.update(Payment)
                .where(Payment.id == payment.id, Payment.intent_id.is_(None))
                .values(intent_id=intent.id, status=intent.status, last_error=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            db.session.refresh(payment)
            if payment.intent_id != intent.id:  # a racing tab recorded its own
                intent = stripe_card.retrieve_intent(payment.intent_id)
    except ProviderDown as error:
        note(payment.id, None, f"The card service did not answer: {error}")
        raise
    except Declined as error:  # the provider refused to make or renew the intent
        note(payment.id, None, f"The card service refused: {error}")
        raise ProviderDown(str(error)) from error
    return payment, intent


def _replace_failed(order: Order, payment: Payment, failed: Intent) -> Intent:
    """A declined card leaves its intent holding the failed charge: it is
    cancelled (it can never be charged now) and the order gets a new one,
    moved onto its row by one conditional UPDATE on the old id, so two tabs
    retrying at once end with one live intent."""
    stripe_card.cancel_intent(failed.id)
    fresh = stripe_card.create_intent(
        order.number,
        payment.amount_cents,
        payment.currency,
        key=f"order-{order.number}-after-{failed.id}",
    )
    begin_write()
    replaced = db.session.execute(
        sa.update(Payment)
        .where(Payment.id == payment.id, Payment.intent_id == failed.id)
        .values(intent_id=fresh.id, status=fresh.status, updated_at=sa.func.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    db.session.refresh(payment)
    if not replaced:
        stripe_card.cancel_intent(fresh.id)
        return stripe_card.retrieve_intent(payment.intent_id)
    return fresh


def pay(order: Order, payment_method: str) -> Outcome:
    """Charge the card the shopper's browser handed to Stripe; a success is
    settled at once (the webhook, arriving before or after, changes nothing)."""
    payment, intent = intent_for(order)
    if intent.status == SUCCEEDED:
        return settle(intent)
    if intent.status not in ("requires_payment_method", "requires_confirmation"):
        return Outcome(False, "This payment cannot be taken now; try again shortly.")
    try:
        intent = stripe_card.confirm_intent(intent.id, payment_method)
    except Declined as error:
        note(payment.id, "requires_payment_method", str(error))
        return Outcome(False, f"{error} Nothing was charged: try another card.")
    except ProviderDown as error:
        note(payment.id, None, f"The card service did not answer: {error}")
        raise
    note(payment.id, intent.status, intent.error)
    if intent.status == SUCCEEDED:
        return settle(intent)
    if intent.status == "requires_action":
        return Outcome(False, "Your bank asks you to confirm this payment.")
    return Outcome(False, intent.error or "The payment is not complete yet.")


def note(payment_id: int, status: str | None, error: str | None) -> None:
    """What the provider last said about a payment, for the admin's page. A
    payment once seen succeeded keeps that status, whatever arrives late."""
    values: dict = {"last_error": error, "updated_at": sa.func.now()}
    if status:
        values["status"] = status
    db.session.rollback()
    db.session.execute(
        sa.update(Payment)
        .where(Payment.id == payment_id, Payment.status != SUCCEEDED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def settle(intent: Intent) -> Outcome:
    """The shopper's return: mark the order paid if the intent succeeded for
    exactly its amount and currency. Commits; a lost race changes nothing."""
    begin_write()
    _, outcome = _apply_intent(intent)
    if outcome.applied:
        db.session.commit()
    else:
        db.session.rollback()
    return outcome


def _apply_intent(intent: Intent) -> tuple[Order | None, Outcome]:
    """In the caller's write transaction: the move a succeeded intent makes."""
    payment = db.session.scalar(
        sa.select(Payment).where(Payment.intent_id == intent.id)
    )
    order = db.session.get(Order, payment.order_id) if payment else None
    if payment is None or order is None:
        return None, Outcome(False, "no order has this payment")
    if intent.order_number != order.number:
        return order, Outcome(False, "the payment names another order")
    if intent.amount != order.total_cents or intent.currency != payment.currency:
        return order, Outcome(
            False,
            f"the amount ({intent.amount} {intent.currency}) does not match the "
            f"order's ({order.total_cents} {payment.currency})",
        )
    if intent.status != SUCCEEDED:
        return order, Outcome(False, f"the payment is {intent.status}")
    db.session.execute(
        sa.update(Payment)
        .where(Payment.id == payment.id)
        .values(status=SUCCEEDED, last_error=None, updated_at=sa.func.now())
        .execution_options(synchronize_session=False)
    )
    if order.status != PENDING_PAYMENT:
        return order, Outcome(False, f"the order was already {order.status}")
    outcome = lifecycle.apply_move(
        order.id,
        PENDING_PAYMENT,
        PAID,
        actor_id=None,
        note=f"Paid {money(intent.amount)} by card.",
    )
    return order, outcome


# --- the webhook --------------------------------------------------------------------


def handle_event(event: dict) -> str:
    """Apply one verified webhook event and record its id, in one transaction;
    what it did, in words. A replayed id is a no-op."""
    event_id = str(event.get("id") or "")[:255]
    kind = str(event.get("type") or "")[:100]
    if not event_id:
        return "no event id: ignored"
    if db.session.scalar(
        sa.select(PaymentEvent.id).where(PaymentEvent.event_id == event_id)
    ):
        db.session.rollback()
        return "already recorded: nothing changed"
    obj = (event.get("data") or {}).get("object") or {}
    intent = None
    if obj.get("object") == "payment_intent" and obj.get("id"):
        try:
            intent = Intent.of(obj)
        except (AttributeError, KeyError, TypeError, ValueError):
            intent = None  # signed, but not shaped like a PaymentIntent
    begin_write()
    row = PaymentEvent(
        event_id=event_id,
        type=kind,
        intent_id=intent.id[:255] if intent else None,
        outcome="",
    )
    db.session.add(row)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()  # the same event, recorded at this moment elsewhere
        return "already recorded: nothing changed"
    if intent is None:
        text = "not a payment of ours: recorded"
    elif kind == EVENT_SUCCEEDED:
        order, outcome = _apply_intent(intent)
        if not outcome.applied:
            db.session.rollback()  # nothing but the event row is written
            begin_write()
            row = PaymentEvent(
                event_id=event_id,
                type=kind,
                intent_id=intent.id[:255],
                order_id=order.id if order else None,
                outcome="",
            )
            db.session.add(row)
        text = "order paid" if outcome.applied else f"no change: {outcome.message}"
        row.order_id = order.id if order else None
    elif kind == EVENT_FAILED:
        payment = db.session.scalar(
            sa.select(Payment).where(Payment.intent_id == intent.id)
        )
        if payment is not None:
            row.order_id = payment.order_id
            db.session.execute(
                sa.update(Payment)
                .where(Payment.id == payment.id, Payment.status != SUCCEEDED)
                .values(
                    status="requires_payment_method",
                    last_error=intent.error or "The payment failed.",
                    updated_at=sa.func.now(),
                )
                .execution_options(synchronize_session=False)
            )
        text = "payment failed: the order waits for another try"
    else:
        text = f"{kind or 'unknown'} events are not used: recorded"
    row.outcome = text[:200]
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()  # the same event, handled at this moment elsewhere
        return "already recorded: nothing changed"
    return text


# --- refunds and expiry -------------------------------------------------------------


def refund_key(order: Order, amount_cents: int, seen_refunded_cents: int) -> str:
    """The provider's idempotency key for refunding `amount_cents` of `order`
    on top of the `seen_refunded_cents` the admin's page showed: a retry of
    the same refund (the first answer lost, so nothing recorded) sends the
    same key, a later refund a new one."""
    return f"order-{order.number}-refund-{seen_refunded_cents}-{amount_cents}"


def provider_refund(
    order: Order, amount_cents: int, seen_refunded_cents: int
) -> Outcome | None:
    """For a card order, refund through the provider first; None when the
    provider accepted (or the order was not paid by card), else why not."""
    payment = payment_of(order.id) if order.payment_method == CARD else None
    if payment is None or payment.status != SUCCEEDED or not payment.intent_id:
        return None
    if amount_cents <= 0:
        return None
    try:
        stripe_card.refund(
            payment.intent_id,
            amount_cents,
            refund_key(order, amount_cents, seen_refunded_cents),
        )
    except ProviderDown:
        return Outcome(
            False,
            "The card service did not answer: nothing was refunded. Try again in "
            "a moment (a retry never refunds twice).",
        )
    except Declined as error:
        return Outcome(False, f"The card service refused the refund: {error}")
    return None


def refund(
    order: Order,
    amount_cents: int,
    *,
    actor_id: int,
    note: str,
    seen_refunded_cents: int | None = None,
) -> Outcome:
    """An admin's refund: through the provider for a card order, recorded only
    once the provider accepted it (and only once, whatever the retries).
    `seen_refunded_cents` is what the admin's page showed as refunded."""
    seen = order.refunded_cents if seen_refunded_cents is None else seen_refunded_cents
    if order.payment_method != CARD or amount_cents <= 0:
        return lifecycle.refund(order.id, amount_cents, actor_id=actor_id, note=note)
    if seen != order.refunded_cents:
        return Outcome(
            False,
            f"Order {order.number} was refunded meanwhile (now "
            f"{money(order.refunded_cents)} in all). Nothing more was refunded; "
            "check it and try again.",
        )
    if amount_cents > order.refundable_cents:
        return lifecycle.refund(order.id, amount_cents, actor_id=actor_id, note=note)
    refused = provider_refund(order, amount_cents, seen)
    if refused is not None:
        return refused
    return lifecycle.refund(
        order.id,
        amount_cents,
        actor_id=actor_id,
        note=note,
        seen_refunded_cents=seen,
    )


def move(order: Order, from_status: str, to_status: str, **kwargs) -> Outcome:
    """A status move; one that refunds a paid card order (cancelling it,
    refunding the rest) has the provider refund it first."""
    if (
        from_status == PENDING_PAYMENT
        and to_status == CANCELLED
        and order.payment_method == CARD
        and not release(order.id)
    ):
        return Outcome(
            False,
            f"Order {order.number}'s card payment could not be stopped just now "
            "(it may be going through). Nothing was changed; try again in a minute.",
        )
    refunds = from_status != PENDING_PAYMENT and to_status in (CANCELLED, "refunded")
    if refunds and from_status == order.status:
        refused = provider_refund(order, order.refundable_cents, order.refunded_cents)
        if refused is not None:
            return refused
    return lifecycle.move(order.id, from_status, to_status, **kwargs)


def release(order_id: int) -> bool:
    """Before an unpaid card order expires: cancel its PaymentIntent, so the
    card can no longer be charged. False (keep the order for the next run)
    when the provider does not answer or the intent has just succeeded."""
    payment = payment_of(order_id)
    db.session.rollback()
    if payment is None or not payment.intent_id:
        return True
    try:
        intent = stripe_card.retrieve_intent(payment.intent_id)
        if intent.status == SUCCEEDED:
            settle(intent)
            return False
        if intent.status != "canceled":
            intent = stripe_card.cancel_intent(payment.intent_id)
    except (ProviderDown, Declined) as error:
        note(payment.id, None, f"Could not cancel the payment: {error}")
        return False
    note(payment.id, intent.status, None)
    return True
