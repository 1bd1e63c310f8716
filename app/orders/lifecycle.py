"""An order's life after it is placed: status moves, refunds and expiry.

Every change is one conditional statement on the order's current state,
and its side effects (stock coming back, the event, the shopper's email in
the outbox) are written in the same transaction:

- a move is `UPDATE orders SET status = :to WHERE id = :id AND status = :from`:
  of two racing moves only one changes the row, so stock comes back once
  and one `order_events` row is written per applied move;
- a refund is `UPDATE orders SET refunded_cents = refunded_cents + :amount
  WHERE ... AND refunded_cents + :amount <= total_cents`, and a CHECK holds
  the same bound, so refunds never add up past the total;
- the lines of a cancelled or fully refunded order stop counting as
  purchases through a trigger on orders.status (migration 0007).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.database import begin_write, lock_in_key_order
from app.extensions import db
from app.mail import messages
from app.models import Item, Order, OrderEvent, UserItem
from app.money import money
from app.orders.statuses import (
    CANCELLED,
    LABELS,
    MOVES,
    PENDING_PAYMENT,
    REFUNDABLE,
    REFUNDED,
    SHIPPED,
)


@dataclass(frozen=True)
class Outcome:
    """What happened, in words for the person who asked."""

    applied: bool
    message: str

    @property
    def category(self) -> str:
        return "success" if self.applied else "error"


def move(
    order_id: int,
    from_status: str,
    to_status: str,
    *,
    actor_id: int | None,
    note: str = "",
    tracking_number: str | None = None,
) -> Outcome:
    """Move an order from `from_status` (the status its page showed) to
    `to_status`, with its side effects, in one transaction; commits."""
    if to_status not in MOVES.get(from_status, ()):
        return Outcome(
            False,
            f"An order that is {LABELS.get(from_status, from_status).lower()} "
            f"cannot be marked {LABELS.get(to_status, to_status).lower()}.",
        )
    begin_write()
    outcome = apply_move(
        order_id,
        from_status,
        to_status,
        actor_id=actor_id,
        note=note,
        tracking_number=tracking_number,
    )
    if outcome.applied:
        db.session.commit()
    return outcome


def apply_move(
    order_id: int,
    from_status: str,
    to_status: str,
    *,
    actor_id: int | None,
    note: str = "",
    tracking_number: str | None = None,
) -> Outcome:
    """The move inside the caller's write transaction (begin_write), for a
    change that must share it (a webhook's event row). A refused move rolls
    the transaction back; an applied one is left for the caller to commit."""
    if to_status not in MOVES.get(from_status, ()):
        db.session.rollback()
        return _lost(order_id, to_status)
    # The row locked first (PostgreSQL; SQLite's writer holds the database):
    # what was refunded before is then the figure the move refunds from.
    before = db.session.execute(
        sa.select(Order.number, Order.status, Order.total_cents, Order.refunded_cents)
        .where(Order.id == order_id)
        .with_for_update()
    ).one_or_none()
    values: dict = {"status": to_status, "updated_at": sa.func.now()}
    refunds_rest = to_status == REFUNDED or (
        to_status == CANCELLED and from_status != PENDING_PAYMENT
    )
    if refunds_rest:
        values["refunded_cents"] = Order.total_cents
    if to_status == SHIPPED and tracking_number:
        values["tracking_number"] = tracking_number
    changed = db.session.execute(
        sa.update(Order)
        .where(Order.id == order_id, Order.status == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if before is None or changed != 1:
        db.session.rollback()
        return _lost(order_id, to_status)
    notes = [note] if note else []
    if to_status == SHIPPED and tracking_number:
        notes.insert(0, f"Tracking number {tracking_number}.")
    if to_status == CANCELLED:
        _restock(order_id)
        notes.insert(0, "Stock returned.")
    if refunds_rest and before.total_cents > before.refunded_cents:
        notes.insert(
            0, f"Refunded {money(before.total_cents - before.refunded_cents)}."
        )
    _event(order_id, from_status, to_status, actor_id, " ".join(notes))
    # The shopper's email, in this transaction: sent once if the move holds.
    messages.order_moved(
        order_id,
        to_status,
        before.total_cents - before.refunded_cents if refunds_rest else 0,
    )
    return Outcome(True, f"Order {before.number} is now {LABELS[to_status].lower()}.")


def refund(
    order_id: int,
    amount_cents: int,
    *,
    actor_id: int | None,
    note: str = "",
    seen_refunded_cents: int | None = None,
) -> Outcome:
    """Refund `amount_cents` of a paid order; reaching the total moves it to
    `refunded`. One conditional UPDATE decides, so racing refunds cannot add
    up past the total. With `seen_refunded_cents` (a refund the provider
    already made, keyed by that figure) it applies only if nothing was
    refunded since, so one provider refund is recorded once. Commits."""
    if amount_cents <= 0:
        return Outcome(False, "Enter an amount to refund, like 12.50.")
    begin_write()
    seen = (
        Order.refunded_cents == seen_refunded_cents
        if seen_refunded_cents is not None
        else sa.true()
    )
    changed = db.session.execute(
        sa.update(Order)
        .where(
            Order.id == order_id,
            Order.status.in_(REFUNDABLE),
            Order.refunded_cents + amount_cents <= Order.total_cents,
            seen,
        )
        .values(
            refunded_cents=Order.refunded_cents + amount_cents,
            updated_at=sa.func.now(),
        )
        .returning(Order.number, Order.status, Order.refunded_cents, Order.total_cents)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if changed is None:
        db.session.rollback()
        return _refund_refused(order_id, amount_cents)
    number, status, refunded, total = changed
    text = f"Refunded {money(amount_cents)}." + (f" {note}" if note else "")
    _event(order_id, status, status, actor_id, text)
    if refunded == total:
        db.session.execute(
            sa.update(Order)
            .where(Order.id == order_id, Order.status == status)
            .values(status=REFUNDED, updated_at=sa.func.now())
            .execution_options(synchronize_session=False)
        )
        _event(order_id, status, REFUNDED, actor_id, "Refunded in full.")
    messages.order_refunded(order_id, amount_cents)
    db.session.commit()
    if refunded == total:
        return Outcome(
            True, f"Refunded {money(amount_cents)}: order {number} is refunded in full."
        )
    return Outcome(
        True,
        f"Refunded {money(amount_cents)} of order {number} "
        f"({money(total - refunded)} left to refund).",
    )


def expire(
    now: datetime,
    windows: dict[str, timedelta],
    release: Callable[[int], bool] | None = None,
) -> list[str]:
    """Cancel every unpaid order older than its payment method's window,
    returning their stock; the numbers of those cancelled. Each order is its
    own transaction: one paid meanwhile is left alone (its move wins).
    `release(order_id)` is asked first (it cancels a card payment at the
    provider); an order it answers False for waits for the next run."""
    cancelled = []
    for method, window in windows.items():
        due = db.session.execute(
            sa.select(Order.id, Order.number)
            .where(
                Order.status == PENDING_PAYMENT,
                Order.payment_method == method,
                Order.created_at < now - window,
            )
            .order_by(Order.created_at, Order.id)
        ).all()
        db.session.rollback()
        for order_id, number in due:
            if release is not None and not release(order_id):
                continue
            outcome = move(
                order_id,
                PENDING_PAYMENT,
                CANCELLED,
                actor_id=None,
                note=f"Not paid within {_duration(window)}.",
            )
            if outcome.applied:
                cancelled.append(number)
    return cancelled


def _restock(order_id: int) -> None:
    """The order's units back on the shelf, in the move's transaction.

    The items are locked in id order first (as checkout locks them), so a
    cancellation and a checkout of the same items queue instead of deadlocking.
    """
    lines = sa.select(UserItem.item_id).where(UserItem.order_id == order_id)
    lock_in_key_order(Item.id, lines)
    units = (
        sa.select(sa.func.sum(UserItem.quantity))
        .where(UserItem.order_id == order_id, UserItem.item_id == Item.id)
        .scalar_subquery()
    )
    db.session.execute(
        sa.update(Item)
        .where(Item.id.in_(lines))
        .values(stock=Item.stock + units, updated_at=sa.func.now())
        .execution_options(synchronize_session=False)
    )


def _event(
    order_id: int, from_status: str | None, to_status: str, actor_id, note: str
) -> None:
    db.session.add(
        OrderEvent(
            order_id=order_id,
            from_status=from_status,
            to_status=to_status,
            actor_id=actor_id,
            note=note,
        )
    )


def _lost(order_id: int, to_status: str) -> Outcome:
    current = db.session.execute(
        sa.select(Order.number, Order.status).where(Order.id == order_id)
    ).one_or_none()
    if current is None:
        return Outcome(False, "That order does not exist.")
    number, status = current
    if status == to_status:
        return Outcome(
            False,
            f"Order {number} was already {LABELS[status].lower()}: nothing changed.",
        )
    return Outcome(
        False,
        f"Order {number} changed while you were looking: it is now "
        f"{LABELS[status].lower()}. Nothing was changed; check it and try again.",
    )


def _refund_refused(order_id: int, amount_cents: int) -> Outcome:
    order = db.session.get(Order, order_id)
    if order is None:
        return Outcome(False, "That order does not exist.")
    if order.status not in REFUNDABLE:
        return Outcome(
            False,
            f"Order {order.number} is {LABELS[order.status].lower()}: only paid, "
            "shipped or delivered orders can be refunded.",
        )
    return Outcome(
        False,
        f"At most {money(order.refundable_cents)} of order {order.number} can be "
        f"refunded; {money(amount_cents)} is more. Nothing was refunded.",
    )


def _duration(window: timedelta) -> str:
    hours = int(window.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hours"
    return f"{int(window.total_seconds() // 60)} minutes"
